"""Glow building blocks (Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1
Convolutions", NeurIPS, arXiv 1807.03039) as used by VideoFlow (Kumar et al. 2020, ICLR, arXiv
1903.01434); upstream ``tensorflow/tensor2tensor`` ``models/research/glow_ops.py`` (read, not copied).

Layout is ``(N, C, H, W)`` for frames and ``(N, C, T, H, W)`` for stacks of latents over time.
Every invertible op returns ``(y, logdet)`` with ``logdet`` a ``(N,)`` tensor (nats), and takes
``reverse=True`` for the inverse (whose ``logdet`` is the negative).

* :class:`ActNorm` -- per-channel affine ``y = (x + b) * exp(s * f)`` (``f`` = ``logscale_factor``
  3, as upstream: a larger effective learning rate for the scale), data-dependent initialisation on
  the first forward in training mode (zero mean, unit variance per channel); with ``num_steps`` it
  has separate parameters per time step (upstream ``actnorm_3d``).
* :class:`InvertibleConv1x1` -- the LU-parametrised 1x1 convolution ``W = P L (U + diag(sign(s) e^{log|s|}))``
  initialised from a random rotation.
* :class:`EdgeConv2d` / :class:`TimeConv3d` -- upstream's ``conv``: "VALID" convolutions after
  zero padding with one extra input channel that is 1 on the padding (the "edge bias"); 3D ones are
  padded on the left in time (causal) and may be dilated in space; followed by :class:`ActNorm`, or
  (``zero_init=True``) by a zero-initialised bias and log-scale (the last layer of every network
  that parametrises a coupling or a Gaussian, so each starts as the identity / a standard normal).
* :class:`GlowConvStack` -- upstream's ``conv_stack``: conv(3x3) -> ReLU -> conv(1x1) -> ReLU (or the
  gated ``tanh * sigmoid`` "gatu") -> zero-initialised conv(3x3).
* :class:`AffineCoupling`, :class:`AdditiveCoupling`, :class:`FlowStep` (actnorm -> 1x1 conv ->
  coupling), :func:`squeeze2d` / :func:`unsqueeze2d`.
* :class:`TemporalLatentToGaussian` -- upstream's ``temporal_latent_to_dist``: a residual stack of
  3D (time-causal) conv stacks, optionally a sum over dilation rates, over a time-indexed stack of
  latents; the last time step -> zero-initialised 1x1 conv -> (mean, log-scale).
* :func:`gaussian_log_prob`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOGSCALE_FACTOR = 3.0


def _batch_logdet(value: Tensor, x: Tensor) -> Tensor:
    """A scalar log-determinant shared by every sample -> ``(N,)``."""
    return value.expand(x.shape[0])


class ActNorm(nn.Module):
    """Per-channel (and optionally per-time-step) affine flow with data-dependent initialisation.

    >>> an = ActNorm(3)
    >>> y, ld = an(torch.randn(8, 3, 4, 4) * 5 + 2)     # first training forward initialises
    >>> bool(y.mean().abs() < 1e-5), tuple(ld.shape)
    (True, (8,))
    """

    def __init__(self, channels: int, num_steps: int | None = None,
                 logscale_factor: float = LOGSCALE_FACTOR) -> None:
        super().__init__()
        shape = (1, channels, 1, 1) if num_steps is None else (1, channels, num_steps, 1, 1)
        self.bias = nn.Parameter(torch.zeros(shape))
        self.logs = nn.Parameter(torch.zeros(shape))
        self.logscale_factor = logscale_factor
        # A buffer (not a Python flag) so that it travels in state dicts and checkpoints.
        self.register_buffer("initialized", torch.tensor(False))

    def _stat_dims(self, x: Tensor) -> list[int]:
        return [0, 2, 3] if self.bias.ndim == 4 else [0, 3, 4]

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        dims = self._stat_dims(x)
        mean = x.mean(dims, keepdim=True)
        std = (x - mean).pow(2).mean(dims, keepdim=True).sqrt()
        self.bias.copy_(-mean)
        self.logs.copy_(torch.log(1.0 / (std + 1e-6)) / self.logscale_factor)
        self.initialized.fill_(True)

    def forward(self, x: Tensor, reverse: bool = False) -> tuple[Tensor, Tensor]:
        if not reverse and self.training and not bool(self.initialized):
            self.initialize(x)
        logs = self.logs * self.logscale_factor
        positions = x.shape[-1] * x.shape[-2]  # upstream: sum(logs) * H * W (per time step for 3D)
        logdet = _batch_logdet(logs.sum() * positions, x)
        if not reverse:
            return (x + self.bias) * torch.exp(logs), logdet
        return x * torch.exp(-logs) - self.bias, -logdet


class InvertibleConv1x1(nn.Module):
    """LU-decomposed invertible 1x1 convolution (Glow §3.2): ``logdet = H W sum(log|s|)``.

    ``P`` and ``sign(s)`` are fixed buffers; ``L`` (unit lower triangular), ``U`` (strictly upper)
    and ``log|s|`` are learned. Stored as full ``C x C`` matrices masked in :meth:`weight`, as upstream.
    """

    def __init__(self, channels: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        # Computed on the CPU whatever the default device (so a model can be built on "meta" to count it).
        rand = torch.rand(channels, channels, generator=generator, dtype=torch.float64, device="cpu")
        p, lower, upper = torch.linalg.lu(torch.linalg.qr(rand)[0])
        s = torch.diagonal(upper)
        device = torch.empty(0).device
        self.register_buffer("perm", p.float().to(device))
        self.register_buffer("sign_s", torch.sign(s).float().to(device))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower.float().to(device))
        self.upper = nn.Parameter(torch.triu(upper, 1).float().to(device))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)).float().to(device))

    def weight(self) -> Tensor:
        eye = torch.eye(self.lower.shape[0], device=self.lower.device, dtype=self.lower.dtype)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: Tensor, reverse: bool = False) -> tuple[Tensor, Tensor]:
        w = self.weight()
        logdet = _batch_logdet(self.log_s.sum() * (x.shape[-1] * x.shape[-2]), x)
        if not reverse:
            return F.conv2d(x, w[:, :, None, None]), logdet
        w_inv = torch.linalg.inv(w.double()).to(w.dtype)  # float64 inverse: x -> z -> x stays exact
        return F.conv2d(x, w_inv[:, :, None, None]), -logdet


def squeeze2d(x: Tensor, factor: int = 2) -> Tensor:
    """``(N, C, H, W)`` -> ``(N, C f^2, H/f, W/f)``; channel ``c f^2 + i f + j`` holds pixel ``(f y + i, f x + j)``
    of channel ``c`` (the ordering of upstream's NHWC ``squeeze``).

    >>> x = torch.arange(16.).view(1, 1, 4, 4)
    >>> bool((unsqueeze2d(squeeze2d(x)) == x).all()), squeeze2d(x)[0, :, 0, 0].tolist()
    (True, [0.0, 1.0, 4.0, 5.0])
    """
    n, c, h, w = x.shape
    x = x.view(n, c, h // factor, factor, w // factor, factor)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(n, c * factor * factor, h // factor, w // factor)


def unsqueeze2d(x: Tensor, factor: int = 2) -> Tensor:
    """Inverse of :func:`squeeze2d`."""
    n, c, h, w = x.shape
    x = x.view(n, c // (factor * factor), factor, factor, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(n, c // (factor * factor), h * factor, w * factor)


class _ZeroScale(nn.Module):
    """Upstream's non-actnorm tail of ``conv``: ``(x + b) * exp(logs * 3)``, both zero-initialised."""

    def __init__(self, channels: int, dims: int) -> None:
        super().__init__()
        shape = (1, channels) + (1,) * dims
        self.bias = nn.Parameter(torch.zeros(shape))
        self.logs = nn.Parameter(torch.zeros(shape))

    def forward(self, x: Tensor) -> Tensor:
        return (x + self.bias) * torch.exp(self.logs * LOGSCALE_FACTOR)


class EdgeConv2d(nn.Module):
    """Upstream ``conv`` on frames: zero padding + an edge-indicator channel, VALID conv (no bias),
    then :class:`ActNorm` (default) or a zero-initialised bias/log-scale (``zero_init=True``).

    Weights ~ N(0, 0.05) (upstream ``default_initializer``) unless ``zero_init``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, zero_init: bool = False,
                 dilation: int = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        edge = 1 if kernel_size > 1 else 0
        self.conv = nn.Conv2d(in_channels + edge, out_channels, kernel_size, dilation=dilation, bias=False)
        if zero_init:
            nn.init.zeros_(self.conv.weight)
            self.norm: nn.Module = _ZeroScale(out_channels, 2)
        else:
            nn.init.normal_(self.conv.weight, 0.0, 0.05)
            self.norm = ActNorm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.kernel_size > 1:
            p = self.pad
            edge = F.pad(torch.zeros_like(x[:, :1]), (p, p, p, p), value=1.0)
            x = torch.cat([F.pad(x, (p, p, p, p)), edge], dim=1)
        y = self.conv(x)
        return self.norm(y)[0] if isinstance(self.norm, ActNorm) else self.norm(y)


class TimeConv3d(nn.Module):
    """Upstream ``conv`` on ``(N, C, T, H, W)``: left (causal) padding in time, "same" padding in
    space (with dilation), an indicator channel that is 1 on the padding, VALID conv3d (no bias),
    then a per-time-step :class:`ActNorm` (``num_steps`` = T) or a zero-initialised bias/log-scale.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int, int], num_steps: int,
                 zero_init: bool = False, dilation: int = 1) -> None:
        super().__init__()
        kt, kh, kw = kernel_size
        self.identity_pad = kernel_size == (1, 1, 1)
        self.pad_t = kt - 1
        self.pad_h = (kh + (kh - 1) * (dilation - 1) - 1) // 2
        self.pad_w = (kw + (kw - 1) * (dilation - 1) - 1) // 2
        edge = 0 if self.identity_pad else 1
        self.conv = nn.Conv3d(in_channels + edge, out_channels, kernel_size, dilation=(1, dilation, dilation),
                              bias=False)
        if zero_init:
            nn.init.zeros_(self.conv.weight)
            self.norm: nn.Module = _ZeroScale(out_channels, 3)
        else:
            nn.init.normal_(self.conv.weight, 0.0, 0.05)
            self.norm = ActNorm(out_channels, num_steps=num_steps)

    def forward(self, x: Tensor) -> Tensor:
        if not self.identity_pad:
            pad = (self.pad_w, self.pad_w, self.pad_h, self.pad_h, self.pad_t, 0)
            edge = F.pad(torch.zeros_like(x[:, :1]), pad, value=1.0)
            x = torch.cat([edge, F.pad(x, pad)], dim=1)  # upstream time_pad puts the indicator first
        y = self.conv(x)
        return self.norm(y)[0] if isinstance(self.norm, ActNorm) else self.norm(y)


