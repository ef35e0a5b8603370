"""Helpers shared by the tests of the moving copy sources (``methods.common.warp.VelocityNet`` in the
conv_lstm baseline, svg, p2p, vrnn_hier, sv2p and savp)."""

from __future__ import annotations

import torch

from methods.common.warp import VelocityNet


@torch.no_grad()
def saturate_along_x(net: VelocityNet) -> None:
    """Make ``net`` output its largest value along +x everywhere, whatever it reads: its last conv's
    weights zeroed and a bias that saturates the tanh (``tanh(10) = 1`` in float32)."""
    net.net[-1].weight.zero_()
    net.net[-1].bias.copy_(torch.tensor([10.0, 0.0]))


def dot_columns(frames: torch.Tensor, row: int = 16) -> list[int]:
    """The column of the brightest pixel of ``row`` in each single-channel frame of ``frames (T, 1, H, W)``."""
    return [int(f[0, row].argmax()) for f in frames]
