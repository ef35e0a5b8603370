"""TGAN networks (Saito, Matsumoto & Saito 2017, "Temporal Generative Adversarial Nets with
Singular Value Clipping"; upstream ``pfnet-research/tgan``, Chainer, config
``configs/ucf101/ucf101_wgan_svd_zdim-100_no-beta.yml``). Plain ``nn.Module``s, no harness imports.

* :class:`TemporalGenerator` – ``z0 (N, z_dim)`` -> per-frame latents ``(N, z_dim, T)``: a 1D
  fractionally strided conv (kernel ``t0``, 1 upstream) to 512 channels, then 4x stride-2 ones
  512-256-128-128-``z_dim`` (BatchNorm without shift + ReLU; tanh output). 16 frames from 1.
* :class:`ImageGenerator` – ``(z0, z1_t)`` -> one frame: each latent through a linear layer to a
  ``256 x 4 x 4`` map (BatchNorm + ReLU), concatenated to ``512 x 4 x 4``, then 4x4 stride-2
  fractionally strided convs 512-256-128-64-32 (BatchNorm + ReLU) and a 3x3 conv to the channels
  (tanh). Every frame of a video shares ``z0``.
* The critic is :class:`methods.common.video3d.Conv3dEncoder` with TGAN's settings (widths
  64-128-256-512, scale-only BatchNorm, one linear output): see ``method.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.common.dcgan import spatial_levels
from methods.common.norm import ScaleBatchNorm1d
from methods.common.video3d import temporal_levels


class TemporalGenerator(nn.Module):
    """``z0 (N, z_dim)`` -> ``(N, z_fast_dim, frames)`` in [-1, 1]."""

    def __init__(self, z_dim: int = 100, z_fast_dim: int = 100, frames: int = 16, width: int = 512,
                 bn_eps: float = 2e-5) -> None:
        super().__init__()
        ups, t0 = temporal_levels(frames, 32)  # as many doublings as fit (4 for 16 frames), then t0
        if ups == 0:
            raise ValueError(f"TGAN's temporal generator needs an even frame count, got {frames}")
        widths = [max(width // 4, width >> i) for i in range(ups)]  # 512-256-128-128 upstream
        layers: list[nn.Module] = [nn.ConvTranspose1d(z_dim, widths[0], t0, 1, 0),
                                   ScaleBatchNorm1d(widths[0], eps=bn_eps), nn.ReLU(inplace=True)]
        for i in range(ups - 1):
            layers += [nn.ConvTranspose1d(widths[i], widths[i + 1], 4, 2, 1),
                       ScaleBatchNorm1d(widths[i + 1], eps=bn_eps), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose1d(widths[-1], z_fast_dim, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z0: Tensor) -> Tensor:
        return self.net(z0[:, :, None])


class ImageGenerator(nn.Module):
    """``z0 (M, z_dim)``, ``z1 (M, z_fast_dim)`` -> frames ``(M, C, H, W)`` in [-1, 1]."""

    def __init__(self, z_dim: int = 100, z_fast_dim: int = 100, channels: int = 3,
                 resolution: tuple[int, int] = (64, 64), width: int = 512, bn_eps: float = 2e-5) -> None:
        super().__init__()
        levels, (h0, w0) = spatial_levels(tuple(resolution))
        self.base = (width // 2, h0, w0)
        mid = width // 2 * h0 * w0
        self.slow = nn.Sequential(nn.Linear(z_dim, mid, bias=False), nn.BatchNorm1d(mid, eps=bn_eps),
                                  nn.ReLU(inplace=True))
        self.fast = nn.Sequential(nn.Linear(z_fast_dim, mid, bias=False), nn.BatchNorm1d(mid, eps=bn_eps),
                                  nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        c = width
        for _ in range(levels):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2, eps=bn_eps),
                       nn.ReLU(inplace=True)]
            c //= 2
        layers += [nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]  # upstream: a 3x3 stride-1 deconv == conv
        self.net = nn.Sequential(*layers)

    def forward(self, z0: Tensor, z1: Tensor) -> Tensor:
        n = len(z0)
        h = torch.cat([self.slow(z0).view(n, *self.base), self.fast(z1).view(n, *self.base)], dim=1)
        return self.net(h)


class TGANGenerator(nn.Module):
    """``z0 (N, z_dim)`` -> video ``(N, C, T, H, W)`` in [-1, 1]."""

    def __init__(self, z_dim: int, z_fast_dim: int, channels: int, frames: int, resolution: tuple[int, int],
                 t_width: int = 512, g_width: int = 512) -> None:
        super().__init__()
        self.temporal = TemporalGenerator(z_dim, z_fast_dim, frames, t_width)
        self.image = ImageGenerator(z_dim, z_fast_dim, channels, resolution, g_width)

    def forward(self, z0: Tensor) -> Tensor:
        z1 = self.temporal(z0)                                   # (N, z_fast, T)
        n, d, t = z1.shape
        frames = self.image(z0[:, None].expand(n, t, z0.shape[1]).reshape(n * t, -1),
                            z1.transpose(1, 2).reshape(n * t, d))  # (N*T, C, H, W)
        return frames.view(n, t, *frames.shape[1:]).transpose(1, 2)


@torch.no_grad()
def singular_value_clip_(critic: nn.Module) -> None:
    """TGAN's singular value clipping (upstream ``TGANUpdaterWGANSVC``), in place.

    Every conv weight (``ndim >= 4``) reshaped to ``(out, -1)`` gets its singular values clipped
    to at most 1; every BatchNorm scale ``gamma`` is clipped into ``[0.01 * std, std]`` where ``std``
    is the square root of its running variance.
    """
    for p in critic.parameters():
        if p.ndim >= 4:
            a = p.reshape(p.shape[0], -1)
            u, s, vh = torch.linalg.svd(a.float(), full_matrices=False)
            p.copy_(((u * s.clamp(max=1.0)) @ vh).reshape(p.shape).to(p.dtype))
    for m in critic.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine and m.running_var is not None:
            std = m.running_var.sqrt()
            m.weight.copy_(torch.maximum(torch.minimum(m.weight, std), 0.01 * std))
