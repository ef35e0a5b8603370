"""MoCoGAN networks (Tulyakov, Liu, Yang & Kautz 2018, "MoCoGAN: Decomposing Motion and Content
for Video Generation", CVPR; official code ``sergeytulyakov/mocogan``, PyTorch, ``src/models.py``).

* :class:`VideoGenerator` – a video is a path in latent space: per frame
  ``z_t = [z_C, z_A, z_M(t)]`` with one content code ``z_C ~ N(0, I)`` and one one-hot action
  code ``z_A`` per video, and motion codes ``z_M(t)`` = the hidden states of ``GRUCell(d_M, d_M)``
  fed i.i.d. ``e_t ~ N(0, I)`` from ``h_0 ~ N(0, I)``; each ``z_t`` goes through a DCGAN image
  generator (4x4 fractionally strided convs 512-256-128-64, BatchNorm + ReLU, no biases, tanh).
* :class:`ImageDiscriminator` – ``PatchImageDiscriminator`` (default upstream): 4x4 stride-2 convs
  64-128-256 (BatchNorm after all but the first, LeakyReLU 0.2, no biases) and a last stride-2 conv
  to one logit per 4x4 patch; ``full=True`` gives the DCGAN ``ImageDiscriminator`` (4 stride-2
  convs to 512 and a 4x4 valid conv to one logit).
* :class:`VideoDiscriminator` – ``CategoricalVideoDiscriminator``: 3D convs with 4x4x4 kernels,
  stride (1, 2, 2) and no temporal padding (time shrinks by 3 per layer: 16 -> 13 -> 10 -> 7 -> 4),
  widths 64-128-256-512, and a 4x4x4 valid conv to ``1 + d_A`` outputs (real/fake logit and the
  action logits).
* Instance noise: Gaussian noise of std ``sigma`` added before every conv of the patch image
  discriminator (four, as upstream's ``PatchImageDiscriminator``) and before every conv but the last
  of the video (and full-image) discriminator (upstream ``Noise`` layers); here drawn from the
  caller's ``torch.Generator``.

Sizes other than 64x64x16: the number of stride-2 levels comes from the frame size (see
:func:`methods.common.dcgan.spatial_levels`); the video discriminator's last temporal kernel is
``T - 3L`` (4 for 16 frames), so clips need ``T > 3L``.

Frames inside these modules are in [-1, 1]; videos are ``(N, T, C, H, W)`` (the harness layout)
at the boundaries and ``(N, C, T, H, W)`` inside the video discriminator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.common import Conv2dDecoder, GRUSequence, spatial_levels, to_ncthw
from methods.common.dcgan import level_width


class VideoGenerator(nn.Module):
    """``(z_C, z_A, e, h_0)`` -> video ``(N, T, C, H, W)`` in [-1, 1]."""

    def __init__(self, channels: int, resolution: tuple[int, int], dim_content: int, dim_motion: int,
                 dim_category: int = 0, width: int = 64) -> None:
        super().__init__()
        self.dim_content, self.dim_motion, self.dim_category = dim_content, dim_motion, dim_category
        self.recurrent = GRUSequence(dim_motion, dim_motion)          # hidden states are z_M(t)
        self.image = Conv2dDecoder(dim_content + dim_category + dim_motion, channels, tuple(resolution), width,
                                   out_activation="tanh", out_bias=False)

    def sample_latents(self, num: int, frames: int, generator: torch.Generator | None = None,
                       categories: Tensor | None = None) -> dict[str, Tensor]:
        """Draw ``z_C (N, d_C)``, ``h0 (N, d_M)``, ``e (N, T, d_M)`` and categories ``(N,)``."""
        dev = self.image.out[0].weight.device
        kw = {"generator": generator, "device": dev}
        z_c = torch.randn(num, self.dim_content, **kw)
        h0 = torch.randn(num, self.dim_motion, **kw)
        eps = torch.randn(num, frames, self.dim_motion, **kw)
        if categories is None:
            categories = (torch.randint(self.dim_category, (num,), **kw) if self.dim_category
                          else torch.zeros(num, dtype=torch.long, device=dev))
        return {"z_content": z_c, "h0": h0, "eps": eps, "categories": categories.to(dev)}

    def motion(self, eps: Tensor, h0: Tensor) -> Tensor:
        """Motion codes ``z_M (N, T, d_M)``."""
        return self.recurrent(eps, h0)

    def codes(self, z_content: Tensor, h0: Tensor, eps: Tensor, categories: Tensor) -> Tensor:
        """Per-frame codes ``(N, T, d_C + d_A + d_M)``."""
        n, t = eps.shape[:2]
        parts = [z_content[:, None].expand(n, t, -1)]
        if self.dim_category:
            one_hot = nn.functional.one_hot(categories, self.dim_category).to(z_content.dtype)
            parts.append(one_hot[:, None].expand(n, t, -1))
        parts.append(self.motion(eps, h0))
        return torch.cat(parts, dim=2)

    def render(self, codes: Tensor) -> Tensor:
        """Codes ``(N, T, D)`` -> frames ``(N, T, C, H, W)`` through the image generator."""
        n, t = codes.shape[:2]
        frames = self.image(codes.reshape(n * t, -1))
        return frames.reshape(n, t, *frames.shape[1:])

    def forward(self, z_content: Tensor, h0: Tensor, eps: Tensor, categories: Tensor) -> Tensor:
        return self.render(self.codes(z_content, h0, eps, categories))


def _add_noise(x: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
    if sigma <= 0:
        return x
    return x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class _NoisyStack(nn.Module):
    """Blocks with instance noise before each one but the last (upstream ``Noise`` layers); with
    ``noise_before_last`` before the last one too (upstream's patch image discriminator has four)."""

    def __init__(self, blocks: list[nn.Module], noise_before_last: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.noisy_blocks = len(blocks) if noise_before_last else len(blocks) - 1

    def forward(self, x: Tensor, noise_sigma: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        for i, block in enumerate(self.blocks):
            if i < self.noisy_blocks:
                x = _add_noise(x, noise_sigma, generator)
            x = block(x)
        return x


def _down2d(c_in: int, c_out: int, bn: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(c_out) if bn else nn.Identity(), nn.LeakyReLU(0.2, inplace=True))


class ImageDiscriminator(_NoisyStack):
    """Frames ``(N, C, H, W)`` in [-1, 1] -> logits ``(N, P)`` (``P`` patches; 1 if ``full``)."""

    def __init__(self, channels: int, resolution: tuple[int, int], width: int = 64, full: bool = False) -> None:
        levels, base = spatial_levels(tuple(resolution))
        trunk = levels if full else levels - 1
        blocks: list[nn.Module] = []
        c_in = channels
        for lvl in range(trunk):
            c_out = level_width(width, lvl)
            blocks.append(_down2d(c_in, c_out, bn=lvl > 0))
            c_in = c_out
        blocks.append(nn.Conv2d(c_in, 1, base, 1, 0, bias=False) if full else nn.Conv2d(c_in, 1, 4, 2, 1, bias=False))
        # upstream PatchImageDiscriminator: Noise before all four convs; ImageDiscriminator: not before the last
        super().__init__(blocks, noise_before_last=not full)

    def forward(self, x: Tensor, noise_sigma: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        return super().forward(x, noise_sigma, generator).flatten(1)


class VideoDiscriminator(_NoisyStack):
    """Videos ``(N, T, C, H, W)`` in [-1, 1] -> ``(logit (N,), category logits (N, d_A))``."""

    def __init__(self, channels: int, frames: int, resolution: tuple[int, int], width: int = 64,
                 dim_category: int = 0) -> None:
        levels, (h0, w0) = spatial_levels(tuple(resolution))
        t_left = frames - 3 * levels
        if t_left < 1:
            raise ValueError(f"the MoCoGAN video discriminator needs clips of more than {3 * levels} frames "
                             f"at {resolution[0]}x{resolution[1]} (each 4x4x4 layer removes 3), got {frames}")
        self.dim_category = dim_category
        blocks: list[nn.Module] = []
        c_in = channels
        for lvl in range(levels):
            c_out = level_width(width, lvl)
            blocks.append(nn.Sequential(nn.Conv3d(c_in, c_out, 4, (1, 2, 2), (0, 1, 1), bias=False),
                                        nn.BatchNorm3d(c_out) if lvl > 0 else nn.Identity(),
                                        nn.LeakyReLU(0.2, inplace=True)))
            c_in = c_out
        blocks.append(nn.Conv3d(c_in, 1 + dim_category, (t_left, h0, w0), 1, 0, bias=False))
        super().__init__(blocks)

    def forward(self, video: Tensor, noise_sigma: float = 0.0,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        h = super().forward(to_ncthw(video), noise_sigma, generator).flatten(1)
        return h[:, 0], h[:, 1:]
