"""TEMPLATE model: plain ``nn.Module``s built from explicit arguments.

Rules (an import-rule test checks them): ``model.py`` imports only ``torch`` and ``methods.common``
(shared building blocks: DCGAN encoders/decoders, conv-LSTM/GRU cells, 3D generators, init), never
the harness (``benchmark``) nor another paper's package. Shapes in docstrings; comments say why.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.common import init_normal_


class NextFramePredictor(nn.Module):
    """Frame ``t`` -> frame ``t + 1`` as a residual update: ``x + tanh(f(x))``, clamped to [0, 1].

    Args:
        channels: frame channels C.
        width: hidden conv channels.
    """

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1),
        )
        init_normal_(self, std=0.02)

    def forward(self, frame: Tensor) -> Tensor:
        """``(B, C, H, W)`` in [0, 1] -> the next frame ``(B, C, H, W)`` in [0, 1]."""
        return (frame + torch.tanh(self.net(frame))).clamp(0, 1)

    def rollout(self, last: Tensor, steps: int) -> Tensor:
        """``steps`` frames ``(B, steps, C, H, W)`` after ``last (B, C, H, W)``, feeding predictions back."""
        frames = []
        for _ in range(steps):
            last = self(last)
            frames.append(last)
        return torch.stack(frames, dim=1)
