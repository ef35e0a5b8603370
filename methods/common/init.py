"""Weight initialisation shared by the DCGAN-family models.

DCGAN (Radford et al. 2016) and SVG draw conv weights from N(0, 0.02); VGAN (Vondrick et al. 2016,
``cvondrick/videogan`` main.lua) uses N(0, 0.01). Both draw BatchNorm scales from N(1, 0.02) and
zero all biases.
"""

from __future__ import annotations

import torch
from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def init_normal_(module: nn.Module, std: float = 0.02, *, linear: bool = False,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Gaussian init in place: conv (and, if ``linear``, ``nn.Linear``) weights ~ N(0, ``std``),
    BatchNorm weights ~ N(1, 0.02), all their biases 0. Other layers keep PyTorch's defaults.

    >>> m = init_normal_(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), std=0.01)
    >>> bool((m[0].bias == 0).all())
    True
    """
    for m in module.modules():
        if isinstance(m, _CONV) or (linear and isinstance(m, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORM) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            if m.bias is not None:  # scale-only BatchNorm (methods.common.norm) has no shift
                nn.init.zeros_(m.bias)
    return module
