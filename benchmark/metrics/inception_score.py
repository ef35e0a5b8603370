"""Inception Score of frames (``is_frame``) and FID per frame (``fid_frame``), streamed.

IS state per split: count, sum of p(y|x) and sum of p log p (float64), so batches and processes merge by
addition. Streaming cannot know N in advance, so frames are assigned to the ``splits`` splits
round-robin by arrival order (the reference cuts N into contiguous chunks; with splits=1 both agree).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric
from benchmark.metrics.functional.inception_score import group_stats, scores_from_stats
from benchmark.metrics.fvd import FrechetFeatureMetric
from benchmark.registry import METRICS
from benchmark.video import check_videos


class InceptionScoreBase(VideoMetric):
    """Streaming IS from class probabilities given by ``self.probs(videos) -> (M, K)``."""

    kind: ClassVar[str] = "intrinsic"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = True
    requires_weights: ClassVar[bool] = True
    name: ClassVar[str] = "is"
    display_order: ClassVar[int] = 5
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.05, "rel": 0.02}  # exp of a KL: small changes are amplified

    def __init__(self, num_classes: int, splits: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.splits = int(splits)
        z = torch.zeros(self.splits, dtype=torch.float64)
        self.add_state("split_n", z.clone(), dist_reduce_fx="sum")
        self.add_state("split_sum_p", torch.zeros(self.splits, num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("split_sum_plogp", z.clone(), dist_reduce_fx="sum")
        self._seen = 0

    def probs(self, videos: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def update_probs(self, p: Tensor) -> None:
        groups = (torch.arange(len(p)) + self._seen) % self.splits
        self._seen += len(p)
        n, s, e = group_stats(p, groups, self.splits)
        self.split_n += n.to(self.split_n.device)
        self.split_sum_p += s.to(self.split_n.device)
        self.split_sum_plogp += e.to(self.split_n.device)

    def update(self, videos: Tensor) -> None:  # type: ignore[override]
        check_videos(videos, "videos")
        self.update_probs(self.probs(videos))

    def compute(self) -> dict[str, MetricValue]:
        scores = scores_from_stats(self.split_n, self.split_sum_p, self.split_sum_plogp)
        if len(scores) == 0:
            raise RuntimeError(f"{self.name}: compute() called before any update")
        std = float(scores.std(unbiased=False)) if len(scores) > 1 else 0.0
        extra = {"std": std, "splits": self.splits, "n": int(self.split_n.sum()), "comparable": self.comparable}
        return {self.name: MetricValue(value=float(scores.mean()), n=int(self.split_n.sum()),
                                       higher_is_better=True, extra=extra)}

    comparable = True


@METRICS.register("is_frame")
class FrameInceptionScore(InceptionScoreBase):
    """Frame IS with the FID Inception (2015-12-05, 1008 classes, logits without bias), 10 splits."""

    name: ClassVar[str] = "is_frame"
    weight_names: ClassVar[tuple[str, ...]] = ("inception_fid",)

    def __init__(self, splits: int = 10, weights: str = "pinned", weights_path: str | None = None,
                 extractor: Any = None, cache_dir: str | Path | None = None, device: str = "cpu",
                 **kwargs: Any) -> None:
        if extractor is None:
            from benchmark.metrics.extractors.inception import InceptionFrameFeatures

            extractor = InceptionFrameFeatures(weights=weights, weights_path=weights_path, device=device)
        self.extractor = extractor
        super().__init__(num_classes=1008, splits=splits, **kwargs)

    @property
    def comparable(self) -> bool:  # type: ignore[override]
        return bool(self.extractor.weights.comparable)

    def probs(self, videos: Tensor) -> Tensor:
        return torch.softmax(self.extractor.logits(videos).double(), dim=1)

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "features": self.extractor.protocol(),
                "splits": self.splits, "split_assignment": "round-robin by frame order",
                "softmax": "float64", "comparable": self.comparable}


@METRICS.register("fid_frame")
class FrameFrechetInceptionDistance(FrechetFeatureMetric):
    """FID over all frames (2048-d pool features of the FID Inception), as several video papers report."""

    name: ClassVar[str] = "fid_frame"
    display_order: ClassVar[int] = 4
    drift_band: ClassVar[dict[str, float]] = {"abs": 1.0, "rel": 0.05}
    weight_names: ClassVar[tuple[str, ...]] = ("inception_fid",)

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, extractor: Any = None,
                 cache_dir: str | Path | None = None, device: str = "cpu", **kwargs: Any) -> None:
        if extractor is None:
            from benchmark.metrics.extractors.inception import InceptionFrameFeatures

            extractor = InceptionFrameFeatures(weights=weights, weights_path=weights_path, device=device)
        super().__init__(extractor=extractor, cache_dir=cache_dir, **kwargs)
