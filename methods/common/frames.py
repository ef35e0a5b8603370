"""Frame resampling for models that run at a lower resolution than the data (CPU profiles).

``(B, T, C, H, W)`` in [0, 1]: :func:`pool_frames` averages ``s x s`` blocks; :func:`upsample_frames`
brings predictions back with bilinear interpolation (``align_corners=False``), clamped to [0, 1].

>>> import torch
>>> x = torch.rand(2, 3, 1, 8, 8)
>>> tuple(pool_frames(x, 2).shape), tuple(upsample_frames(pool_frames(x, 2), 2).shape)
((2, 3, 1, 4, 4), (2, 3, 1, 8, 8))
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pool_frames(x: Tensor, scale: int) -> Tensor:
    """Average-pool every frame of ``x (..., C, H, W)`` by ``scale`` (identity for 1)."""
    if scale == 1:
        return x
    lead = x.shape[:-3]
    y = F.avg_pool2d(x.reshape(-1, *x.shape[-3:]), scale)
    return y.view(*lead, *y.shape[-3:])


def upsample_frames(x: Tensor, scale: int) -> Tensor:
    """Bilinear ``scale``-fold upsampling of every frame of ``x (..., C, H, W)``, clamped to [0, 1]."""
    if scale == 1:
        return x
    lead = x.shape[:-3]
    y = F.interpolate(x.reshape(-1, *x.shape[-3:]), scale_factor=scale, mode="bilinear", align_corners=False)
    return y.clamp(0, 1).view(*lead, *y.shape[-3:])
