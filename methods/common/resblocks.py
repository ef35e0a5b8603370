"""Residual and recurrent conv blocks with GroupNorm.

* :class:`PreActResBlock` – a pre-activation residual block that halves or doubles the spatial
  size (GroupNorm -> ReLU, then a strided 3x3 conv / 2x2 transposed conv and a 3x3 conv; the
  shortcut resamples the normalised input). EncODEDec's encoder/decoder blocks (Voleti et al. 2019,
  voletiv's torchdiffeq fork, ``examples/latent_ode_moving_mnist.py``, after torchdiffeq's
  ``odenet_mnist.py``).
* :class:`ScaledResBlock` – a same-size residual block ``x + 0.1 * F(x)`` with LeakyReLU(0.2)
  pre-activations and GroupNorm after each conv (the frame encoder of the hierarchical VRNN,
  Castrejón et al. 2019, ``facebookresearch/improved_vrnn`` ``layers.py``, after GAN-stability
  ResNets).
* :class:`GroupNormConvLSTMCell` – a ConvLSTM whose input-to-gate and hidden-to-gate convolutions
  and cell state are group-normalised (the recurrent unit of that VRNN's prior, posterior and
  decoder).

GroupNorm group counts are capped by the channel count (``gcd``), so narrow CPU profiles still
build; at the papers' widths the counts are the papers'.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

LSTMState = tuple[Tensor, Tensor]


def group_norm(groups: int, channels: int) -> nn.Module:
    """``GroupNorm`` with ``gcd(groups, channels)`` groups (``groups`` whenever it divides ``channels``);
    ``groups=0``: no normalisation (``nn.Identity``)."""
    if groups == 0:
        return nn.Identity()
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class PreActResBlock(nn.Module):
    """``(N, C_in, H, W)`` -> ``(N, C_out, H/2, W/2)`` (``mode="down"``) or ``(N, C_out, 2H, 2W)`` (``"up"``).

    ``y = conv2(relu(norm2(conv1(a)))) + resample(a)`` with ``a = relu(norm1(x))``; GroupNorm with
    ``min(32, C)`` groups. Down: ``conv1`` a stride-2 3x3 conv, ``resample`` a stride-2 1x1 conv
    (both bias-free). Up: both are 2x2 stride-2 transposed convs (with bias).

    ``norm=False`` drops both GroupNorms (with few channels they act per channel and per sample,
    removing each frame's flat colour).

    >>> tuple(PreActResBlock(1, 8, "down")(torch.zeros(2, 1, 16, 16)).shape)
    (2, 8, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "down", norm: bool = True) -> None:
        super().__init__()
        if mode not in ("down", "up"):
            raise ValueError(f"mode must be 'down' or 'up', got {mode!r}")
        self.norm1 = nn.GroupNorm(min(32, in_channels), in_channels) if norm else nn.Identity()
        if mode == "down":
            self.resample = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        else:
            self.resample = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
            self.conv1 = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.norm2 = nn.GroupNorm(min(32, out_channels), out_channels) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        a = self.act(self.norm1(x))
        return self.conv2(self.act(self.norm2(self.conv1(a)))) + self.resample(a)


class ScaledResBlock(nn.Module):
    """``(N, C_in, H, W)`` -> ``(N, C_out, H, W)``: ``shortcut(x) + 0.1 * F(x)``.

    ``F`` = LeakyReLU(0.2) -> 3x3 conv (to ``min(C_in, C_out)``, bias) -> GroupNorm(4) ->
    LeakyReLU(0.2) -> 3x3 conv (bias-free) -> GroupNorm(4); the shortcut is a bias-free 1x1 conv
    when the channel count changes, else the identity. ``norm_groups=0``: no GroupNorm.

    >>> tuple(ScaledResBlock(8, 16)(torch.zeros(2, 8, 4, 4)).shape)
    (2, 16, 4, 4)
    """

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int = 4) -> None:
        super().__init__()
        hidden = min(in_channels, out_channels)
        self.act = nn.LeakyReLU(0.2)
        self.conv0 = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, padding=1), group_norm(norm_groups, hidden))
        self.conv1 = nn.Sequential(nn.Conv2d(hidden, out_channels, 3, padding=1, bias=False),
                                   group_norm(norm_groups, out_channels))
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels
                         else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + 0.1 * self.conv1(self.act(self.conv0(self.act(x))))


class GroupNormConvLSTMCell(nn.Module):
    """One ConvLSTM step with GroupNorm on the gate pre-activations and on the cell state.

    ``gates = GN(conv(x)) + GN(conv(h))`` (3x3 convs, 16 groups) split into input, forget, output
    and candidate gates; ``c' = GN(f * c + i * g)``, ``h' = o * tanh(c')``.

    Args:
        in_channels: channels of ``x``.
        hidden_channels: channels of ``h`` and ``c``.

    >>> cell = GroupNormConvLSTMCell(4, 16)
    >>> h, (h, c) = cell(torch.zeros(2, 4, 8, 8))
    >>> tuple(h.shape)
    (2, 16, 8, 8)
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, norm_groups: int = 16) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        pad = kernel_size // 2
        self.input_gates = nn.Sequential(nn.Conv2d(in_channels, 4 * hidden_channels, kernel_size, padding=pad),
                                         group_norm(norm_groups, 4 * hidden_channels))
        self.hidden_gates = nn.Sequential(nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size, padding=pad),
                                          group_norm(norm_groups, 4 * hidden_channels))
        self.cell_norm = group_norm(norm_groups, hidden_channels)

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = (self.input_gates(x) + self.hidden_gates(h)).chunk(4, dim=1)
        c = self.cell_norm(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g))
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)
