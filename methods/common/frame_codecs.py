"""Per-frame conv encoders and decoders of the SVG family (DCGAN and VGG, 64x64 and 128x128).

SVG (Denton & Fergus 2018, ``edenton/svg`` ``models/{dcgan,vgg}_{64,128}.py``), DRNet (Denton &
Birodkar 2017, ``edenton/drnet-py`` ``models/{dcgan,dcgan_unet,vgg_unet}_{64,128}.py``) and P2P
(Wang et al. 2019, ``yccyenchicheng/p2pvg``, which reuses SVG's files) share these networks:

* :class:`DCGANFrameEncoder`: ``L`` stride-2 4x4 convs (BatchNorm + LeakyReLU 0.2) of widths
  ``w * min(2**l, 8)`` down to a 4x4 map, then a 4x4 valid conv to a ``dim``-vector with BatchNorm
  and tanh. 64x64 -> ``L = 4`` (64-128-256-512), 128x128 -> ``L = 5`` (64-128-256-512-512).
  Every conv keeps its bias (upstream does, BatchNorm follows anyway): parameter counts match.
* :class:`DCGANFrameDecoder`: a 4x4 transposed conv from the vector (BatchNorm + LeakyReLU), then
  stride-2 transposed convs (BatchNorm + LeakyReLU 0.2) back up, each optionally fed the encoder's
  features of a reference frame concatenated on channels (``skip``: SVG's skip connections,
  DRNet's U-Net content path); a sigmoid output.
* :class:`VGGFrameEncoder` / :class:`VGGFrameDecoder`: VGG16-style stages of 3x3 convs (2, 2, 3, 3,
  3 layers) with 2x2 max pooling between stages, and the mirror with nearest 2x upsampling.

Both encoders return ``(vector, skips)`` with one feature map per stage (finest first); both
decoders take ``(vector, skips)``. ``width`` scales every layer (64 = upstream); other frame sizes
work where both sides halve down to 4 (32x32 -> 3 stages).

BatchNorm statistics per frame: upstream calls the networks once per time step, so in training
each BatchNorm normalises over the ``B`` clips of one time step. Here a whole sequence goes
through in one call, laid out time-major as ``(T * B, C, H, W)``, and ``groups=T`` keeps those
statistics per time step (:class:`FrameBatchNorm2d`): the outputs equal ``T`` separate calls.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.dcgan import spatial_levels

Skips = list[Tensor]


class FrameBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that can normalise ``groups`` contiguous chunks of the batch separately.

    ``forward(x, groups)`` with ``x`` ``(G * B, C, H, W)`` in training mode equals calling the
    layer on each ``x[g*B:(g+1)*B]`` in turn and concatenating, running statistics included (they
    are updated once per chunk, in chunk order). In eval mode (or ``groups == 1``) it is plain
    BatchNorm.

    >>> bn = FrameBatchNorm2d(3)
    >>> x = torch.randn(4 * 2, 3, 5, 5)
    >>> ref = torch.cat([nn.BatchNorm2d(3)(c) for c in x.split(2)])
    >>> bool(torch.allclose(bn(x, groups=4), ref, atol=1e-6))
    True
    >>> with torch.no_grad():  # in place without autograd: the same numbers and running statistics
    ...     a, b = FrameBatchNorm2d(3), FrameBatchNorm2d(3)
    ...     y = a(x)
    ...     same = torch.equal(b(x.clone(), overwrite=True), y)
    >>> same, torch.equal(a.running_var, b.running_var), int(b.num_batches_tracked)
    (True, True, 1)
    """

    def forward(self, x: Tensor, groups: int = 1, overwrite: bool = False) -> Tensor:  # type: ignore[override]
        """``overwrite=True`` lets a training-mode call without autograd (``torch.no_grad``) normalise
        ``x`` in place (a fresh conv output nobody else reads): the same kernel and numbers, one
        feature map fewer to allocate."""
        if (overwrite and groups == 1 and self.training and not torch.is_grad_enabled() and x.is_contiguous()
                and self.track_running_stats and self.momentum is not None and self.affine):
            self.num_batches_tracked.add_(1)
            stats = torch.empty(2, x.shape[1], dtype=x.dtype, device=x.device)
            return torch.ops.aten.native_batch_norm.out(x, self.weight, self.bias, self.running_mean,
                                                        self.running_var, True, self.momentum, self.eps,
                                                        out=x, save_mean=stats[0], save_invstd=stats[1])[0]
        if groups == 1 or not self.training:
            return super().forward(x)
        n, c = x.shape[:2]
        if n % groups:
            raise ValueError(f"FrameBatchNorm2d: batch {n} is not a multiple of {groups} groups")
        b, rest = n // groups, x.shape[2:]
        # (G*B, C, ...) -> (B, G*C, ...): one fused batch_norm with per-(group, channel) statistics.
        xg = x.reshape(groups, b, c, *rest).transpose(0, 1).reshape(b, groups * c, *rest)
        weight = self.weight.repeat(groups) if self.weight is not None else None
        bias = self.bias.repeat(groups) if self.bias is not None else None
        y = F.batch_norm(xg, None, None, weight, bias, True, 0.0, self.eps)
        if self.track_running_stats:
            self._update_running_stats(x.detach().reshape(groups, b, c, -1), groups)
        return y.reshape(b, groups, c, *rest).transpose(0, 1).reshape(n, c, *rest)

    @torch.no_grad()
    def _update_running_stats(self, xg: Tensor, groups: int) -> None:
        if self.momentum is None:
            raise NotImplementedError("FrameBatchNorm2d: momentum=None (cumulative average) is not supported")
        var, mean = torch.var_mean(xg, dim=(1, 3), unbiased=True)  # (G, C) each
        m = self.momentum
        # Sequential EMA over the groups in closed form: r_G = (1-m)^G r_0 + sum_g m (1-m)^(G-1-g) s_g.
        w = m * (1 - m) ** torch.arange(groups - 1, -1, -1, dtype=var.dtype, device=var.device)
        keep = (1 - m) ** groups
        self.running_mean.mul_(keep).add_((w[:, None] * mean).sum(0))
        self.running_var.mul_(keep).add_((w[:, None] * var).sum(0))
        self.num_batches_tracked.add_(groups)


