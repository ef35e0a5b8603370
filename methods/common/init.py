"""Weight initialisation shared by the models.

DCGAN (Radford et al. 2016) and SVG draw conv weights from N(0, 0.02); VGAN (Vondrick et al. 2016,
``cvondrick/videogan`` main.lua) uses N(0, 0.01). Both draw BatchNorm scales from N(1, 0.02) and
zero all biases. ``init_he_`` is He et al. (2015)'s kaiming-normal init, used by cpu profiles whose
default init shrinks the features of deep ReLU stacks.
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


@torch.no_grad()
def init_he_(module: nn.Module, negative_slope: float = 0.0, *,
             layers: tuple[type[nn.Module], ...] = _CONV + (nn.Linear,)) -> nn.Module:
    """He (kaiming-normal, fan-in) init in place for every submodule of the ``layers`` types: weights
    ~ N(0, 2 / ((1 + slope^2) fan_in)) for a (leaky) ReLU of ``negative_slope`` (0: ReLU), biases 0.

    >>> conv = init_he_(nn.Conv2d(64, 64, 3))  # ReLU: std sqrt(2 / fan_in), fan_in 64 * 3 * 3
    >>> bool((conv.bias == 0).all()), round(float(conv.weight.detach().std()) * (64 * 9) ** 0.5, 1)
    (True, 1.4)
    """
    for m in module.modules():
        if isinstance(m, layers):
            nn.init.kaiming_normal_(m.weight, a=negative_slope, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
