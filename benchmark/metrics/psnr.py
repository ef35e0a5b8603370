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
from benchmark.metrics.paired import PairedFrameMetric
from benchmark.registry import METRICS


@METRICS.register("psnr")
class PeakSignalNoiseRatio(PairedFrameMetric):
    """Per-frame PSNR (peak 1 on [0, 1] frames), time-averaged, best/mean/worst of k samples.

    Args:
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
    data_range: ClassVar[float] = 1.0

    def __init__(self, mse_floor: float = PSNR_MSE_FLOOR, num_frames: int | None = None, **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        self.mse_floor = float(mse_floor)

    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        return psnr_frames(samples, target, data_range=self.data_range, mse_floor=self.mse_floor)

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "data_range": self.data_range, "max_value": self.data_range,
                "mse": "mean over all channels and pixels of a frame (float64)",
                "mse_floor": self.mse_floor,
                "max_psnr_db": 10.0 * math.log10(self.data_range ** 2 / self.mse_floor)}
