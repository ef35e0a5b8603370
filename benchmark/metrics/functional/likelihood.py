"""Bits per dimension from a log-likelihood: the likelihood models' metric (lower is better).

A video of ``D = frames x C x H x W`` dimensions with log-likelihood ``log p`` nats scores
``-log p / (D ln 2)`` bits per dimension. With 256 discrete levels a model that puts equal mass
on every level scores exactly 8; a continuous density over uniformly dequantised levels (values
``(x + u) / 256``, ``u ~ U[0, 1)``) gives an upper bound on the discrete codelength once the
``D log 256`` change of variables is included, which the method reports in its nats.

>>> import math, torch
>>> bits_per_dim(torch.tensor([-8 * math.log(2) * 12.0], dtype=torch.float64), 12).tolist()
[8.0]
"""

from __future__ import annotations

import math

from torch import Tensor


def bits_per_dim(nats: Tensor, dims: int) -> Tensor:
    """Per-video bits per dimension ``(B,)`` (float64) of log-likelihoods ``nats (B,)`` over ``dims`` dimensions."""
    if dims <= 0:
        raise ValueError(f"bits_per_dim: dims must be > 0, got {dims}")
    return -nats.double() / (dims * math.log(2.0))