class Grouped(nn.Module):
    """Marker base: a module whose ``forward`` takes ``(x, groups)`` (see :class:`FrameBatchNorm2d`)."""


class ConvNormAct(Grouped):
    """``conv -> FrameBatchNorm2d -> LeakyReLU(0.2)``: upstream's ``dcgan_conv`` / ``dcgan_upconv`` /
    ``vgg_layer`` (conv bias kept, as upstream)."""

    def __init__(self, conv: nn.Module, channels: int) -> None:
        super().__init__()
        self.conv = conv
        self.norm = FrameBatchNorm2d(channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:
        return self.act(self.norm(self.conv(x), groups, overwrite=True))


class ConvStack(Grouped):
    """Layers in a row, passing ``groups`` to those that take it."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:
        for layer in self.layers:
            x = layer(x, groups) if isinstance(layer, (Grouped, FrameBatchNorm2d)) else layer(x)
        return x


def stage_widths(width: int, levels: int) -> list[int]:
    """Channels of each encoder stage, finest first: ``width * min(2**l, 8)``.

    >>> stage_widths(64, 5)
    [64, 128, 256, 512, 512]
    """
    return [width * min(2 ** lvl, 8) for lvl in range(levels)]


def _vector_head(c_in: int, dim: int, base: tuple[int, int]) -> ConvStack:
    """The valid conv from the coarsest map to the frame vector, BatchNorm + tanh (all encoders)."""
    return ConvStack(nn.Conv2d(c_in, dim, base, 1, 0), FrameBatchNorm2d(dim), nn.Tanh())


class FrameEncoder(nn.Module):
    """Base of the two encoders: ``forward(x (N, C, H, W), groups=1) -> (h (N, dim), skips)``."""

    dim: int
    widths: list[int]

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Skips]:  # pragma: no cover - abstract
        raise NotImplementedError

    def peak_elements(self, resolution: Sequence[int]) -> int:
        """Elements of the largest feature map (this encoder or its mirrored decoder, whose first
        skip concatenation doubles the channels of the finest map) for one frame."""
        h, w = resolution
        finest = self.widths[0] * h * w
        return 2 * (finest if isinstance(self, VGGFrameEncoder) else finest // 4)


class DCGANFrameEncoder(FrameEncoder):
    """SVG's ``dcgan_64`` / ``dcgan_128`` encoder (also DRNet's content and pose encoders).

    >>> enc = DCGANFrameEncoder(1, 128, (64, 64), width=8)
    >>> h, skips = enc(torch.zeros(2, 1, 64, 64))
    >>> tuple(h.shape), [tuple(s.shape[1:]) for s in skips]
    ((2, 128), [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)])
    """

    def __init__(self, in_channels: int, dim: int, resolution: Sequence[int], width: int = 64) -> None:
        super().__init__()
        levels, base = spatial_levels(tuple(resolution))
        self.dim, self.widths = dim, stage_widths(width, levels)
        c_in = in_channels
        self.stages = nn.ModuleList()
        for c_out in self.widths:
            self.stages.append(ConvStack(ConvNormAct(nn.Conv2d(c_in, c_out, 4, 2, 1), c_out)))
            c_in = c_out
        self.head = _vector_head(c_in, dim, base)

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Skips]:
        skips = []
        for stage in self.stages:
            x = stage(x, groups)
            skips.append(x)
        return self.head(x, groups).flatten(1), skips


def _vgg_depths(levels: int) -> list[int]:
    """3x3 conv layers per VGG stage, finest first (VGG16: 2, 2, 3, 3, 3)."""
    return [2 if lvl < 2 else 3 for lvl in range(levels)]


class VGGFrameEncoder(FrameEncoder):
    """SVG's ``vgg_64`` / ``vgg_128`` encoder (DRNet's ``vgg_unet`` content encoder).

    >>> enc = VGGFrameEncoder(3, 64, (64, 64), width=4)
    >>> h, skips = enc(torch.zeros(2, 3, 64, 64))
    >>> tuple(h.shape), [tuple(s.shape[1:]) for s in skips]
    ((2, 64), [(4, 64, 64), (8, 32, 32), (16, 16, 16), (32, 8, 8)])
    """

    def __init__(self, in_channels: int, dim: int, resolution: Sequence[int], width: int = 64) -> None:
        super().__init__()
        levels, base = spatial_levels(tuple(resolution))
        self.dim, self.widths = dim, stage_widths(width, levels)
        c_in = in_channels
        self.stages = nn.ModuleList()
        for c_out, depth in zip(self.widths, _vgg_depths(levels)):
            layers = []
            for _ in range(depth):
                layers.append(ConvNormAct(nn.Conv2d(c_in, c_out, 3, 1, 1), c_out))
                c_in = c_out
            self.stages.append(ConvStack(*layers))
        self.head = _vector_head(c_in, dim, base)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: Tensor, groups: int = 1) -> tuple[Tensor, Skips]:
        skips = []
        for i, stage in enumerate(self.stages):
            x = stage(x if i == 0 else self.pool(x), groups)
            skips.append(x)
        return self.head(self.pool(x), groups).flatten(1), skips


class FrameDecoder(nn.Module):
    """Base of the two decoders: ``forward(h (N, dim), skips=None, groups=1) -> (N, C, H, W)`` in
    [0, 1]. With ``skip=True`` the decoder needs the encoder's ``skips`` (same batch layout as ``h``)."""

    skip: bool

    def _check(self, skips: Skips | None) -> None:
        if self.skip and skips is None:
            raise ValueError(f"{type(self).__name__} was built with skip=True: pass the encoder's skips")

    @staticmethod
    def _join(x: Tensor, skips: Skips | None, level: int, use: bool) -> Tensor:
        return torch.cat([x, skips[level]], dim=1) if use else x


