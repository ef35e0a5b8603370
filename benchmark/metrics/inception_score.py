"""Inception Score of frames (``is_frame``) and FID per frame (``fid_frame``), streamed.

IS state per video: its frame count, sum of p(y|x) and sum of p log p (float64), concatenated across
batches and processes. ``compute()`` puts the videos in a seeded random order and cuts them into
``splits`` contiguous chunks of whole videos, as the reference cuts its samples into contiguous chunks:
frames of one video (strongly correlated) never spread over several splits, which would inflate IS.
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
    """Streaming IS from class probabilities given by ``self.probs(videos) -> (M, K)``.

    State per item (a video; for video IS one clip): its row count ``n``, ``sum p (K,)`` and
    ``sum p log p`` (float64, concatenated across batches and processes), plus the seen-counter
    ``n_seen`` (items so far; summed on merge, zeroed by ``reset()``). ``compute()`` orders the items
    by a permutation drawn from ``seed`` (``None``: arrival order) and cuts them into ``splits``
    contiguous chunks of whole items, as the reference cuts its N samples; the seeded order makes the
    score independent of the order the data arrive in (real clips often arrive sorted by class).
    """

    kind: ClassVar[str] = "intrinsic"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = True
    requires_weights: ClassVar[bool] = True
    name: ClassVar[str] = "is"
    display_order: ClassVar[int] = 5
    #: bounded by real data: a set scoring above the real clips is not better than them
    best_rule: ClassVar[str] = "closest_to_real"
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.05, "rel": 0.02}  # exp of a KL: small changes are amplified

    def __init__(self, num_classes: int, splits: int = 10, seed: int | None = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.splits, self.num_classes = int(splits), int(num_classes)
        self.seed = None if seed is None else int(seed)
        self.add_state("item_n", [], dist_reduce_fx="cat")
        self.add_state("item_sum_p", [], dist_reduce_fx="cat")
        self.add_state("item_sum_plogp", [], dist_reduce_fx="cat")
        self.add_state("n_seen", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def probs(self, videos: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def update_probs(self, p: Tensor, items: Tensor | None = None) -> None:
        """Add ``p (M, K)``; ``items (M,)`` numbers the item (video) of each row 0..I-1 (default: each
        row its own item)."""
        items = torch.arange(len(p)) if items is None else items.to(torch.long).cpu()
        count = int(items.max()) + 1 if len(items) else 0
        n, s, e = group_stats(p.cpu(), items, count)
        self.item_n.append(n)
        self.item_sum_p.append(s)
        self.item_sum_plogp.append(e)
        self.n_seen += count

    def update(self, videos: Tensor) -> None:  # type: ignore[override]
        check_videos(videos, "videos")
        self.update_probs(self.probs(videos))

    def _items(self) -> tuple[Tensor, Tensor, Tensor]:
        """Every item's ``n (I,)``, ``sum p (I, K)``, ``sum p log p (I,)`` in the seeded order."""
        def cat(x: Any, *shape: int) -> Tensor:
            if isinstance(x, Tensor):
                return x.to(torch.float64).cpu()
            return torch.cat(x).to(torch.float64).cpu() if x else torch.zeros(0, *shape, dtype=torch.float64)

        n, s, e = cat(self.item_n), cat(self.item_sum_p, self.num_classes), cat(self.item_sum_plogp)
        if self.seed is not None and len(n) > 1:
            order = torch.randperm(len(n), generator=torch.Generator().manual_seed(self.seed))
            n, s, e = n[order], s[order], e[order]
        return n, s, e

    def _split_scores(self) -> tuple[Tensor, int]:
        """IS of each split and the number of rows (frames or clips) scored."""
        n, s, e = self._items()
        if len(n) == 0:
            raise RuntimeError(f"{self.name}: compute() called before any update")
        groups = torch.arange(len(n)) * self.splits // len(n)  # contiguous chunks, as the reference
        return scores_from_stats(*_sum_groups(n, s, e, groups, self.splits)), int(n.sum())

    def compute(self) -> dict[str, MetricValue]:
        scores, total = self._split_scores()
        std = float(scores.std(unbiased=False)) if len(scores) > 1 else 0.0
        extra = {"std": std, "splits": self.splits, "n": total, "items": int(self.n_seen), "seed": self.seed,
                 "comparable": self.comparable}
        if not self.comparable:
            extra["not_comparable_reason"] = (getattr(getattr(self, "extractor", None), "not_comparable_reason", "")
                                              or "weights not pinned")
        return {self.name: MetricValue(value=float(scores.mean()), n=total, higher_is_better=True, extra=extra)}

    comparable = True


