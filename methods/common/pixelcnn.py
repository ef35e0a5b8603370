"""A gated PixelCNN over volumes ``(T, H, W)`` of discrete codes, causal in raster order ``(t, y, x)``,
with multi-head attention every few layers and a cached sampler.

Gated PixelCNN: van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"
(NeurIPS, arXiv 1606.05328); made causal in time as Walker et al. 2021 ("Predicting Video with
VQVAE", arXiv 2103.01950) describe their top prior: the vertical and horizontal stacks' 1D
convolutions get a time axis and become 2D convolutions in the ``y-t`` and ``x-t`` planes, and the
only true 3D convolution is the first layer. With ``T = 1`` and ``time_kernel = 1`` it is a 2D
gated PixelCNN (their bottom prior).

Causality (``<`` is raster order): the *vertical* stream ``V`` at ``(t, y, x)`` depends only on
inputs of earlier time steps and of rows above ``y`` at step ``t``; the *horizontal* stream ``H``
also on row ``y`` left of ``x``. Hence, per layer:

* ``V``: a ``y-t`` conv (kernel ``kt x k x 1``; taps of the current step limited to rows ``<= y``)
  plus an ``x-t`` conv (kernel ``kt x 1 x k``, unmasked: every ``V`` of row ``y`` is "above").
* ``H``: an ``x-t`` conv (taps of the current step limited to columns ``<= x``) plus a 1x1 link
  from ``V``'s pre-activation at the same position.
* Both: gated activation ``tanh(a) * sigmoid(b)`` over ``2R`` pre-activations (``R`` = residual
  units), dropout, 1x1 back to ``hidden`` channels, added to the stream (residual), plus an optional
  conditioning map projected 1x1 into both pre-activations.
* Past time steps are fully visible inside each kernel (taps ``t' < t`` unmasked).
* First layer: two true 3D convolutions ``kt x k x k`` of the embedded codes, masked "B-vertical"
  (current step: rows ``< y``) and "A-horizontal" (also row ``y``, columns ``< x``).
* Every ``attention_every`` layers, :class:`~methods.common.attention.CausalSelfAttention` over ``H``.

Sampling (:meth:`CausalPixelCNN.sample`) caches every layer's activations in padded buffers and
the attention keys/values: ``V`` is computed once per row (it never depends on the row being
generated), ``H`` once per position, each from crops of the previous layer's buffer, so no prefix
is ever recomputed. :meth:`CausalPixelCNN.sample_uncached` recomputes the full forward per position
(the reference the cache is tested against).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.attention import CausalSelfAttention, raster_coordinates
from methods.common.threads import one_cpu_thread


def causal_mask(kernel: tuple[int, int, int], kind: str) -> Tensor:
    """Bool mask ``(kt, kh, kw)`` of the taps a conv may use; the last time tap is the current step,
    the centre row/column the current position.

    kinds: ``"v_first"`` (current step: rows above), ``"h_first"`` (rows above + left of centre),
    ``"v_yt"`` (current step: rows <= centre), ``"h_xt"`` (current step: columns <= centre),
    ``"full"``.

    >>> causal_mask((2, 3, 3), "h_first")[1].int().tolist()
    [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    """
    kt, kh, kw = kernel
    m = torch.ones(kernel, dtype=torch.bool)
    cur, ch, cw = m[kt - 1], kh // 2, kw // 2
    if kind == "v_first":
        cur[ch:] = False
    elif kind == "h_first":
        cur[ch + 1:] = False
        cur[ch, cw:] = False
    elif kind == "v_yt":
        cur[ch + 1:] = False
    elif kind == "h_xt":
        cur[:, cw + 1:] = False
    elif kind != "full":
        raise ValueError(f"unknown causal mask kind {kind!r}")
    return m


class MaskedConv3d(nn.Module):
    """Conv3d whose weight is multiplied by a fixed tap mask; output has the input's size (time
    padded on the left by ``kt - 1``, space by ``k // 2``). :meth:`crop_forward` applies it VALID
    to a crop of a padded buffer (the cached sampler)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int], mask_kind: str,
                 bias: bool = True) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *kernel))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Conv3d's default
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.register_buffer("mask", causal_mask(kernel, mask_kind), persistent=False)

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        kt, kh, kw = self.kernel
        x = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2, kt - 1, 0))
        return F.conv3d(x, self.masked_weight(), self.bias)

    def crop_forward(self, buffer: Tensor, t: int, y: int, x: int | None, pad: int) -> Tensor:
        """Output at step ``t``, row ``y``, column ``x`` (``None``: the whole row) from ``buffer``
        padded by ``(kt - 1, pad, pad)`` -> ``(N, C_out, 1, 1, W or 1)``."""
        kt, kh, kw = self.kernel
        r0 = y + pad - kh // 2
        if x is None:
            c0, c1 = pad - kw // 2, buffer.shape[-1] - pad + kw // 2
        else:
            c0 = x + pad - kw // 2
            c1 = c0 + kw
        return F.conv3d(buffer[:, :, t:t + kt, r0:r0 + kh, c0:c1], self.masked_weight(), self.bias)


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def _conv1(cin: int, cout: int, bias: bool = True) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 1, bias=bias)