class DCGANFrameDecoder(FrameDecoder):
    """SVG's ``dcgan_64`` / ``dcgan_128`` decoder; DRNet's ``dcgan_unet`` (``skip=True``) and plain
    ``dcgan`` (``skip=False``) decoders, whose input is ``[content, pose]``.

    >>> dec = DCGANFrameDecoder(128, 1, (64, 64), width=8)
    >>> enc = DCGANFrameEncoder(1, 128, (64, 64), width=8)
    >>> h, skips = enc(torch.zeros(2, 1, 64, 64))
    >>> tuple(dec(h, skips).shape)
    (2, 1, 64, 64)
    """

    def __init__(self, dim: int, out_channels: int, resolution: Sequence[int], width: int = 64,
                 skip: bool = True) -> None:
        super().__init__()
        levels, base = spatial_levels(tuple(resolution))
        widths = stage_widths(width, levels)
        self.dim, self.skip, self.levels = dim, skip, levels
        mult = 2 if skip else 1
        self.first = ConvStack(ConvNormAct(nn.ConvTranspose2d(dim, widths[-1], base, 1, 0), widths[-1]))
        self.stages = nn.ModuleList()
        for lvl in range(levels - 1, 0, -1):  # map at level lvl -> level lvl - 1 (twice the size)
            self.stages.append(ConvStack(ConvNormAct(
                nn.ConvTranspose2d(widths[lvl] * mult, widths[lvl - 1], 4, 2, 1), widths[lvl - 1])))
        self.out = nn.Sequential(nn.ConvTranspose2d(widths[0] * mult, out_channels, 4, 2, 1), nn.Sigmoid())

    def forward(self, h: Tensor, skips: Skips | None = None, groups: int = 1) -> Tensor:
        self._check(skips)
        x = self.first(h.reshape(h.shape[0], self.dim, 1, 1), groups)
        for i, stage in enumerate(self.stages):
            x = stage(self._join(x, skips, self.levels - 1 - i, self.skip), groups)
        return self.out(self._join(x, skips, 0, self.skip))


