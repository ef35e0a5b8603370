"""DCGAN-style 2D conv encoder and decoder (Radford et al. 2016), sized from the frame resolution.

The 64x64 instance is the ``dcgan_64`` pair SVG (Denton & Fergus 2018, ``edenton/svg``) uses for
SM-MNIST: ``L = 4`` stride-2 4x4 convs of widths ``w, 2w, 4w, 8w`` (BatchNorm + LeakyReLU 0.2),
then a 4x4 valid conv to a ``dim``-vector (BatchNorm + tanh); the decoder mirrors it with
fractionally strided convs (BatchNorm + ReLU) and may concatenate the encoder's features of a
reference frame at each scale (SVG's skip connections). With ``skip=False`` and a tanh output the
decoder is the DCGAN generator that VGAN uses as its background stream.

Other sizes: ``L`` is the largest number of halvings that keeps both sides integer and at least 4
(32x32 -> 3 levels, 128x128 -> 5 levels); widths are capped at ``8w``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def spatial_levels(resolution: tuple[int, int], min_size: int = 4) -> tuple[int, tuple[int, int]]:
    """``(L, (h0, w0))``: how many stride-2 levels fit ``resolution`` and the smallest feature map.

    >>> spatial_levels((64, 64))
    (4, (4, 4))
    >>> spatial_levels((48, 64))
    (3, (6, 8))
    """
    h, w = resolution
    levels = 0
    while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= min_size:
        h, w, levels = h // 2, w // 2, levels + 1
    if levels == 0:
        raise ValueError(f"resolution {resolution} is too small or odd for a strided conv encoder "
                         f"(need both sides even and at least {2 * min_size})")
    return levels, (h, w)


def level_width(width: int, level: int, max_mult: int = 8) -> int:
    """Channels of the feature map at ``level`` (0 = finest): ``width * min(2**level, max_mult)``."""
    return width * min(2 ** level, max_mult)


def activation(name: str | None) -> nn.Module:
    """``"tanh" | "sigmoid" | "relu" | "lrelu" | None`` -> module."""
    table = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, None: nn.Identity,
             "lrelu": lambda: nn.LeakyReLU(0.2)}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(k for k in table if k)} or None")
    return table[name]()


class Conv2dEncoder(nn.Module):
    """Frame ``(N, C, H, W)`` -> vector ``(N, dim)`` and the per-scale features (for skips).

    Args:
        in_channels: image channels.
        dim: output vector size (SVG's ``g_dim``).
        resolution: ``(H, W)``.
        width: channels of the first level.
        first_bn: BatchNorm after the first conv (SVG: yes; a DCGAN discriminator: no).
        out_activation: applied to the output vector after its BatchNorm (``None``: no BatchNorm
            either, a linear code).

    >>> import torch
    >>> h, skips = Conv2dEncoder(3, 128, (64, 64), width=8)(torch.zeros(2, 3, 64, 64))
    >>> tuple(h.shape), [tuple(s.shape[1:]) for s in skips]
    ((2, 128), [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)])
    """

    def __init__(self, in_channels: int, dim: int, resolution: tuple[int, int], width: int = 64,
                 first_bn: bool = True, out_activation: str | None = "tanh") -> None:
        super().__init__()
        levels, base = spatial_levels(resolution)
        self.blocks = nn.ModuleList()
        c_in = in_channels
        for lvl in range(levels):
            c_out = level_width(width, lvl)
            use_bn = first_bn or lvl > 0
            self.blocks.append(nn.Sequential(
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not use_bn),
                nn.BatchNorm2d(c_out) if use_bn else nn.Identity(),
                nn.LeakyReLU(0.2, inplace=True),
            ))
            c_in = c_out
        has_out = out_activation is not None
        self.out = nn.Sequential(nn.Conv2d(c_in, dim, base, 1, 0, bias=not has_out),
                                 nn.BatchNorm2d(dim) if has_out else nn.Identity(),
                                 activation(out_activation))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips = []
        for block in self.blocks:
            x = block(x)
            skips.append(x)
        return self.out(x).flatten(1), skips


class Conv2dDecoder(nn.Module):
    """Vector ``(N, dim)`` -> frame ``(N, C, H, W)``, optionally fed encoder features as skips.

    Args:
        dim: input vector size (a latent ``z`` or SVG's ``g_dim``).
        out_channels: image channels.
        resolution: ``(H, W)``.
        width: channels of the finest level (the coarsest has ``8 * width``).
        skip: concatenate ``skips[level]`` (from :class:`Conv2dEncoder`) at every level.
        out_activation: ``"sigmoid"`` for [0, 1] frames, ``"tanh"`` for [-1, 1].
        norm: BatchNorm after every hidden layer (DCGAN, MoCoGAN); ``False``: none (NAVSLP's
            generator in ``abhishekaich27/Navsynth`` has no normalisation).
        out_bias: bias on the output conv (MoCoGAN's and NAVSLP's upstream generators have none).
        from_map: the input is the coarsest feature map ``(N, 8 * width, h0, w0)`` rather than a
            vector (VGAN's image-conditioned background stream); ``dim`` must equal ``8 * width``.

    >>> import torch
    >>> Conv2dDecoder(100, 3, (64, 64), width=8, out_activation="tanh")(torch.zeros(2, 100)).shape
    torch.Size([2, 3, 64, 64])
    """

    def __init__(self, dim: int, out_channels: int, resolution: tuple[int, int], width: int = 64,
                 skip: bool = False, out_activation: str | None = "sigmoid", from_map: bool = False,
                 norm: bool = True, out_bias: bool = True) -> None:
        super().__init__()
        levels, base = spatial_levels(resolution)

        def bn(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if norm else nn.Identity()

        self.skip, self.from_map = skip, from_map
        top = level_width(width, levels - 1)
        if from_map:  # the input already is the coarsest map (N, top, h0, w0): no projection layer
            if dim != top:
                raise ValueError(f"from_map=True needs dim == {top} (the coarsest width), got {dim}")
            self.first = nn.Identity()
        else:
            self.first = nn.Sequential(nn.ConvTranspose2d(dim, top, base, 1, 0, bias=False),
                                       bn(top), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList()
        mult = 2 if skip else 1
        for lvl in range(levels - 1, 0, -1):  # feature map at level lvl -> level lvl - 1
            c_in, c_out = level_width(width, lvl) * mult, level_width(width, lvl - 1)
            self.blocks.append(nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                                             bn(c_out), nn.ReLU(inplace=True)))
        self.out = nn.Sequential(nn.ConvTranspose2d(width * mult, out_channels, 4, 2, 1, bias=out_bias),
                                 activation(out_activation))

    def forward(self, h: Tensor, skips: list[Tensor] | None = None) -> Tensor:
        if self.skip and skips is None:
            raise ValueError("this decoder was built with skip=True: pass the encoder's skips")
        x = self.first(h if self.from_map else h[:, :, None, None])
        for i, block in enumerate(self.blocks):
            if self.skip:
                x = _cat_skip(x, skips[len(skips) - 1 - i])
            x = block(x)
        if self.skip:
            x = _cat_skip(x, skips[0])
        return self.out(x)



def _cat_skip(x: Tensor, skip: Tensor) -> Tensor:
    """Concatenate decoder features with encoder features along channels."""
    return torch.cat([x, skip], dim=1)
