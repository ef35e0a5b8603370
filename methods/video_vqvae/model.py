"""Video VQ-VAE (Walker, Razavi & van den Oord 2021, "Predicting Video with VQVAE", arXiv 2103.01950)
as plain ``nn.Module``s: the hierarchical 3D VQ-VAE, the top prior with its conditioning stack and
the bottom prior with its conditioning stack. No public code exists; every size comes from the
paper's appendix tables (see README.md for what each table fixes and what is guessed).

Videos are ``(N, C, T, H, W)`` in [-0.5, 0.5] inside these modules. Latent grids (paper profile,
256x256x16 input): bottom ``(8, 64, 64)``, top ``(4, 32, 32)``, 512 codes of dimension 64 each.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.pixelcnn import CausalPixelCNN
from methods.common.vq import ResidualStack, VectorQuantizerEMA
from methods.common.warp import backward_warp, smooth_flow

Triple = tuple[int, int, int]


def _same_padding(kernel: Triple, stride: Triple) -> Triple:
    """Padding that divides each size exactly by the stride for kernel = 2 x stride (Table 3's convs)."""
    return tuple((k - s) // 2 for k, s in zip(kernel, stride))


def discretized_gaussian_log_prob(x: Tensor, mean: Tensor, log_sigma: Tensor, levels: int = 256) -> Tensor:
    """Per-element log-probability (float64) of the discrete levels ``x = k / (levels - 1)`` under
    ``N(mean, sigma^2)`` integrated over the bin ``x +- 0.5 / (levels - 1)`` (the end bins extend to
    +-infinity, so the levels' probabilities sum to 1).

    >>> lp = discretized_gaussian_log_prob(torch.linspace(0, 1, 256), torch.full((256,), 0.3), torch.tensor(-1.0))
    >>> round(float(lp.exp().sum()), 6)
    1.0
    """
    x, mean = x.double(), mean.double()
    sigma = torch.exp(log_sigma.double())
    half = 0.5 / (levels - 1)
    upper = torch.where(x > 1 - half, torch.full_like(x, float("inf")), (x + half - mean) / sigma)
    lower = torch.where(x < half, torch.full_like(x, float("-inf")), (x - half - mean) / sigma)
    mass = torch.special.ndtr(upper) - torch.special.ndtr(lower)
    # far in a tail the difference underflows: the density at the bin centre times its width
    centre = -0.5 * ((x - mean) / sigma) ** 2 - 0.5 * math.log(2 * math.pi) + torch.log(2 * half / sigma)
    tail = torch.where(x > 1 - half, torch.special.log_ndtr(-(x - half - mean) / sigma),
                       torch.where(x < half, torch.special.log_ndtr(upper), centre))
    return torch.where(mass > 1e-12, torch.log(mass.clamp_min(1e-300)), tail)


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (left, right) of one axis: output ``ceil(size / stride)``.

    >>> [tf_same_pad(n, 4, 2) for n in (4, 2, 1)]
    [(1, 1), (1, 1), (1, 2)]
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class PatchConvTranspose3d(nn.ConvTranspose3d):
    """``nn.ConvTranspose3d`` (same parameters and state dict) computed as one matrix product when
    kernel == stride and padding == 0 -- every input position then writes its own output patch,
    and PyTorch's CPU transposed 3D convolution is much slower than the equivalent ``einsum``."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if tuple(self.kernel_size) != tuple(self.stride) or any(self.padding) or output_size is not None:
            return super().forward(x, output_size)
        n, _, t, h, w = x.shape
        kt, kh, kw = self.kernel_size
        y = torch.einsum("nithw,iojkl->notjhkwl", x, self.weight)
        y = y.reshape(n, self.out_channels, t * kt, h * kh, w * kw)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1, 1)


FRAME_DECODERS = ("none", "warp", "residual", "warp_residual")


# ----------------------------------------------------------------------------------- VQ-VAE ---

class VideoVQVAE(nn.Module):
    """Two-level 3D VQ-VAE (Table 3; hierarchy as VQ-VAE-2, Razavi et al. 2019).

    Encoder: ``x`` -> conv ``bottom_kernel``/``bottom_stride`` (4x8x8 / 2x4x4) -> ReLU -> 3^3 conv ->
    residual stack = ``h_b``; ``h_b`` -> conv ``top_kernel``/``top_stride`` (4x4x4 / 2x2x2) -> ReLU ->
    3^3 conv -> residual stack -> 1^3 conv -> quantise (top codebook). As VQ-VAE-2, the bottom
    level is quantised from ``[h_b, up(q_top)]`` (a small decoder of the top latents), so it
    encodes what the top level leaves out. Decoder: ``[transposed-conv(q_top), q_bottom]`` -> 3^3 conv
    -> residual stack -> transposed conv ``bottom_kernel``/``bottom_stride`` back to the video. In
    training the bottom half of the decoder input is zeroed for a random ``bottom_mask_prob`` of the
    clips (§3.1's random masking).

    ``frame_decoder`` (not in the paper; the ``cpu`` profile uses ``"warp"``): the decoder also takes a
    reference frame (the last conditioning frame), patchified by ``frame_encoder`` to the bottom grid,
    and its output is a flow that warps that frame (:func:`backward_warp`) and/or a residual added to
    it, zero at initialisation (an exact copy).
    """

    def __init__(self, channels: int = 3, hidden: int = 128, residual_units: int = 32, residual_layers: int = 2,
                 num_codes: int = 512, code_dim: int = 64, beta: float = 0.25, decay: float = 0.99,
                 bottom_kernel: Triple = (4, 8, 8), bottom_stride: Triple = (2, 4, 4),
                 top_kernel: Triple = (4, 4, 4), top_stride: Triple = (2, 2, 2), codebook_init: str = "normal",
                 frame_decoder: str = "none", flow_pool: int = 1, max_flow: float = 1.0) -> None:
        super().__init__()
        if frame_decoder not in FRAME_DECODERS:
            raise ValueError(f"frame_decoder must be one of {FRAME_DECODERS}, got {frame_decoder!r}")
        self.frame_decoder, self.flow_pool, self.max_flow = frame_decoder, flow_pool, max_flow
        bk, bs, tk, ts = tuple(bottom_kernel), tuple(bottom_stride), tuple(top_kernel), tuple(top_stride)
        bp, tp = _same_padding(bk, bs), _same_padding(tk, ts)
        self.bottom_stride, self.top_stride = bs, ts

        def res() -> ResidualStack:
            return ResidualStack(hidden, residual_units, residual_layers, dims=3)

        self.encoder_bottom = nn.Sequential(nn.Conv3d(channels, hidden, bk, bs, bp), nn.ReLU(),
                                            nn.Conv3d(hidden, hidden, 3, padding=1), res())
        self.encoder_top = nn.Sequential(nn.Conv3d(hidden, hidden, tk, ts, tp), nn.ReLU(),
                                         nn.Conv3d(hidden, hidden, 3, padding=1), res(),
                                         nn.Conv3d(hidden, code_dim, 1))
        self.quantize_top = VectorQuantizerEMA(num_codes, code_dim, beta, decay, init=codebook_init)
        self.decoder_top = nn.Sequential(nn.Conv3d(code_dim, hidden, 3, padding=1), res(),
                                         nn.ConvTranspose3d(hidden, code_dim, tk, ts, tp))
        self.pre_bottom = nn.Conv3d(hidden + code_dim, code_dim, 1)
        self.quantize_bottom = VectorQuantizerEMA(num_codes, code_dim, beta, decay, init=codebook_init)
        self.upsample_top = nn.ConvTranspose3d(code_dim, code_dim, tk, ts, tp)
        conditioned = frame_decoder != "none"
        # frame_decoder (not in the paper; the cpu profile): the decoder also sees the reference frame
        # (patchified to the bottom grid, tiled over time) and writes a flow that warps it and/or a
        # residual added to it; its last layer starts at 0, so the untrained decoder copies the frame.
        out = {"none": channels, "warp": 2, "residual": channels, "warp_residual": 2 + channels}[frame_decoder]
        if conditioned:
            self.frame_encoder = nn.Sequential(nn.Conv2d(channels, hidden, bk[1:], bs[1:], bp[1:]), nn.ReLU())
        self.decoder = nn.Sequential(nn.Conv3d(2 * code_dim + (hidden if conditioned else 0), hidden, 3, padding=1),
                                     res(), PatchConvTranspose3d(hidden, out, bk, bs, bp))
        if conditioned:
            nn.init.zeros_(self.decoder[-1].weight)
            nn.init.zeros_(self.decoder[-1].bias)
        # Not in the paper: the std of a Gaussian around the decoder's output, fitted to the training
        # reconstructions after the VQ-VAE stage, so that the model defines a likelihood of pixels.
        self.register_buffer("log_sigma", torch.zeros(()))

    def encode(self, x: Tensor) -> dict[str, Tensor]:
        """``x (N, C, T, H, W)`` -> ``q_top, q_bottom`` (straight-through), ``codes_top (N, T/4, H/8, W/8)``,
        ``codes_bottom (N, T/2, H/4, W/4)``, ``commitment`` (scalar, both levels)."""
        h_b = self.encoder_bottom(x)
        q_t, c_t, commit_t = self.quantize_top(self.encoder_top(h_b))
        z_b = self.pre_bottom(torch.cat([h_b, self.decoder_top(q_t)], dim=1))
        q_b, c_b, commit_b = self.quantize_bottom(z_b)
        return {"q_top": q_t, "q_bottom": q_b, "codes_top": c_t, "codes_bottom": c_b, "commitment": commit_t + commit_b}

    def decode(self, q_top: Tensor, q_bottom: Tensor, keep_bottom: Tensor | None = None,
               reference: Tensor | None = None, moved: Tensor | None = None) -> Tensor:
        """Latents -> video; ``keep_bottom (N,)`` float 0/1 masks the bottom level per clip. With a
        ``frame_decoder``, ``reference (N, C, H, W)`` (in [-0.5, 0.5]; the last conditioning frame) is
        the frame every output frame is warped from and/or added to -- or, given ``moved (N, C, T, H, W)``
        (``copy_velocity``, cpu), output frame ``t`` starts from ``moved[:, :, t]`` (the reference carried
        along its velocity field to frame ``t``; the decoder still reads ``reference``)."""
        return self.decode_with_flow(q_top, q_bottom, keep_bottom, reference, moved)[0]

    def decode_with_flow(self, q_top: Tensor, q_bottom: Tensor, keep_bottom: Tensor | None = None,
                         reference: Tensor | None = None, moved: Tensor | None = None
                         ) -> tuple[Tensor, Tensor | None]:
        """:meth:`decode`, and the flow ``(N * T, 2, H, W)`` it warped with, smoothed as applied (None
        without a warp)."""
        if keep_bottom is not None:
            q_bottom = q_bottom * keep_bottom.view(-1, 1, 1, 1, 1).to(q_bottom.dtype)
        h = torch.cat([self.upsample_top(q_top), q_bottom], dim=1)
        if self.frame_decoder == "none":
            return self.decoder(h), None
        if reference is None:
            raise ValueError(f"frame_decoder={self.frame_decoder!r} needs the reference frame")
        feat = self.frame_encoder(reference)[:, :, None].expand(-1, -1, h.shape[2], -1, -1)
        out = self.decoder(torch.cat([h, feat], dim=1))                  # (N, K, T, H, W)
        n, _, t, hh, ww = out.shape
        ref = reference[:, :, None].expand(-1, -1, t, -1, -1) if moved is None else moved
        frames, flow = ref, None
        if self.frame_decoder in ("warp", "warp_residual"):
            flow = self.max_flow * torch.tanh(out[:, :2].transpose(1, 2).reshape(n * t, 2, hh, ww))
            flow = smooth_flow(flow, self.flow_pool)
            warped = backward_warp(ref.transpose(1, 2).reshape(n * t, -1, hh, ww), flow)
            frames = warped.view(n, t, -1, hh, ww).transpose(1, 2)
        if self.frame_decoder in ("residual", "warp_residual"):
            frames = frames + out[:, -reference.shape[1]:]
        return frames, flow

    def decode_codes(self, codes_top: Tensor, codes_bottom: Tensor, reference: Tensor | None = None,
                     moved: Tensor | None = None) -> Tensor:
        return self.decode(self.quantize_top.lookup(codes_top), self.quantize_bottom.lookup(codes_bottom),
                           reference=reference, moved=moved)

    def forward(self, x: Tensor, bottom_mask_prob: float = 0.0, generator: torch.Generator | None = None,
                reference: Tensor | None = None, moved: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        enc = self.encode(x)
        keep = None
        if self.training and bottom_mask_prob > 0:
            u = torch.rand(x.shape[0], generator=generator, device=x.device)
            keep = (u >= bottom_mask_prob).float()
        frames, enc["flow"] = self.decode_with_flow(enc["q_top"], enc["q_bottom"], keep, reference, moved)
        return frames, enc


# ------------------------------------------------------------------------------- top prior ---

class TopConditioningStack(nn.Module):
    """Tables 5/6: context latents -> ``(N, hidden, T_pred, h, w)`` conditioning map of the top prior.

    The context's top codes (``(N, c_t, h, w)``) are embedded and upsampled by a transposed conv to
    the bottom grid (``(2c_t, 2h, 2w)`` = Table 5's "32x32 upsampled to 64x64x2"), concatenated with
    the embedded bottom context codes (``(N, c_b, 2h, 2w)``), "downsampled back down to 32x32x256 by a
    convolutional layer", tiled over the ``T_pred`` predicted top steps, lifted to ``hidden`` by
    another conv and passed through ``layers`` residual blocks (hidden 512, residual units 128).
    """

    def __init__(self, num_codes: int, embed_dim: int, mid: int, hidden: int, residual_units: int, layers: int,
                 context_top_steps: int, predicted_steps: int, top_kernel: Triple = (4, 4, 4),
                 top_stride: Triple = (2, 2, 2)) -> None:
        super().__init__()
        pad = _same_padding(top_kernel, top_stride)
        self.predicted_steps = predicted_steps
        self.embed_top = nn.Embedding(num_codes, embed_dim)
        self.embed_bottom = nn.Embedding(num_codes, embed_dim)
        self.up = nn.ConvTranspose3d(embed_dim, embed_dim, top_kernel, top_stride, pad)
        self.down = nn.Conv3d(2 * embed_dim, mid, top_kernel, top_stride, pad)
        self.lift = nn.Conv3d(mid * context_top_steps, hidden, 3, padding=1)
        self.res = ResidualStack(hidden, residual_units, layers, dims=3)

    def forward(self, ctx_top: Tensor, ctx_bottom: Tensor) -> Tensor:
        up = self.up(self.embed_top(ctx_top).permute(0, 4, 1, 2, 3))
        x = torch.cat([up, self.embed_bottom(ctx_bottom).permute(0, 4, 1, 2, 3)], dim=1)
        x = self.down(x)                                           # (N, mid, c_t, h, w)
        x = x.flatten(1, 2)[:, :, None].expand(-1, -1, self.predicted_steps, -1, -1)
        return self.res(self.lift(x))


class TopPrior(nn.Module):
    """Top prior (Table 4): a time-causal gated PixelCNN over the predicted top steps, conditioned
    on :class:`TopConditioningStack`."""

    def __init__(self, num_codes: int, grid: Triple, hidden: int, residual_units: int, layers: int,
                 attention_every: int, heads: int, kernel: int, time_kernel: int, dropout: float,
                 cond_embed: int, cond_mid: int, cond_hidden: int, cond_residual_units: int, cond_layers: int,
                 context_top_steps: int, top_kernel: Triple, top_stride: Triple) -> None:
        super().__init__()
        self.condition = TopConditioningStack(num_codes, cond_embed, cond_mid, cond_hidden, cond_residual_units,
                                              cond_layers, context_top_steps, grid[0], top_kernel, top_stride)
        self.pixelcnn = CausalPixelCNN(num_codes, grid, hidden, residual_units, layers, kernel, time_kernel,
                                       attention_every, heads, dropout, cond_channels=cond_hidden)

    def log_prob(self, codes: Tensor, ctx_top: Tensor, ctx_bottom: Tensor) -> Tensor:
        """``(N,)`` nats of the predicted top codes ``(N, T_pred, h, w)``."""
        return self.pixelcnn.log_prob(codes, self.condition(ctx_top, ctx_bottom))

    def logits(self, codes: Tensor, ctx_top: Tensor, ctx_bottom: Tensor) -> Tensor:
        return self.pixelcnn(codes, self.condition(ctx_top, ctx_bottom))


# ---------------------------------------------------------------------------- bottom prior ---

class BottomConditioningStack(nn.Module):
    """Tables 7/8: the conditioning of bottom slice ``n`` from all top codes and the ``window`` past
    bottom slices.

    Top codes ``(N, T_t, h, w)`` -> embedding -> three convs with kernels (4,3,3) -> (3,4,4) -> (3,3,3)
    and strides (2,1,1) -> (1,2,2) -> (1,1,1) (the first two transposed: they upsample to the bottom
    grid ``(2 T_t, 2h, 2w)``), ``hidden`` (1024) channels; slice ``n`` is taken. Past bottom slices
    ``n - window .. n - 1`` (zeros before the clip) -> embedding -> ``layers_past`` (4) convs
    (4,3,3) stride (2,1,1) with TensorFlow "SAME" padding (time ``window -> 1``). Both are concatenated
    and go through a 3x3 conv and ``blocks`` (20) residual blocks (VQ-VAE-2's conditioning stack).
    """

    def __init__(self, num_codes: int, embed_dim: int, hidden: int, residual_units: int, blocks: int,
                 window: int, layers_past: int = 4) -> None:
        super().__init__()
        self.window = window
        self.embed_top = nn.Embedding(num_codes, embed_dim)
        self.embed_bottom = nn.Embedding(num_codes, embed_dim)
        self.top_up = nn.Sequential(
            nn.ConvTranspose3d(embed_dim, hidden, (4, 3, 3), (2, 1, 1), (1, 1, 1)), nn.ReLU(),
            nn.ConvTranspose3d(hidden, hidden, (3, 4, 4), (1, 2, 2), (1, 1, 1)), nn.ReLU(),
            nn.Conv3d(hidden, hidden, 3, padding=1))
        self.past = nn.ModuleList(nn.Conv3d(embed_dim if i == 0 else hidden, hidden, (4, 3, 3), (2, 1, 1))
                                  for i in range(layers_past))
        self.merge = nn.Conv2d(2 * hidden, hidden, 3, padding=1)
        self.res = ResidualStack(hidden, residual_units, blocks, dims=2)

    def top_features(self, codes_top: Tensor) -> Tensor:
        """``(N, T_t, h, w)`` -> ``(N, hidden, 2 T_t, 2h, 2w)`` (computed once per clip)."""
        return self.top_up(self.embed_top(codes_top).permute(0, 4, 1, 2, 3))

    def past_window(self, bottom: Tensor, n: int) -> Tensor:
        """Codes ``n - window .. n - 1`` of ``bottom (N, T_b, H, W)`` embedded, zeros before 0 ->
        ``(N, E, window, H, W)``."""
        e = self.embed_bottom(bottom[:, max(0, n - self.window):n]).permute(0, 4, 1, 2, 3)
        missing = self.window - e.shape[2]
        return F.pad(e, (0, 0, 0, 0, missing, 0)) if missing else e

    def forward(self, top_feat: Tensor, past: Tensor, n: int | Tensor) -> Tensor:
        """``top_feat (N, hidden, T_b, H, W)``, ``past (N, E, window, H, W)``, slice index ``n``
        (int, or ``(N,)`` per row) -> ``(N, hidden, H, W)``."""
        if isinstance(n, int):
            top = top_feat[:, :, n]
        else:
            top = top_feat[torch.arange(top_feat.shape[0], device=top_feat.device), :, n]
        x = past
        for i, conv in enumerate(self.past):
            x = F.pad(x, (1, 1, 1, 1, *tf_same_pad(x.shape[2], 4, 2)))
            x = conv(x)
            if i < len(self.past) - 1:
                x = F.relu(x)
        return self.res(self.merge(torch.cat([top, x[:, :, 0]], dim=1)))


class BottomPrior(nn.Module):
    """Bottom prior (Table 4): a 2D gated PixelCNN per bottom slice, conditioned on
    :class:`BottomConditioningStack`."""

    def __init__(self, num_codes: int, grid: tuple[int, int], hidden: int, residual_units: int, layers: int,
                 attention_every: int, heads: int, kernel: int, dropout: float, cond_embed: int, cond_hidden: int,
                 cond_residual_units: int, cond_blocks: int, window: int) -> None:
        super().__init__()
        self.condition = BottomConditioningStack(num_codes, cond_embed, cond_hidden, cond_residual_units,
                                                 cond_blocks, window)
        self.pixelcnn = CausalPixelCNN(num_codes, (1, *grid), hidden, residual_units, layers, kernel, 1,
                                       attention_every, heads, dropout, cond_channels=cond_hidden)

    def slice_conditions(self, codes_top: Tensor, codes_bottom: Tensor, slices: list[int]) -> Tensor:
        """Conditioning maps of the given bottom slices, stacked slice-major ``(len * N, hidden, 1, H, W)``."""
        top_feat = self.condition.top_features(codes_top)
        conds = [self.condition(top_feat, self.condition.past_window(codes_bottom, n), n) for n in slices]
        return torch.cat(conds)[:, :, None]

    def log_prob(self, codes_top: Tensor, codes_bottom: Tensor, slices: list[int]) -> Tensor:
        """``(N,)`` nats of bottom slices ``slices`` of ``codes_bottom (N, T_b, H, W)`` given the top
        codes and the earlier bottom slices."""
        n = codes_bottom.shape[0]
        cond = self.slice_conditions(codes_top, codes_bottom, slices)
        target = torch.cat([codes_bottom[:, s:s + 1] for s in slices])
        return self.pixelcnn.log_prob(target, cond).view(len(slices), n).sum(0)