def _sum_groups(n: Tensor, s: Tensor, e: Tensor, groups: Tensor, count: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group sums of per-item statistics (``groups (I,)`` in 0..count-1)."""
    return (torch.zeros(count, dtype=torch.float64).index_add_(0, groups, n),
            torch.zeros(count, s.shape[1], dtype=torch.float64).index_add_(0, groups, s),
            torch.zeros(count, dtype=torch.float64).index_add_(0, groups, e))


@METRICS.register("is_frame")
class FrameInceptionScore(InceptionScoreBase):
    """Frame IS with the FID Inception (2015-12-05, 1008 classes, logits without bias), 10 splits."""

    name: ClassVar[str] = "is_frame"
    weight_names: ClassVar[tuple[str, ...]] = ("inception_fid",)

    def __init__(self, splits: int = 10, weights: str = "pinned", weights_path: str | None = None,
                 extractor: Any = None, cache_dir: str | Path | None = None, device: str = "cpu",
                 precision: str = "float32", seed: int | None = 0, **kwargs: Any) -> None:
        if extractor is None:
            from benchmark.metrics.extractors.inception import InceptionFrameFeatures

            extractor = InceptionFrameFeatures(weights=weights, weights_path=weights_path, device=device,
                                               precision=precision)
        self.extractor = extractor
        super().__init__(num_classes=1008, splits=splits, seed=seed, **kwargs)

    @property
    def comparable(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.extractor, "comparable", self.extractor.weights.comparable))

    def probs(self, videos: Tensor) -> Tensor:
        """``(N*T, K)`` frame probabilities, video-major (the extractor flattens ``(N, T)``)."""
        return torch.softmax(self.extractor.logits(videos).double(), dim=1)

    def update(self, videos: Tensor) -> None:  # type: ignore[override]
        check_videos(videos, "videos")
        n, t = videos.shape[:2]
        self.update_probs(self.probs(videos), items=torch.arange(n).repeat_interleave(t))

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "features": self.extractor.protocol(),
                "splits": self.splits, "seed": self.seed,
                "split_assignment": "whole videos, in a permutation drawn from seed (arrival order if None), "
                                    "cut into contiguous chunks",
                "softmax": "float64", "comparable": self.comparable}


@METRICS.register("fid_frame")
class FrameFrechetInceptionDistance(FrechetFeatureMetric):
    """FID over all frames (2048-d pool features of the FID Inception), as several video papers report."""

    name: ClassVar[str] = "fid_frame"
    display_order: ClassVar[int] = 4
    drift_band: ClassVar[dict[str, float]] = {"abs": 1.0, "rel": 0.05}
    weight_names: ClassVar[tuple[str, ...]] = ("inception_fid",)
    same_length: ClassVar[bool] = False  # frames are pooled: clips of different lengths are fine

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, extractor: Any = None,
                 cache_dir: str | Path | None = None, device: str = "cpu", precision: str = "float32",
                 **kwargs: Any) -> None:
        if extractor is None:
            from benchmark.metrics.extractors.inception import InceptionFrameFeatures

            extractor = InceptionFrameFeatures(weights=weights, weights_path=weights_path, device=device,
                                               precision=precision)
        super().__init__(extractor=extractor, cache_dir=cache_dir, **kwargs)
