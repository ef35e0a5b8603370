"""Convolutional LSTM cells as the TF1 video-prediction codes define them.

:class:`ConvLSTM2dCell` covers both:

* ``norm=None`` – ``tf.contrib.rnn.ConvLSTMCell`` (used by tensor2tensor's SV2P): gates from one
  ``k x k`` convolution over ``[x, h]`` with a bias, order ``i, j, f, o``, forget-gate bias 1.
* ``norm="instance"`` – SAVP's ``BasicConv2DLSTMCell`` with ``normalizer_fn=fused_instance_norm``
  (``alexlee-gk/video_prediction`` ``rnn_ops.py``): the convolution has no bias, one instance norm
  over the concatenated ``4F`` gate pre-activations (``separate_norms=False``, as SAVP uses for any
  norm but layer norm) and one over the new cell state, which is stored normalised.

Both take an optional non-spatial input ``extra (B, E)`` that is tiled over the map and
concatenated to ``x`` (SAVP's ``tile_concat`` of the latent/action vector); its channels are part of
``in_channels``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.common.tf_compat import instance_norm_tf

ConvLSTMState = tuple[Tensor, Tensor]


def tile_concat(x: Tensor, extra: Tensor | None) -> Tensor:
    """``x (B, C, H, W)`` and ``extra (B, E)`` -> ``(B, C + E, H, W)`` (``extra`` repeated over the map)."""
    if extra is None or extra.shape[1] == 0:
        return x
    return torch.cat([x, extra[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)


class ConvLSTM2dCell(nn.Module):
    """One step: ``x (B, in_channels, H, W)``, state ``(c, h)`` each ``(B, hidden, H, W)``.

    >>> cell = ConvLSTM2dCell(3, 8, norm="instance")
    >>> h, (c, h) = cell(torch.zeros(2, 3, 16, 16))
    >>> tuple(h.shape), sum(p.numel() for p in cell.parameters())  # 5*5*(3+8)*32 + 2*32 + 2*8
    ((2, 8, 16, 16), 8880)
    """

    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 5, norm: str | None = None,
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        if norm not in (None, "instance"):
            raise ValueError(f"ConvLSTM2dCell: norm must be None or 'instance', got {norm!r}")
        self.hidden, self.forget_bias = hidden, forget_bias
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2,
                               bias=norm is None)
        self.gate_norm = instance_norm_tf(4 * hidden) if norm else None
        self.state_norm = instance_norm_tf(hidden) if norm else None

    def forward(self, x: Tensor, state: ConvLSTMState | None = None) -> tuple[Tensor, ConvLSTMState]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        c, h = state
        z = self.gates(torch.cat([x, h], dim=1))
        if self.gate_norm is not None:
            z = self.gate_norm(z)
        i, j, f, o = z.chunk(4, dim=1)
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        if self.state_norm is not None:
            c = self.state_norm(c)
        h = torch.tanh(c) * torch.sigmoid(o)
        return h, (c, h)