class VGGFrameDecoder(FrameDecoder):
    """SVG's ``vgg_64`` / ``vgg_128`` decoder (DRNet's ``vgg_unet`` decoder): per stage, nearest 2x
    upsampling, concatenation of the skip, then the encoder stage's convs mirrored (the last one
    narrowing to the next stage's width); a 3x3 transposed conv + sigmoid at full size.

    >>> dec = VGGFrameDecoder(64, 3, (64, 64), width=4)
    >>> h, skips = VGGFrameEncoder(3, 64, (64, 64), width=4)(torch.zeros(2, 3, 64, 64))
    >>> tuple(dec(h, skips).shape)
    (2, 3, 64, 64)
    """

    def __init__(self, dim: int, out_channels: int, resolution: Sequence[int], width: int = 64,
                 skip: bool = True) -> None:
        super().__init__()
        levels, base = spatial_levels(tuple(resolution))
        widths, depths = stage_widths(width, levels), _vgg_depths(levels)
        self.dim, self.skip, self.levels = dim, skip, levels
        mult = 2 if skip else 1
        self.first = ConvStack(ConvNormAct(nn.ConvTranspose2d(dim, widths[-1], base, 1, 0), widths[-1]))
        self.stages = nn.ModuleList()
        for lvl in range(levels - 1, -1, -1):
            w = widths[lvl]
            layers, c_in = [], w * mult
            n = depths[lvl] if lvl > 0 else depths[lvl] - 1  # the finest stage ends in the output conv
            for k in range(n):
                c_out = widths[lvl - 1] if (lvl > 0 and k == n - 1) else w
                layers.append(ConvNormAct(nn.Conv2d(c_in, c_out, 3, 1, 1), c_out))
                c_in = c_out
            if lvl == 0:
                layers += [nn.ConvTranspose2d(w, out_channels, 3, 1, 1), nn.Sigmoid()]
            self.stages.append(ConvStack(*layers))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, h: Tensor, skips: Skips | None = None, groups: int = 1) -> Tensor:
        self._check(skips)
        x = self.first(h.reshape(h.shape[0], self.dim, 1, 1), groups)
        for i, stage in enumerate(self.stages):
            x = stage(self._join(self.up(x), skips, self.levels - 1 - i, self.skip), groups)
        return x


# glibc's malloc serves blocks above its mmap threshold (which adapts up to 32 MiB on 64-bit
# systems) with fresh mmaps, unmapped again on free: each such tensor costs the kernel a zero-filled
# page per 4 KiB on every training step. Network calls whose feature maps stay below it reuse freed
# heap memory instead.
CALL_BYTES = 32 * 2 ** 20


