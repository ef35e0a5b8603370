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


#: the papers' SSIM conventions on [0, 1] frames. SAVP and SRVP: 11x11 Gaussian window (σ 1.5),
#: population covariances, data range 1. SVG: skimage's ``compare_ssim`` defaults, a 7x7 uniform
#: window with sample covariances, and data range 2 (skimage's range of a float dtype, [-1, 1], applied
#: to SVG's [0, 1] frames)
PRESETS: dict[str, dict[str, Any]] = {
    "savp": {"window_size": 11, "sigma": 1.5, "gaussian": True, "sample_covariance": False, "data_range": 1.0},
    "svg": {"window_size": 7, "sigma": 1.5, "gaussian": False, "sample_covariance": True, "data_range": 2.0},
    "srvp": {"window_size": 11, "sigma": 1.5, "gaussian": True, "sample_covariance": False, "data_range": 1.0},
}


@METRICS.register("ssim")
class StructuralSimilarity(PairedFrameMetric):
    """Per-frame SSIM, time-averaged, best/mean/worst of k samples.

    Defaults follow SAVP/SRVP: 11x11 Gaussian window, σ = 1.5, data range 1, K1 = 0.01,
    K2 = 0.03, population covariances, per channel averaged. ``preset="svg"`` reproduces SVG's
    evaluation (skimage's default 7x7 uniform window, sample covariances and data range 2 on [0, 1]
    frames); the protocol records the preset and every setting.

    Args:
        preset: ``"savp"`` (the defaults), ``"svg"`` or ``"srvp"`` (:data:`PRESETS`); explicit
            arguments override it.
        data_range: L in C1 = (K1·L)², C2 = (K2·L)².
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

    def __init__(self, window_size: int | None = None, sigma: float | None = None, gaussian: bool | None = None,
                 sample_covariance: bool | None = None, num_frames: int | None = None, preset: str | None = None,
                 data_range: float | None = None, **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"ssim: preset must be one of {tuple(PRESETS)}, got {preset!r}")
        given = {"window_size": window_size, "sigma": sigma, "gaussian": gaussian,
                 "sample_covariance": sample_covariance, "data_range": data_range}
        opts = {**PRESETS[preset or "savp"], **{k: v for k, v in given.items() if v is not None}}
        self.preset = preset
        self.window_size, self.sigma = int(opts["window_size"]), float(opts["sigma"])
        self.gaussian, self.sample_covariance = bool(opts["gaussian"]), bool(opts["sample_covariance"])
        self.data_range = float(opts["data_range"])

    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        return ssim_frames(samples, target, data_range=self.data_range, window_size=self.window_size,
                           sigma=self.sigma, gaussian=self.gaussian, sample_covariance=self.sample_covariance)

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "preset": self.preset,
                **ssim_protocol(self.window_size, self.sigma, self.gaussian, self.sample_covariance, self.data_range)}
