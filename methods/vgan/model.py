"""VGAN networks (Vondrick, Pirsiavash & Torralba 2016 §2 and §3.4; upstream
``cvondrick/videogan`` ``main.lua`` and ``main_conditional.lua``, Torch7). Plain ``nn.Module``s,
no harness imports; videos are ``(N, C, T, H, W)`` in [-1, 1].

The generator trunks and the discriminator are the shared blocks of :mod:`methods.common.video3d`
(so the AE+GMM baseline and VGAN stay one architecture); this module only adds what is VGAN's own:
the image encoder of the future generator and the wiring of the three models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.common import Conv3dEncoder, OneStreamGenerator, TwoStreamGenerator
from methods.common.dcgan import level_width, spatial_levels
from methods.common.warp import VelocityNet, carry_forward


def build_generator(z_dim: int, channels: int, frames: int, resolution: tuple[int, int], width: int,
                    two_stream: bool, from_map: bool = False) -> nn.Module:
    """Two-stream ``m * f + (1 - m) * b`` (Vondrick et al. 2016 Eq. 2) or the one-stream 3D generator."""
    cls = TwoStreamGenerator if two_stream else OneStreamGenerator
    return cls(z_dim, channels, frames, tuple(resolution), width, from_map=from_map)


def build_discriminator(channels: int, frames: int, resolution: tuple[int, int], width: int,
                        bn_eps: float = 1e-3) -> Conv3dEncoder:
    """The 5-layer 3D discriminator: 4x4x4 stride-2 convs (BatchNorm except the first, LeakyReLU
    0.2) and a last valid conv to 2 logits (real / fake), as upstream's CrossEntropyCriterion."""
    return Conv3dEncoder(channels, 2, frames, tuple(resolution), width, bn_eps=bn_eps)


class ImageEncoder(nn.Module):
    """Frame ``(N, C, H, W)`` -> coarsest map ``(N, 8 * width, h0, w0)`` (``main_conditional.lua``).

    Stride-2 4x4 convs of widths ``width, 2w, 4w, 8w`` (128-256-512-1024 upstream), ReLU,
    BatchNorm (eps 1e-3) after all but the first. The paper calls it "a five-layer convolutional
    network"; upstream has four convs and lets the generator's first (2x1x1) layer act as the fifth.
    """

    def __init__(self, channels: int, resolution: tuple[int, int], width: int, bn_eps: float = 1e-3) -> None:
        super().__init__()
        levels, _ = spatial_levels(tuple(resolution))
        layers: list[nn.Module] = []
        c_in = channels
        for lvl in range(levels):
            c_out = level_width(width, lvl)
            if lvl == 0:
                layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ReLU(inplace=True)]
            else:
                layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out, eps=bn_eps),
                           nn.ReLU(inplace=True)]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        self.out_channels = c_in

    def forward(self, frame: Tensor) -> Tensor:
        return self.net(frame)


class FutureGenerator(nn.Module):
    """VGAN's image-conditioned generator: ``x0 (N, C, H, W)`` -> video ``(N, C, T, H, W)``.

    :class:`ImageEncoder` then the two-stream generator started from the encoder's map
    (``from_map=True``: the foreground trunk lifts the map to time with a ``t0 x 1 x 1`` layer, the
    background decodes the map directly). No noise: as upstream, the future is a function of x0.

    ``copy_background`` (not the paper's; ``vgan_future``'s cpu profile): the background stream is the
    input frame itself (``m * f + (1 - m) * x0``: a closed mask copies x0), no background network.
    ``velocity`` (not the paper's; with ``copy_background``): that frame carried ``t = 0 .. T - 1`` steps
    along the constant-velocity field the net reads off ``(x_-1, x0)``, the frame before x0 and x0, so
    what a closed mask copies moves (:meth:`background_of`).

    >>> import torch
    >>> g = FutureGenerator(3, 16, (32, 32), 4, copy_background=True)
    >>> tuple(g(torch.zeros(2, 3, 32, 32)).shape)
    (2, 3, 16, 32, 32)
    """

    def __init__(self, channels: int, frames: int, resolution: tuple[int, int], width: int,
                 two_stream: bool = True, copy_background: bool = False, velocity: VelocityNet | None = None,
                 velocity_pool: int = 1) -> None:
        super().__init__()
        if copy_background and not two_stream:
            raise ValueError("copy_background needs the two-stream generator")
        if velocity is not None and not copy_background:
            raise ValueError("a velocity net needs copy_background (it moves the copied input frame)")
        self.copy_background = copy_background
        self.frames = frames
        self.velocity_pool = velocity_pool
        self.encoder = ImageEncoder(channels, resolution, width)
        if two_stream:
            self.generator = TwoStreamGenerator(self.encoder.out_channels, channels, frames, tuple(resolution), width,
                                                from_map=True, learned_background=not copy_background)
        else:
            self.generator = build_generator(self.encoder.out_channels, channels, frames, resolution, width,
                                             two_stream, from_map=True)
        # registered last: the paper's modules draw their initial weights as they did without it
        self.velocity = velocity

    def background_of(self, frame: Tensor, previous: Tensor | None = None) -> Tensor:
        """What a closed mask copies (``copy_background``): ``frame (N, C, H, W)`` itself, or with a velocity
        net ``(N, C, T, H, W)``, ``frame`` carried ``t = 0 .. T - 1`` steps along the field of ``(previous,
        frame)`` (both in [-1, 1]; ``previous=None`` reads a still pair: no motion to see)."""
        if self.velocity is None:
            return frame
        pair = torch.stack([frame if previous is None else previous, frame], 1).add(1).div(2)
        field = self.velocity.smoothed_field(pair, self.velocity_pool)     # (N, 2, H, W), [0, 1] frames in
        moved = carry_forward(pair[:, 1], field, self.frames, first=0)      # (N, T, C, H, W); t = 0 is frame
        return moved.mul(2).sub(1).transpose(1, 2)

    def forward(self, frame: Tensor, return_streams: bool = False, previous: Tensor | None = None):
        """``frame (N, C, H, W)`` in [-1, 1] -> ``(N, C, T, H, W)``; ``previous``: the frame before it (read by
        the velocity net only)."""
        h = self.encoder(frame)
        if return_streams and not isinstance(self.generator, TwoStreamGenerator):
            raise ValueError("return_streams needs the two-stream generator")
        if self.copy_background:
            return self.generator(h, return_streams=return_streams, background=self.background_of(frame, previous))
        if return_streams:
            return self.generator(h, return_streams=True)
        return self.generator(h)
