"""VGAN-style 3D conv networks (Vondrick, Pirsiavash & Torralba 2016 §2;
upstream ``cvondrick/videogan`` main.lua, Torch7).

* :class:`VideoTrunk3d` – the foreground pathway of the generator: a ``z`` vector through a
  fractionally strided 3D conv of kernel ``t0 x h0 x w0`` (2x4x4 for 32 frames of 64x64; 1x4x4 for
  16 frames) then 4x4x4 stride-2 ones, BatchNorm + ReLU after each; widths 512-256-128-64 for
  ``width=64``.
* :class:`OneStreamGenerator` – trunk + a 4x4x4 stride-2 tanh head (VGAN's one-stream model).
* :class:`TwoStreamGenerator` – ``G(z) = m * f + (1 - m) * b``: foreground ``f`` (tanh) and mask
  ``m`` (sigmoid) heads share the trunk; the background ``b`` is a DCGAN 2D generator replicated
  over time. With ``from_map=True`` both generators start from a coarsest-level 2D feature map
  ``(N, dim, h0, w0)`` instead of a vector (VGAN's image-conditioned generator).
* :class:`Conv3dEncoder` – the discriminator trunk: 4x4x4 stride-2 convs of widths 64-128-256-512,
  BatchNorm (eps 1e-3 as upstream) except on the first layer, LeakyReLU 0.2, and a last valid conv
  (``t0 x h0 x w0``) to ``out_dim`` outputs (2 logits in VGAN's D, a 100-d code in the AE baseline).

Sizes other than the paper's: the number of stride-2 levels ``L`` comes from the frame size (see
:func:`methods.common.dcgan.spatial_levels`); time is halved in the ``temporal_levels(T, L)``
coarsest levels only (all of them for 16 or 32 frames), the others use 3x4x4 kernels with
temporal stride 1, so any clip length works.

Internally videos are ``(N, C, T, H, W)``; outputs of the generators are in [-1, 1].
"""

from __future__ import annotations

from torch import Tensor, nn

from methods.common.dcgan import Conv2dDecoder, activation, level_width, spatial_levels
from methods.common.norm import ScaleBatchNorm3d


def to_ncthw(video: Tensor) -> Tensor:
    """Harness layout ``(N, T, C, H, W)`` -> conv3d layout ``(N, C, T, H, W)``."""
    return video.permute(0, 2, 1, 3, 4)


def to_ntchw(video: Tensor) -> Tensor:
    """Conv3d layout ``(N, C, T, H, W)`` -> harness layout ``(N, T, C, H, W)``."""
    return video.permute(0, 2, 1, 3, 4)


def temporal_levels(frames: int, levels: int) -> tuple[int, int]:
    """``(Lt, t0)``: how many of ``levels`` stride-2 layers also halve time, and the frames left.

    >>> temporal_levels(32, 4), temporal_levels(16, 4), temporal_levels(12, 4)
    ((4, 2), (4, 1), (2, 3))
    """
    lt, t = 0, frames
    while lt < levels and t % 2 == 0:
        t, lt = t // 2, lt + 1
    return lt, t


def _up3d(c_in: int, c_out: int, halve_time: bool, bias: bool) -> nn.ConvTranspose3d:
    if halve_time:
        return nn.ConvTranspose3d(c_in, c_out, 4, 2, 1, bias=bias)
    return nn.ConvTranspose3d(c_in, c_out, (3, 4, 4), (1, 2, 2), (1, 1, 1), bias=bias)


def _down3d(c_in: int, c_out: int, halve_time: bool, bias: bool) -> nn.Conv3d:
    if halve_time:
        return nn.Conv3d(c_in, c_out, 4, 2, 1, bias=bias)
    return nn.Conv3d(c_in, c_out, (3, 4, 4), (1, 2, 2), (1, 1, 1), bias=bias)


class VideoTrunk3d(nn.Module):
    """``z (N, dim)`` -> features ``(N, width, T/2, H/2, W/2)``: every generator layer but the last.

    Layer ``i`` (0 = the first stride-2 layer) halves time if ``i < Lt``; the last layer (a head,
    built by the user of the trunk) is layer ``L - 1``. Use :meth:`head` to build heads with the
    right kernel.
    """

    def __init__(self, dim: int, frames: int, resolution: tuple[int, int], width: int = 64,
                 from_map: bool = False) -> None:
        super().__init__()
        self.levels, (h0, w0) = spatial_levels(resolution)
        self.time_levels, t0 = temporal_levels(frames, self.levels)
        self.width, self.from_map = width, from_map
        top = level_width(width, self.levels - 1)
        # Convs followed by BatchNorm carry no bias: BN's shift makes it a dead parameter.
        # from_map: the input is a 2D feature map (N, dim, h0, w0) (VGAN's image-conditioned
        # generator, main_conditional.lua), lifted to time by a t0 x 1 x 1 fractionally strided conv.
        first = (nn.ConvTranspose3d(dim, top, (t0, 1, 1), 1, 0, bias=False) if from_map
                 else nn.ConvTranspose3d(dim, top, (t0, h0, w0), 1, 0, bias=False))
        layers: list[nn.Module] = [first, nn.BatchNorm3d(top), nn.ReLU(inplace=True)]
        for i, lvl in enumerate(range(self.levels - 1, 0, -1)):
            c_in, c_out = level_width(width, lvl), level_width(width, lvl - 1)
            layers += [_up3d(c_in, c_out, i < self.time_levels, bias=False), nn.BatchNorm3d(c_out),
                       nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)

    def head(self, out_channels: int) -> nn.ConvTranspose3d:
        """The last (output) layer: ``width -> out_channels``, with bias."""
        return _up3d(self.width, out_channels, self.levels - 1 < self.time_levels, bias=True)

    def forward(self, z: Tensor) -> Tensor:
        """``z``: ``(N, dim)``, or with ``from_map`` a feature map ``(N, dim, h0, w0)``."""
        return self.net(z[:, :, None] if self.from_map else z[:, :, None, None, None])


