"""FCS — Frame Consistency Score (Aich et al. 2020), streamed. Higher is better.

Per video, the mean SSIM of its frames against its first frame; FCS is the mean over videos (see
:mod:`benchmark.metrics.functional.fcs` for the choices the paper leaves open). Report the value of
the real data alongside as the bound.

>>> import torch
>>> from benchmark.metrics.fcs import FrameConsistencyScore
>>> m = FrameConsistencyScore()
>>> m.update(torch.rand(3, 1, 1, 16, 16).expand(3, 4, 1, 16, 16))  # static videos
>>> m.compute()["fcs"].value
1.0
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric, mean_ci
from benchmark.metrics.functional import frame_consistency
from benchmark.metrics.ssim import ssim_protocol
from benchmark.registry import METRICS
from benchmark.video import check_videos


@METRICS.register("fcs")
class FrameConsistencyScore(VideoMetric):
    """Streaming FCS over a set of videos.

    Args:
        include_first: count frame 1 vs itself in each video's average (the paper's "all frames";
            default) or average frames 2..T only.
        **kwargs: forwarded to ``torchmetrics.Metric``.

    ``update(videos (N, T, C, H, W))`` floats in [0, 1], H, W >= 11; ``compute()`` returns
    ``{"fcs": MetricValue}`` with a 95% CI over videos and ``n`` = number of videos.
    """

    kind: ClassVar[str] = "intrinsic"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = True
    name: ClassVar[str] = "fcs"
    display_order: ClassVar[int] = 6
    #: a frozen or blank video scores 1.0: more is not better, real data's own score is the target
    best_rule: ClassVar[str] = "closest_to_real"
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.02, "rel": 0.0}  # bounded in [0, 1], as SSIM
    window_size: ClassVar[int] = 11
    sigma: ClassVar[float] = 1.5
    data_range: ClassVar[float] = 1.0

    def __init__(self, include_first: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.include_first = bool(include_first)
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("n", zero.clone(), dist_reduce_fx="sum")
        self.add_state("total", zero.clone(), dist_reduce_fx="sum")
        self.add_state("total_sq", zero.clone(), dist_reduce_fx="sum")

    def update(self, videos: Tensor) -> None:  # type: ignore[override]
        """Add videos ``(N, T, C, H, W)``, float in [0, 1]."""
        check_videos(videos, "videos")
        per_video = frame_consistency(videos, include_first=self.include_first, window_size=self.window_size,
                                      sigma=self.sigma, data_range=self.data_range).to(self.n.device)
        self.n += per_video.numel()
        self.total += per_video.sum()
        self.total_sq += per_video.square().sum()

    def compute(self) -> dict[str, MetricValue]:
        n = int(round(float(self.n)))
        if n == 0:
            raise RuntimeError("fcs: compute() called before any update (no videos scored)")
        mean, lo, hi = mean_ci(self.total, self.total_sq, n)
        return {"fcs": MetricValue(value=float(mean), ci_low=float(lo), ci_high=float(hi), n=n,
                                   higher_is_better=True, extra={"include_first_frame": self.include_first})}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": True,
                "definition": "per video: mean over frames of SSIM(frame t, frame 1); FCS: mean over videos",
                "reference_frame": "first frame of each video",
                "include_first_frame": self.include_first,
                "ssim": ssim_protocol(self.window_size, self.sigma, True, False, self.data_range),
                "ci": "normal 95% over videos: mean ± 1.96·s/√n (s with n−1); NaN for n < 2",
                "bound": "the same score on real videos (score reports it as fcs_real)"}