def frames_per_call(encoder: FrameEncoder, resolution: Sequence[int], batch: int, frames: int,
                    itemsize: int = 4, budget: int | None = None) -> int:
    """How many time steps of a ``batch`` of clips one encoder / decoder call takes so that its
    largest feature map stays within ``budget`` bytes (default :data:`CALL_BYTES`): ``frames`` (the whole clip in one call) when it
    fits, else fewer (at least 1).

    >>> enc = DCGANFrameEncoder(1, 128, (64, 64))
    >>> [frames_per_call(enc, (64, 64), b, 20) for b in (2, 16, 100)]  # 512 KiB per frame and clip
    [20, 4, 1]
    """
    budget = CALL_BYTES if budget is None else budget
    per_frame = batch * encoder.peak_elements(resolution) * itemsize
    return max(1, min(frames, budget // max(per_frame, 1)))


class ClipSkips:
    """The encoder's skip features of a clip encoded in chunks of time steps: per level, the chunk
    outputs ``(k_j * B, C_l, H_l, W_l)`` (time-major within a chunk). :meth:`frames` hands a decoder
    call the skips of a list of frames without copying when they are one whole chunk."""

    def __init__(self, chunks: list[Skips], starts: list[int], batch: int) -> None:
        self.chunks, self.starts, self.batch = chunks, starts, batch

    def frames(self, frames: list[int]) -> Skips:
        """Skips of ``frames`` laid out ``(len(frames) * B, C_l, H_l, W_l)``, time-major: a whole
        chunk as it is, rows of one chunk gathered, several chunks concatenated."""
        runs: list[tuple[int, list[int]]] = []  # (chunk, rows within it), consecutive frames of one chunk
        for f in frames:
            j = max(i for i, s in enumerate(self.starts) if s <= f)
            if runs and runs[-1][0] == j:
                runs[-1][1].append(f - self.starts[j])
            else:
                runs.append((j, [f - self.starts[j]]))
        b, out = self.batch, []
        for level in range(len(self.chunks[0])):
            parts = []
            for j, rows in runs:
                chunk = self.chunks[j][level]
                k = chunk.shape[0] // b
                if rows == list(range(k)):
                    parts.append(chunk)
                else:
                    idx = torch.tensor(rows, device=chunk.device)
                    parts.append(chunk.view(k, b, *chunk.shape[1:])[idx].reshape(len(rows) * b, *chunk.shape[1:]))
            out.append(parts[0] if len(parts) == 1 else torch.cat(parts))
        return out


def encode_clip(encoder: FrameEncoder, x: Tensor, per_call: int) -> tuple[Tensor, ClipSkips]:
    """``x (B, T, C, H, W)`` -> ``h (T, B, dim)`` and the skips, ``per_call`` time steps per encoder
    call, BatchNorm statistics per time step (equal to one call per step, as upstream)."""
    b, t = x.shape[:2]
    hs, chunks, starts = [], [], list(range(0, t, per_call))
    for s in starts:
        k = min(per_call, t - s)
        h, skips = encoder(x[:, s:s + k].transpose(0, 1).reshape(k * b, *x.shape[2:]), groups=k)
        hs.append(h)
        chunks.append(skips)
    h = hs[0] if len(hs) == 1 else torch.cat(hs)
    return h.view(t, b, -1), ClipSkips(chunks, starts, b)


def decode_clip(decoder: FrameDecoder, h: Tensor, skips: ClipSkips | None, sources: list[int],
                per_call: int) -> Tensor:
    """``h (S, B, dim)`` (time-major), the skips of frames ``sources[s]`` for step ``s`` -> frames
    ``(S * B, C, H, W)``, time-major, ``per_call`` steps per decoder call (statistics per step)."""
    s_all, b = h.shape[:2]
    outs = []
    for s in range(0, s_all, per_call):
        k = min(per_call, s_all - s)
        sk = None if skips is None else skips.frames(sources[s:s + k])
        outs.append(decoder(h[s:s + k].reshape(k * b, -1), sk, groups=k))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


BACKBONES = {"dcgan": (DCGANFrameEncoder, DCGANFrameDecoder), "vgg": (VGGFrameEncoder, VGGFrameDecoder)}


def frame_codec(backbone: str, channels: int, dim: int, resolution: Sequence[int], width: int = 64,
                decoder_dim: int | None = None, skip: bool = True,
                extra_outputs: int = 0) -> tuple[FrameEncoder, FrameDecoder]:
    """``(encoder, decoder)`` of ``backbone`` (``"dcgan" | "vgg"``); ``decoder_dim`` defaults to ``dim``;
    the decoder writes ``channels + extra_outputs`` maps (e.g. a copy mask, :func:`composite_copy`)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown frame backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
    enc_cls, dec_cls = BACKBONES[backbone]
    return (enc_cls(channels, dim, resolution, width),
            dec_cls(decoder_dim or dim, channels + extra_outputs, resolution, width, skip=skip))


def composite_copy(decoded: Tensor, reference: Tensor) -> Tensor:
    """Frames ``m * reference + (1 - m) * g`` from a decoder output ``(..., C + 1, H, W)`` in [0, 1]
    whose last map is the copy mask ``m`` and the others the drawn frame ``g`` (``reference``:
    ``(..., C, H, W)``). Pixels that do not change are copied exactly once ``m`` saturates, instead of
    being redrawn (VGAN / SAVP-style compositing; used by some ``cpu`` profiles).

    >>> ref = torch.rand(2, 3, 4, 4)
    >>> out = torch.cat([torch.zeros(2, 3, 4, 4), torch.ones(2, 1, 4, 4)], dim=1)
    >>> bool(torch.equal(composite_copy(out, ref), ref))
    True
    """
    mask, drawn = decoded[..., -1:, :, :], decoded[..., :-1, :, :]
    return mask * reference + (1 - mask) * drawn


@torch.no_grad()
def init_copy_mask_(decoder: nn.Module, bias: float) -> nn.Module:
    """Set the initial bias of the copy mask's logit (the last map of ``decoder``'s output conv, before
    its sigmoid; :func:`composite_copy`) to ``bias``: 3 starts the mask at ``sigmoid(3) = 0.95``, so the
    untrained decoder is already nearly a copy of its reference frame (``mask_bias`` of some ``cpu``
    profiles: from 0 the mask had not saturated on unchanging background after their few hundred
    steps). Works for every decoder here whose output conv is its last conv module. Returns ``decoder``.

    >>> dec = init_copy_mask_(DCGANFrameDecoder(16, 3 + 1, (32, 32), width=4, skip=False), 3.0)
    >>> round(float(dec.out[0].bias[-1]), 6)
    3.0
    """
    convs = [m for m in decoder.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if not convs or convs[-1].bias is None:
        raise ValueError(f"{type(decoder).__name__}: no output conv with a bias to hold the copy mask's logit")
    convs[-1].bias[-1] = bias  # the output conv's last channel is the mask (composite_copy's convention)
    return decoder


def frames_in(x: Tensor, channels: int, resolution: Sequence[int] | None) -> Tensor:
    """Data frames ``(..., C, H, W)`` -> the networks' input: gray replicated to ``channels`` when
    the networks are RGB (DRNet's KTH models read gray PNGs as RGB), area-resized to ``resolution``.

    >>> tuple(frames_in(torch.zeros(2, 5, 1, 64, 64), 3, (32, 32)).shape)
    (2, 5, 3, 32, 32)
    """
    if x.shape[-3] != channels:
        if x.shape[-3] != 1:
            raise ValueError(f"frames have {x.shape[-3]} channels, the networks take {channels}")
        x = x.expand(*x.shape[:-3], channels, *x.shape[-2:])
    if resolution is None or tuple(x.shape[-2:]) == tuple(resolution):
        return x
    lead = x.shape[:-3]
    y = F.interpolate(x.reshape(-1, *x.shape[-3:]), size=tuple(resolution), mode="area")
    return y.reshape(*lead, *y.shape[1:])


def frames_out(y: Tensor, channels: int, resolution: Sequence[int]) -> Tensor:
    """The inverse of :func:`frames_in` for predictions: channel mean back to gray, bilinear
    resize back to the data resolution, clamped to [0, 1]."""
    if y.shape[-3] != channels:
        y = y.mean(dim=-3, keepdim=True)
    if tuple(y.shape[-2:]) != tuple(resolution):
        lead = y.shape[:-3]
        y = F.interpolate(y.reshape(-1, *y.shape[-3:]), size=tuple(resolution), mode="bilinear",
                          align_corners=False).clamp(0, 1)
        y = y.reshape(*lead, *y.shape[1:])
    return y