class OneStreamGenerator(nn.Module):
    """VGAN one-stream generator: ``z (N, dim)`` -> video ``(N, C, T, H, W)`` in [-1, 1]."""

    def __init__(self, dim: int = 100, channels: int = 3, frames: int = 32,
                 resolution: tuple[int, int] = (64, 64), width: int = 64, from_map: bool = False) -> None:
        super().__init__()
        self.trunk = VideoTrunk3d(dim, frames, resolution, width, from_map=from_map)
        self.video = nn.Sequential(self.trunk.head(channels), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.video(self.trunk(z))


class TwoStreamGenerator(nn.Module):
    """VGAN two-stream generator ``G(z) = m * f + (1 - m) * b`` (Vondrick et al. 2016 Eq. 2, Fig. 1).

    >>> import torch
    >>> g = TwoStreamGenerator(100, 3, frames=16, resolution=(64, 64), width=4)
    >>> video, (f, m, b) = g(torch.zeros(2, 100), return_streams=True)
    >>> tuple(video.shape), tuple(m.shape), tuple(b.shape)
    ((2, 3, 16, 64, 64), (2, 1, 16, 64, 64), (2, 3, 64, 64))
    """

    def __init__(self, dim: int = 100, channels: int = 3, frames: int = 32,
                 resolution: tuple[int, int] = (64, 64), width: int = 64, from_map: bool = False,
                 learned_background: bool = True) -> None:
        super().__init__()
        self.trunk = VideoTrunk3d(dim, frames, resolution, width, from_map=from_map)
        self.foreground = nn.Sequential(self.trunk.head(channels), nn.Tanh())
        self.mask = nn.Sequential(self.trunk.head(1), nn.Sigmoid())
        # learned_background=False: no background network; the caller passes the background image
        # (vgan_future's copy_background option: the input frame itself)
        self.background = (Conv2dDecoder(dim, channels, resolution, width, skip=False, out_activation="tanh",
                                         from_map=from_map) if learned_background else None)

    def forward(self, z: Tensor, return_streams: bool = False, background: Tensor | None = None
                ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """``background``: ``(N, C, H, W)`` (replicated over time) or ``(N, C, T, H, W)`` (one per frame) used
        instead of the learned one (required without it)."""
        h = self.trunk(z)
        f, m = self.foreground(h), self.mask(h)
        if background is None:
            if self.background is None:
                raise ValueError("TwoStreamGenerator(learned_background=False) needs a background image")
            background = self.background(z)
        b = background
        video = m * f + (1 - m) * (b[:, :, None] if b.dim() == 4 else b)  # a still background is replicated
        return (video, (f, m, b)) if return_streams else video


class Conv3dEncoder(nn.Module):
    """Video ``(N, C, T, H, W)`` -> ``(N, out_dim)``: VGAN's discriminator trunk with a new last layer.

    Args:
        in_channels: video channels.
        out_dim: outputs of the last valid conv (VGAN's D: 2 logits; the AE baseline: a 100-d code).
        frames, resolution: the input clip size.
        width: channels of the first layer (64 in VGAN; then 128, 256, 512).
        bn_eps: BatchNorm epsilon (1e-3 in the upstream Torch code).
        out_activation: applied to the output (None: linear).
        bn_shift: False for BatchNorm without the learned shift beta (TGAN's "no-beta" critic).

    >>> import torch
    >>> Conv3dEncoder(3, 100, frames=16, resolution=(64, 64), width=4)(torch.zeros(2, 3, 16, 64, 64)).shape
    torch.Size([2, 100])
    """

    def __init__(self, in_channels: int, out_dim: int, frames: int, resolution: tuple[int, int],
                 width: int = 64, bn_eps: float = 1e-3, out_activation: str | None = None,
                 bn_shift: bool = True) -> None:
        super().__init__()
        levels, (h0, w0) = spatial_levels(resolution)
        time_levels, t0 = temporal_levels(frames, levels)
        layers: list[nn.Module] = []
        c_in = in_channels
        for lvl in range(levels):  # mirror of the generator: the coarsest Lt levels halve time
            c_out = level_width(width, lvl)
            halve_time = lvl >= levels - time_levels
            if lvl == 0:  # no BatchNorm on the first layer (DCGAN/VGAN discriminator)
                layers += [_down3d(c_in, c_out, halve_time, bias=True), nn.LeakyReLU(0.2, inplace=True)]
            else:
                norm = nn.BatchNorm3d(c_out, eps=bn_eps) if bn_shift else ScaleBatchNorm3d(c_out, eps=bn_eps)
                layers += [_down3d(c_in, c_out, halve_time, bias=False), norm, nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        layers += [nn.Conv3d(c_in, out_dim, (t0, h0, w0), 1, 0), activation(out_activation)]
        self.net = nn.Sequential(*layers)

    def forward(self, video: Tensor) -> Tensor:
        return self.net(video).flatten(1)
