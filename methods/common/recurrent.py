"""Recurrent blocks: an LSTM stack over vectors and a convolutional LSTM cell.

:class:`LSTMStack` has the shape of SVG's deterministic frame predictor (Denton & Fergus 2018,
``edenton/svg`` ``models/lstm.py``): a linear embedding, ``num_layers`` LSTM layers and a linear
output squashed by tanh (to match a tanh-bounded frame encoding). It runs a whole teacher-forced
sequence in one call, or one step at a time with an explicit state for autoregressive rollouts.

:class:`ConvLSTMCell` is the convolutional LSTM of Shi et al. 2015 (used by SV2P/SAVP-style
predictors): gates from one convolution over ``[x, h]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.common.dcgan import activation

LSTMState = tuple[Tensor, Tensor]


class LSTMStack(nn.Module):
    """``(B, T, input_dim)`` or ``(B, input_dim)`` -> same leading shape with ``output_dim``.

    >>> lstm = LSTMStack(8, 16, 8, num_layers=2)
    >>> y, state = lstm(torch.zeros(3, 5, 8))           # teacher-forced sequence
    >>> y1, state = lstm(torch.zeros(3, 8), state)      # one more step
    >>> tuple(y.shape), tuple(y1.shape)
    ((3, 5, 8), (3, 8))
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int = 2,
                 out_activation: str | None = "tanh") -> None:
        super().__init__()
        self.embed = nn.Linear(input_dim, hidden_dim)
        self.lstm = nn.LSTM(hidden_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.out = nn.Sequential(nn.Linear(hidden_dim, output_dim), activation(out_activation))

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        single = x.ndim == 2
        if single:
            x = x[:, None]
        y, state = self.lstm(self.embed(x), state)
        y = self.out(y)
        return (y[:, 0] if single else y), state


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: ``x (B, C_in, H, W)``, state ``(h, c)`` each ``(B, C_h, H, W)``.

    >>> cell = ConvLSTMCell(3, 8)
    >>> h, (h, c) = cell(torch.zeros(2, 3, 16, 16))
    >>> tuple(h.shape)
    (2, 8, 16, 16)
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class GRUSequence(nn.Module):
    """A ``nn.GRUCell`` unrolled over a sequence of inputs, with an optional linear read-out.

    MoCoGAN's motion generator (Tulyakov et al. 2018, ``sergeytulyakov/mocogan`` ``models.py``) is
    ``GRUCell(d, d)`` fed i.i.d. noise ``e_t`` from a random ``h_0``, its hidden states being the
    motion codes (``output_dim=None``). NAVSLP's transient RNN (Aich et al. 2020,
    ``abhishekaich27/Navsynth`` ``models.py``) is ``GRUCell(d_t, 500)`` with a ``Linear(500, d_t)``
    read-out.

    >>> gru = GRUSequence(4, 8, output_dim=4)
    >>> tuple(gru(torch.zeros(3, 5, 4)).shape)
    (3, 5, 4)
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int | None = None) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.cell = nn.GRUCell(input_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, output_dim) if output_dim is not None else nn.Identity()

    def forward(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        """``x (B, T, input_dim)``, ``h0 (B, hidden_dim)`` (zeros if None) -> ``(B, T, output_dim)``."""
        h = h0 if h0 is not None else x.new_zeros(x.shape[0], self.hidden_dim)
        states = []
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
            states.append(h)
        return self.out(torch.stack(states, dim=1))
