"""PSNR for (stochastic) video prediction, streamed.

>>> import torch
>>> from benchmark.metrics.psnr import PeakSignalNoiseRatio
>>> m = PeakSignalNoiseRatio()
>>> target = torch.full((2, 3, 1, 16, 16), 0.5)
>>> m.update(target[:, None] + 0.1, target)  # k = 1 sample, MSE 0.01 everywhere
>>> round(m.compute()["psnr_best"].value, 3)
20.0
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from torch import Tensor

from benchmark.metrics.functional import PSNR_MSE_FLOOR, psnr_frames
from benchmark.metrics.functional.psnr import CHANNEL_REDUCTIONS
from benchmark.metrics.paired import PairedFrameMetric
from benchmark.registry import METRICS

#: the papers' PSNR conventions on [0, 1] frames: SAVP pools the MSE over channels (``tf.image.psnr``);
#: SVG (skimage ``compare_psnr`` per channel) and SRVP average per-channel PSNRs
PRESETS: dict[str, dict[str, Any]] = {
    "savp": {"data_range": 1.0, "channel_reduction": "pooled"},
    "svg": {"data_range": 1.0, "channel_reduction": "per_channel"},
    "srvp": {"data_range": 1.0, "channel_reduction": "per_channel"},
}


@METRICS.register("psnr")
class PeakSignalNoiseRatio(PairedFrameMetric):
    """Per-frame PSNR (peak 1 on [0, 1] frames), time-averaged, best/mean/worst of k samples.

    Args:
        preset: ``"savp"`` (default settings), ``"svg"`` or ``"srvp"``: a paper's conventions
            (:data:`PRESETS`); explicit ``data_range`` / ``channel_reduction`` override it.
        data_range: the peak value (1 for [0, 1] frames).
        channel_reduction: ``"pooled"`` (MSE over channels and pixels) or ``"per_channel"`` (mean of
            per-channel PSNRs).
        mse_floor: MSE clamp so identical frames give a finite PSNR (default 1e-10 -> at most 100 dB).
        num_frames: see :class:`~benchmark.metrics.paired.PairedFrameMetric`.
        **kwargs: forwarded to ``torchmetrics.Metric``.

    ``update(samples (B, k, p, C, H, W), target (B, p, C, H, W))``; ``compute()`` returns
    ``psnr_best``, ``psnr_mean``, ``psnr_worst``.
    """

    name: ClassVar[str] = "psnr"
    higher_is_better: ClassVar[bool] = True
    display_order: ClassVar[int] = 0
    # log scale: 0.5 dB is ~12% in MSE, while bugs move it by dB
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.5, "rel": 0.0}
    def __init__(self, mse_floor: float = PSNR_MSE_FLOOR, num_frames: int | None = None, preset: str | None = None,
                 data_range: float | None = None, channel_reduction: str | None = None, **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"psnr: preset must be one of {tuple(PRESETS)}, got {preset!r}")
        base = PRESETS[preset or "savp"]
        self.preset = preset
        self.data_range = float(base["data_range"] if data_range is None else data_range)
        self.channel_reduction = base["channel_reduction"] if channel_reduction is None else channel_reduction
        if self.channel_reduction not in CHANNEL_REDUCTIONS:
            raise ValueError(f"psnr: channel_reduction must be one of {CHANNEL_REDUCTIONS}, "
                             f"got {self.channel_reduction!r}")
        self.mse_floor = float(mse_floor)

    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        return psnr_frames(samples, target, data_range=self.data_range, mse_floor=self.mse_floor,
                           channel_reduction=self.channel_reduction)

    def protocol(self) -> dict[str, Any]:
        mse = ("mean over all channels and pixels of a frame (float64)" if self.channel_reduction == "pooled"
               else "per channel over its pixels; the frame's PSNR is the mean of the channel PSNRs (float64)")
        return {**super().protocol(), "preset": self.preset, "data_range": self.data_range,
                "max_value": self.data_range, "channel_reduction": self.channel_reduction, "mse": mse,
                "mse_floor": self.mse_floor,
                "max_psnr_db": 10.0 * math.log10(self.data_range ** 2 / self.mse_floor)}
