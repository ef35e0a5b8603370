"""Resizing frames between a dataset's resolution and a model's (CPU profiles that run a model at a
lower resolution than the data: downsample what goes in, upsample what comes out).

>>> import torch
>>> tuple(resize_frames(torch.zeros(2, 5, 3, 64, 64), (32, 32)).shape)
(2, 5, 3, 32, 32)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def resize_frames(frames: Tensor, size: tuple[int, int]) -> Tensor:
    """``(..., C, H, W)`` -> ``(..., C, *size)``: antialiased bilinear when shrinking, bilinear when
    enlarging, identity when the size already matches."""
    h, w = frames.shape[-2:]
    size = (int(size[0]), int(size[1]))
    if (h, w) == size:
        return frames
    lead = frames.shape[:-3]
    x = frames.reshape(-1, *frames.shape[-3:])
    shrink = size[0] < h or size[1] < w
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return y.view(*lead, *y.shape[-3:])