class GatedCausalLayer(nn.Module):
    """One layer of both streams (see the module docstring)."""

    def __init__(self, hidden: int, residual_units: int, kernel: int, time_kernel: int, cond_channels: int = 0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        r2 = 2 * residual_units
        self.v_yt = MaskedConv3d(hidden, r2, (time_kernel, kernel, 1), "v_yt")
        self.v_xt = MaskedConv3d(hidden, r2, (time_kernel, 1, kernel), "full", bias=False)
        self.h_xt = MaskedConv3d(hidden, r2, (time_kernel, 1, kernel), "h_xt")
        self.link = _conv1(r2, r2, bias=False)
        self.v_out = _conv1(residual_units, hidden)
        self.h_out = _conv1(residual_units, hidden)
        self.cond_v = _conv1(cond_channels, r2, bias=False) if cond_channels else None
        self.cond_h = _conv1(cond_channels, r2, bias=False) if cond_channels else None
        self.dropout = dropout

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.dropout, self.training)

    def forward(self, v: Tensor, h: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        v_pre = self.v_yt(v) + self.v_xt(v)
        if self.cond_v is not None and cond is not None:
            v_pre = v_pre + self.cond_v(cond)
        h_pre = self.h_xt(h) + self.link(v_pre)
        if self.cond_h is not None and cond is not None:
            h_pre = h_pre + self.cond_h(cond)
        return v + self.v_out(self._drop(_gate(v_pre))), h + self.h_out(self._drop(_gate(h_pre)))

    # -- cached evaluation ------------------------------------------------------------------------
    def v_row(self, vbuf: Tensor, t: int, y: int, pad: int, cond_row: Tensor | None) -> tuple[Tensor, Tensor]:
        """``V`` after this layer on row ``(t, y)`` from the previous layer's padded buffer:
        ``(v_new, v_pre)``, ``(N, hidden | 2R, 1, 1, W)``. ``v_pre`` feeds the horizontal link."""
        kt = self.v_yt.kernel[0]
        v_pre = self.v_yt.crop_forward(vbuf, t, y, None, pad) + self.v_xt.crop_forward(vbuf, t, y, None, pad)
        if self.cond_v is not None and cond_row is not None:
            v_pre = v_pre + self.cond_v(cond_row)
        v_in = vbuf[:, :, t + kt - 1:t + kt, y + pad:y + pad + 1, pad:vbuf.shape[-1] - pad]
        return v_in + self.v_out(_gate(v_pre)), v_pre

    def pixel_weights(self) -> dict[str, Tensor | None]:
        """The horizontal stream's weights as matrices, for :meth:`h_pixel` (computed once per sampling call)."""
        r2 = self.link.weight.shape[0]
        return {"h_xt": self.h_xt.masked_weight().reshape(r2, -1), "h_xt_bias": self.h_xt.bias,
                "link": self.link.weight.reshape(r2, r2),
                "cond_h": self.cond_h.weight.reshape(r2, -1) if self.cond_h is not None else None,
                "h_out": self.h_out.weight.reshape(self.h_out.weight.shape[0], -1), "h_out_bias": self.h_out.bias}

    def h_pixel(self, hbuf: Tensor, t: int, y: int, x: int, pad: int, v_pre: Tensor, cond_px: Tensor | None,
                w: dict[str, Tensor | None]) -> Tensor:
        """``H`` after this layer at ``(t, y, x)``: ``(N, hidden)``. ``v_pre (N, 2R)``, ``cond_px (N, C_cond)``;
        ``w`` from :meth:`pixel_weights`. Every op is a matrix product on ``(N, channels)`` vectors: the
        masked ``x-t`` conv at one position is its kernel crop flattened against the flattened kernel."""
        kt, _, kw = self.h_xt.kernel
        region = hbuf[:, :, t:t + kt, y + pad, x + pad - kw // 2:x + pad - kw // 2 + kw]
        h_pre = F.linear(region.reshape(region.shape[0], -1), w["h_xt"], w["h_xt_bias"]) + F.linear(v_pre, w["link"])
        if w["cond_h"] is not None and cond_px is not None:
            h_pre = h_pre + F.linear(cond_px, w["cond_h"])
        h_in = hbuf[:, :, t + kt - 1, y + pad, x + pad]
        return h_in + F.linear(_gate(h_pre), w["h_out"], w["h_out_bias"])


def sample_from_logits(logits: Tensor, uniform: Tensor, temperature: float = 1.0) -> Tensor:
    """Inverse-CDF draw: ``logits (N, K)``, ``uniform (N,)`` in [0, 1) -> ``(N,)`` int64 codes."""
    if temperature <= 0:
        return logits.argmax(dim=1)
    cdf = torch.softmax(logits.double() / temperature, dim=1).cumsum(dim=1)
    return torch.searchsorted(cdf, uniform.double()[:, None]).clamp_max(logits.shape[1] - 1)[:, 0]


class CausalPixelCNN(nn.Module):
    """Autoregressive model of codes ``(N, T, H, W)`` (``num_codes`` categories) in raster order.

    Args:
        num_codes: K, categories per position.
        shape: ``(T, H, W)`` of the modelled volume (fixes the attention coordinates).
        hidden: channels of both streams (and of the code embedding).
        residual_units: R, gated channels inside each layer.
        layers: gated layers.
        kernel: spatial filter size ``k`` (odd); ``time_kernel``: ``kt`` time taps (incl. the current).
        attention_every: an attention layer after every this many gated layers (0: none).
        heads: attention heads.
        dropout: on the gated activations (and attention weights).
        cond_channels: channels of an optional conditioning map ``(N, cond_channels, T, H, W)``.

    >>> net = CausalPixelCNN(5, (2, 3, 3), hidden=8, residual_units=8, layers=2, kernel=3, time_kernel=2,
    ...                      attention_every=2, heads=2).eval()
    >>> tuple(net(torch.zeros(1, 2, 3, 3, dtype=torch.long)).shape)
    (1, 5, 2, 3, 3)
    """

    def __init__(self, num_codes: int, shape: tuple[int, int, int], hidden: int, residual_units: int, layers: int,
                 kernel: int = 3, time_kernel: int = 1, attention_every: int = 5, heads: int = 8,
                 dropout: float = 0.0, cond_channels: int = 0) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"PixelCNN kernel must be odd, got {kernel}")
        self.num_codes, self.shape = num_codes, tuple(shape)
        self.hidden, self.kernel, self.time_kernel = hidden, kernel, time_kernel
        self.embed = nn.Embedding(num_codes, hidden)
        k3 = (time_kernel, kernel, kernel)
        self.first_v = MaskedConv3d(hidden, hidden, k3, "v_first")
        self.first_h = MaskedConv3d(hidden, hidden, k3, "h_first")
        self.layers = nn.ModuleList(GatedCausalLayer(hidden, residual_units, kernel, time_kernel, cond_channels,
                                                     dropout) for _ in range(layers))
        self.attention = nn.ModuleDict({
            str(i): CausalSelfAttention(hidden, heads, pos_dim=3, dropout=dropout)
            for i in range(layers) if attention_every and (i + 1) % attention_every == 0})
        self.head = nn.Sequential(nn.ReLU(), _conv1(hidden, hidden), nn.ReLU(), _conv1(hidden, num_codes))
        self.register_buffer("positions", raster_coordinates(self.shape), persistent=False)

    # ---------------------------------------------------------------------------------- full ---
    def forward(self, codes: Tensor, cond: Tensor | None = None) -> Tensor:
        """``codes (N, T, H, W)`` int64 -> logits ``(N, K, T, H, W)``; logits at a position depend
        only on codes before it (and on ``cond``)."""
        if tuple(codes.shape[1:]) != self.shape:
            raise ValueError(f"PixelCNN built for codes of shape {self.shape}, got {tuple(codes.shape[1:])}")
        e = self.embed(codes).permute(0, 4, 1, 2, 3)
        v, h = self.first_v(e), self.first_h(e)
        for i, layer in enumerate(self.layers):
            v, h = layer(v, h, cond)
            if str(i) in self.attention:
                n, c = h.shape[:2]
                flat = h.flatten(2).transpose(1, 2)
                h = h + self.attention[str(i)](flat, self.positions).transpose(1, 2).reshape(h.shape)
        return self.head(h)

    def log_prob(self, codes: Tensor, cond: Tensor | None = None) -> Tensor:
        """``(N,)`` log-probability (nats) of the whole volume of codes."""
        logp = F.log_softmax(self.forward(codes, cond), dim=1)
        return logp.gather(1, codes[:, None]).flatten(1).sum(1)

    # ------------------------------------------------------------------------------- sampling ---
    def _draw(self, logits: Tensor, generator: torch.Generator | None, temperature: float) -> Tensor:
        u = torch.rand(logits.shape[0], generator=generator, device=logits.device)
        return sample_from_logits(logits, u, temperature)

    @torch.no_grad()
    def sample_uncached(self, batch: int, cond: Tensor | None = None, generator: torch.Generator | None = None,
                        temperature: float = 1.0) -> Tensor:
        """Reference sampler: the full forward pass for every position (slow)."""
        device = self.embed.weight.device
        codes = torch.zeros((batch,) + self.shape, dtype=torch.long, device=device)
        T, H, W = self.shape
        for t in range(T):
            for y in range(H):
                for x in range(W):
                    logits = self.forward(codes, cond)[:, :, t, y, x]
                    codes[:, t, y, x] = self._draw(logits, generator, temperature)
        return codes

    @torch.no_grad()
    def sample(self, batch: int, cond: Tensor | None = None, generator: torch.Generator | None = None,
               temperature: float = 1.0, on_logits: Callable[[Tensor, tuple], None] | None = None,
               teacher: Tensor | None = None) -> Tensor:
        """Cached sampler: ``(batch, T, H, W)`` codes, drawing the same uniforms as :meth:`sample_uncached`.

        ``teacher``: codes to feed instead of sampling (logits are still computed; with
        ``on_logits(logits (N, K), (t, y, x))`` this checks the cache against :meth:`forward`).
        On the CPU it runs with one intra-op thread: its thousands of per-position ops are far too
        small to split, and thread synchronisation would dominate (30x slower on a busy 2-core machine).
        """
        with one_cpu_thread(self.embed.weight.device):
            return self._sample(batch, cond, generator, temperature, on_logits, teacher)

    def _sample(self, batch: int, cond: Tensor | None, generator: torch.Generator | None, temperature: float,
                on_logits: Callable[[Tensor, tuple], None] | None, teacher: Tensor | None) -> Tensor:
        device = self.embed.weight.device
        dtype = self.embed.weight.dtype
        T, H, W = self.shape
        kt, p = self.time_kernel, self.kernel // 2
        padded = (batch, None, T + kt - 1, H + 2 * p, W + 2 * p)

        def buf(c: int) -> Tensor:
            return torch.zeros((padded[0], c) + padded[2:], device=device, dtype=dtype)

        ebuf = buf(self.hidden)
        vbufs = [buf(self.hidden) for _ in range(len(self.layers) + 1)]
        hbufs = [buf(self.hidden) for _ in range(len(self.layers) + 1)]
        caches = {k: att.new_cache(batch, T * H * W, device, dtype) for k, att in self.attention.items()}
        codes = torch.zeros((batch, T, H, W), dtype=torch.long, device=device)
        # the per-position path as matrix products (see GatedCausalLayer.h_pixel)
        first_h = self.first_h.masked_weight().reshape(self.hidden, -1)
        weights = [layer.pixel_weights() for layer in self.layers]
        head1, head2 = self.head[1], self.head[3]
        head = (head1.weight.flatten(1), head1.bias, head2.weight.flatten(1), head2.bias)
        for t in range(T):
            tb = t + kt - 1
            for y in range(H):
                yb = y + p
                cond_row = cond[:, :, t:t + 1, y:y + 1, :] if cond is not None else None
                vbufs[0][:, :, tb, yb, p:p + W] = self.first_v.crop_forward(ebuf, t, y, None, p)[:, :, 0, 0]
                v_pres = []
                for i, layer in enumerate(self.layers):
                    v_new, v_pre = layer.v_row(vbufs[i], t, y, p, cond_row)
                    vbufs[i + 1][:, :, tb, yb, p:p + W] = v_new[:, :, 0, 0]
                    v_pres.append(v_pre[:, :, 0, 0])          # (N, 2R, W)
                for x in range(W):
                    region = ebuf[:, :, t:t + kt, y:y + 2 * p + 1, x:x + 2 * p + 1]
                    h = F.linear(region.reshape(batch, -1), first_h, self.first_h.bias)
                    hbufs[0][:, :, tb, yb, x + p] = h
                    cond_px = cond_row[:, :, 0, 0, x] if cond_row is not None else None
                    for i, layer in enumerate(self.layers):
                        h = layer.h_pixel(hbufs[i], t, y, x, p, v_pres[i][..., x], cond_px, weights[i])
                        if str(i) in self.attention:
                            pos = self.positions[(t * H + y) * W + x]
                            h = h + self.attention[str(i)].step(h, pos, caches[str(i)])
                        hbufs[i + 1][:, :, tb, yb, x + p] = h
                    logits = F.linear(F.relu(F.linear(F.relu(h), head[0], head[1])), head[2], head[3])
                    if on_logits is not None:
                        on_logits(logits, (t, y, x))
                    code = teacher[:, t, y, x] if teacher is not None else self._draw(logits, generator, temperature)
                    codes[:, t, y, x] = code
                    ebuf[:, :, tb, yb, x + p] = self.embed(code)
        return codes