class GlowConvStack(nn.Module):
    """Upstream ``conv_stack``: conv -> ReLU -> [conv1x1 -> ReLU | gatu] -> zero-initialised conv.

    ``dims=2``: 3x3 / 1x1 / 3x3 edge-padded convs on frames. ``dims=3``: on ``(N, C, T, H, W)``
    with time kernel 2 (1 if ``num_steps == 1``), causal in time, per-step actnorm.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, activation: str = "relu",
                 dropout: float = 0.0, dims: int = 2, num_steps: int = 1, dilation: int = 1) -> None:
        super().__init__()
        if activation not in ("relu", "gatu"):
            raise ValueError(f"activation must be 'relu' or 'gatu', got {activation!r}")
        self.activation, self.dropout = activation, dropout
        if dims == 2:
            def conv(cin: int, cout: int, k: int, zero: bool = False) -> nn.Module:
                return EdgeConv2d(cin, cout, k, zero_init=zero, dilation=dilation)
            big, one = 3, 1
        else:
            kt = 1 if num_steps == 1 else 2

            def conv(cin: int, cout: int, k: tuple, zero: bool = False) -> nn.Module:  # type: ignore[misc]
                return TimeConv3d(cin, cout, k, num_steps, zero_init=zero, dilation=dilation)
            big, one = (kt, 3, 3), (1, 1, 1)
        self.first = conv(in_channels, mid_channels, big)
        if activation == "relu":
            self.second = conv(mid_channels, mid_channels, one)
        else:
            self.gate_tanh = conv(mid_channels, mid_channels, one)
            self.gate_sigmoid = conv(mid_channels, mid_channels, one)
        self.last = conv(mid_channels, out_channels, big, True)

    def forward(self, x: Tensor) -> Tensor:
        h = F.dropout(F.relu(self.first(x)), self.dropout, self.training)
        if self.activation == "relu":
            h = F.relu(self.second(h))
        else:
            h = torch.tanh(self.gate_tanh(h)) * torch.sigmoid(self.gate_sigmoid(h))
        h = F.dropout(h, self.dropout, self.training)
        return self.last(h)


class AffineCoupling(nn.Module):
    """``z2 = (x2 + shift) * sigmoid(raw + 2)``, ``(shift, raw)`` interleaved channels of ``NN(x1)``."""

    def __init__(self, channels: int, width: int, activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        self.net = GlowConvStack(channels // 2, width, channels, activation, dropout)

    def forward(self, x: Tensor, reverse: bool = False) -> tuple[Tensor, Tensor]:
        x1, x2 = x.chunk(2, dim=1)
        h = self.net(x1)
        shift, scale = h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0)
        logdet = torch.log(scale).flatten(1).sum(1)
        if not reverse:
            return torch.cat([x1, (x2 + shift) * scale], dim=1), logdet
        return torch.cat([x1, x2 / scale - shift], dim=1), -logdet


class AdditiveCoupling(nn.Module):
    """``z2 = x2 + NN(x1)`` (volume preserving)."""

    def __init__(self, channels: int, width: int, activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        self.net = GlowConvStack(channels // 2, width, channels // 2, activation, dropout)

    def forward(self, x: Tensor, reverse: bool = False) -> tuple[Tensor, Tensor]:
        x1, x2 = x.chunk(2, dim=1)
        shift = self.net(x1)
        zero = x.new_zeros(x.shape[0])
        return torch.cat([x1, x2 - shift if reverse else x2 + shift], dim=1), zero


class FlowStep(nn.Module):
    """One Glow step: actnorm -> invertible 1x1 conv -> coupling (reverse order when inverting)."""

    def __init__(self, channels: int, width: int, coupling: str = "affine", activation: str = "relu",
                 dropout: float = 0.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if coupling not in ("affine", "additive"):
            raise ValueError(f"coupling must be 'affine' or 'additive', got {coupling!r}")
        self.actnorm = ActNorm(channels)
        self.invconv = InvertibleConv1x1(channels, generator)
        cls = AffineCoupling if coupling == "affine" else AdditiveCoupling
        self.coupling = cls(channels, width, activation, dropout)

    def forward(self, x: Tensor, reverse: bool = False) -> tuple[Tensor, Tensor]:
        ops = [self.actnorm, self.invconv, self.coupling]
        total = x.new_zeros(x.shape[0])
        for op in (reversed(ops) if reverse else ops):
            x, logdet = op(x, reverse=reverse)
            total = total + logdet
        return x, total


def gaussian_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """Sum over all but the batch dim of ``log N(x; mean, exp(log_scale)^2)`` -> ``(N,)``."""
    lp = -0.5 * math.log(2 * math.pi) - log_scale - 0.5 * ((x - mean) * torch.exp(-log_scale)) ** 2
    return lp.flatten(1).sum(1)


def dilation_rates(height: int, rates: tuple[int, ...], apply: bool) -> list[int]:
    """Dilations of :class:`TemporalLatentToGaussian` at a latent of ``height``: always 1 (none),
    plus ``rate + 1`` for each ``rate`` whose effective 3x3 filter ``3 + 2 rate`` fits (upstream
    ``get_dilation_rates``)."""
    out = [1]
    if apply:
        out += [r + 1 for r in rates if 3 + 2 * r <= height]
    return out


class TemporalLatentToGaussian(nn.Module):
    """``(N, C_in, T, H, W)`` stack of past latents -> ``(mean, log_scale)`` each ``(N, C_out, H, W)``.

    ``depth`` residual blocks ``h += sum_d conv_stack_d(h)`` (3D, time-causal, one stack per dilation),
    then the last time step -> zero-initialised 1x1 conv to ``2 C_out`` channels, interleaved (mean,
    log_scale) as upstream's ``[..., 0::2], [..., 1::2]``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_steps: int, height: int, width: int = 512,
                 depth: int = 2, activation: str = "relu", dropout: float = 0.0, apply_dilations: bool = False,
                 rates: tuple[int, ...] = (1, 3)) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList(GlowConvStack(in_channels, width, in_channels, activation, dropout, dims=3,
                                        num_steps=num_steps, dilation=d)
                          for d in dilation_rates(height, rates, apply_dilations))
            for _ in range(depth))
        self.final = EdgeConv2d(in_channels, 2 * out_channels, kernel_size=1, zero_init=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x
        for stacks in self.blocks:
            h = h + sum(stack(h) for stack in stacks)
        out = self.final(h[:, :, -1])
        return out[:, 0::2], out[:, 1::2]
