"""SSIM for (stochastic) video prediction, streamed.

>>> import torch
>>> from benchmark.metrics.ssim import StructuralSimilarity
>>> m = StructuralSimilarity()
>>> target = torch.rand(2, 3, 1, 16, 16)
>>> m.update(target[:, None], target)
>>> round(m.compute()["ssim_best"].value, 6)
1.0
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from benchmark.metrics.functional import ssim_frames
from benchmark.metrics.paired import PairedFrameMetric
from benchmark.registry import METRICS


def ssim_protocol(window_size: int, sigma: float, gaussian: bool, sample_covariance: bool,
                  data_range: float = 1.0, k1: float = 0.01, k2: float = 0.03) -> dict[str, Any]:
    """The SSIM settings as recorded in protocols (shared with FCS)."""
    return {
        "window": "gaussian" if gaussian else "uniform", "window_size": window_size,
        "sigma": sigma if gaussian else None, "data_range": data_range, "k1": k1, "k2": k2,
        "covariance": "sample (n-1)" if sample_covariance else "population (use_sample_covariance=False)",
        "border": "valid region only (skimage crops (window_size-1)/2 pixels)",
        "color": "per channel, then mean over channels (grayscale frames: the one channel)",
        "matches": (f"skimage.metrics.structural_similarity(gaussian_weights={gaussian}, "
                    + (f"sigma={sigma}, " if gaussian else f"win_size={window_size}, ")
                    + f"use_sample_covariance={sample_covariance}, data_range={data_range}, channel_axis=C)"),
    }


@METRICS.register("ssim")
class StructuralSimilarity(PairedFrameMetric):
    """Per-frame SSIM, time-averaged, best/mean/worst of k samples.

    Defaults follow SAVP/SRVP: 11x11 Gaussian window, σ = 1.5, data range 1, K1 = 0.01,
    K2 = 0.03, population covariances, per channel averaged. ``gaussian=False, window_size=7,
    sample_covariance=True`` reproduces SVG's evaluation (skimage's default 7x7 uniform window);
    the protocol records which.

    Args:
        window_size: window side (odd).
        sigma: Gaussian σ (ignored for a uniform window).
        gaussian: Gaussian (True) or uniform window.
        sample_covariance: unbiased local (co)variances.
        num_frames: see :class:`~benchmark.metrics.paired.PairedFrameMetric`.
        **kwargs: forwarded to ``torchmetrics.Metric``.

    ``update(samples (B, k, p, C, H, W), target (B, p, C, H, W))``; ``compute()`` returns
    ``ssim_best``, ``ssim_mean``, ``ssim_worst``.
    """

    name: ClassVar[str] = "ssim"
    display_order: ClassVar[int] = 1
    # bounded in [0, 1]; window or range bugs move it by more than 0.05
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.02, "rel": 0.0}
    higher_is_better: ClassVar[bool] = True
    data_range: ClassVar[float] = 1.0

    def __init__(self, window_size: int = 11, sigma: float = 1.5, gaussian: bool = True,
                 sample_covariance: bool = False, num_frames: int | None = None, **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        self.window_size, self.sigma = int(window_size), float(sigma)
        self.gaussian, self.sample_covariance = bool(gaussian), bool(sample_covariance)

    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        return ssim_frames(samples, target, data_range=self.data_range, window_size=self.window_size,
                           sigma=self.sigma, gaussian=self.gaussian, sample_covariance=self.sample_covariance)

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), **ssim_protocol(self.window_size, self.sigma, self.gaussian,
                                                      self.sample_covariance, self.data_range)}
