"""Per-frame PSNR for frames in [0, 1] (peak value 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from benchmark.metrics.functional._frames import map_frame_pairs

#: MSE floor. Identical frames have MSE 0 and an infinite PSNR; the MSE is clamped to this floor so
#: every per-frame PSNR is finite and time/sequence averages stay meaningful. With ``data_range=1``
#: the largest possible PSNR is ``10·log10(1/1e-10) = 100`` dB. (Exact 8-bit frames that differ at
#: all have MSE >= 1/(255²·C·H·W), far above the floor, so only exact copies are affected.)
PSNR_MSE_FLOOR = 1e-10


CHANNEL_REDUCTIONS = ("pooled", "per_channel")


def psnr_frames(x: Tensor, y: Tensor, data_range: float = 1.0, mse_floor: float = PSNR_MSE_FLOOR,
                chunk: int | None = None, channel_reduction: str = "pooled") -> Tensor:
    """PSNR of every frame pair, ``10·log10(data_range² / max(MSE, mse_floor))``, in float64.

    ``channel_reduction="pooled"`` (SAVP, ``tf.image.psnr``): the MSE is the mean over all channels
    and pixels of one frame. ``"per_channel"`` (SVG, SRVP): one PSNR per channel (MSE over its
    pixels), then the mean of those PSNRs. The two agree for one channel.

    Args:
        x: frames ``(..., C, H, W)``, float in [0, data_range].
        y: frames ``(..., C, H, W)``; leading dims broadcast against ``x``.
        data_range: peak signal value (1 for [0, 1] frames).
        mse_floor: lower clamp of the MSE (see :data:`PSNR_MSE_FLOOR`).
        chunk: frames processed at once (bounds memory only; default from the frame size).
        channel_reduction: ``"pooled"`` or ``"per_channel"`` (see above).

    Returns:
        float64 tensor with the broadcast leading shape ``(...)``.

    >>> import torch
    >>> x = torch.zeros(2, 3, 1, 8, 8)
    >>> psnr_frames(x, x + 0.1)  # MSE 0.01 -> 20 dB
    tensor([[20.0000, 20.0000, 20.0000],
            [20.0000, 20.0000, 20.0000]], dtype=torch.float64)
    """
    if channel_reduction not in CHANNEL_REDUCTIONS:
        raise ValueError(f"psnr: channel_reduction must be one of {CHANNEL_REDUCTIONS}, got {channel_reduction!r}")
    log_peak = 20.0 * math.log10(data_range)

    def fn(a: Tensor, b: Tensor) -> Tensor:
        # a (G, R, C, H, W) against the frame b (G, 1, C, H, W) they share: b is cast to float64 once
        if channel_reduction == "per_channel":
            mse = (a - b).square_().flatten(3).mean(3)  # (G, R, C)
            return (log_peak - 10.0 * torch.log10(mse.clamp_min(mse_floor))).mean(2)
        mse = (a - b).square_().flatten(2).mean(2)
        return log_peak - 10.0 * torch.log10(mse.clamp_min(mse_floor))

    return map_frame_pairs(fn, x, y, chunk=chunk, grouped=True)
