"""Diversity of stochastic predictions (Lee et al. 2018, SAVP, arXiv 1804.01523), streamed.

For each test sequence: the distance between every unordered pair of its k samples, frame by frame,
averaged over the k(k-1)/2 pairs -> a per-timestep curve; the sequence's score is the curve's mean,
and the metric the mean over sequences (normal 95% CI). Ground truth is not used. k = 1 (a
deterministic method) gives 0.

* ``diversity``: the SAVP paper's distance, the VGG cosine *distance* ``1 - vgg_cosine`` (needs the
  pinned VGG16; see :mod:`benchmark.metrics.vgg_cosine` for the network and its protocol). SAVP's code
  (after the paper) later used LPIPS between consecutive samples among the first 10; the protocol
  records which definition this is.
* ``diversity_l1``: the mean absolute pixel difference (no weights: every run reports it).

Higher means more diverse; it is not a quality score (noise is diverse), so no "best" is implied.

>>> import torch
>>> from benchmark.metrics.diversity import PixelDiversity
>>> m = PixelDiversity()
>>> s = torch.zeros(1, 2, 3, 1, 4, 4); s[:, 1] = 0.5      # two samples half a unit apart everywhere
>>> m.update(s, torch.zeros(1, 3, 1, 4, 4))
>>> m.compute()["diversity_l1"].value
0.5
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric, mean_ci
from benchmark.metrics.functional.cosine import mean_pairwise, mean_pairwise_l1, pairwise_cosine_similarity
from benchmark.metrics.paired import check_paired
from benchmark.registry import METRICS

PAIRS = "all k(k-1)/2 unordered pairs of the k samples of a sequence, per predicted frame, mean over pairs"


class _Diversity(VideoMetric):
    """Mean pairwise distance between the k samples of each sequence; subclasses set the distance."""

    kind: ClassVar[str] = "paired"
    tasks: ClassVar[tuple[str, ...]] = ("prediction",)
    higher_is_better: ClassVar[bool] = True
    name: ClassVar[str] = ""
    display_order: ClassVar[int] = 9  # after the quality scores: it describes the samples, it does not rank them
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.02, "rel": 0.0}  # a mean distance of frames in [0, 1]
    real_bound: ClassVar[bool] = False  # the spread of k samples of one context: a real clip has one
    # More diverse is not better (noise is diverse) and a real clip has no spread to be close to:
    # the leaderboard marks no best value in these columns.
    best_rule: ClassVar[str] = "none"

    def __init__(self, num_frames: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        zero = torch.zeros((), dtype=torch.float64)
        curve = torch.zeros(num_frames or 0, dtype=torch.float64)
        for s in ("n", "samples", "sum", "sumsq"):
            self.add_state(s, zero.clone(), dist_reduce_fx="sum")
        self.add_state("curve_sum", curve.clone(), dist_reduce_fx="sum")
        self.add_state("curve_sumsq", curve.clone(), dist_reduce_fx="sum")

    def _lazy_states(self) -> list[str]:
        return ["curve_sum", "curve_sumsq"]

    def distance(self, x: Tensor, y: Tensor) -> Tensor:
        """``(M, C, H, W)`` frame pairs -> ``(M,)`` distances."""
        raise NotImplementedError

    def pairwise_curve(self, samples: Tensor) -> Tensor:
        """``(B, k, p, C, H, W)`` -> ``(B, p)`` mean pairwise distance (subclasses may do it faster)."""
        return mean_pairwise(samples, self.distance)

    def update(self, samples: Tensor, target: Tensor) -> None:  # type: ignore[override]
        """``samples (B, k, p, C, H, W)``; ``target (B, p, C, H, W)`` is only shape-checked."""
        check_paired(samples, target)
        curves = self.pairwise_curve(samples).to(self.n.device)  # (B, p)
        self._size_lazy_states(curves.shape[1], "predicted frames p", "one metric instance scores one horizon")
        avg = curves.mean(1)
        self.n += curves.shape[0]
        self.samples += curves.shape[0] * samples.shape[1]
        self.sum += avg.sum()
        self.sumsq += avg.square().sum()
        self.curve_sum += curves.sum(0)
        self.curve_sumsq += curves.square().sum(0)

    def compute(self) -> dict[str, MetricValue]:
        n = int(round(float(self.n)))
        if n == 0:
            raise RuntimeError(f"{self.name}: compute() called before any update (no sequences scored)")
        mean, lo, hi = mean_ci(self.sum, self.sumsq, n)
        c_mean, c_lo, c_hi = mean_ci(self.curve_sum, self.curve_sumsq, n)
        k = float(self.samples) / n
        extra = {"samples_per_sequence": k, "pairs_per_sequence": k * (k - 1) / 2, "num_frames": int(c_mean.numel())}
        if k < 2:
            extra["note"] = "one sample per sequence: no pairs, diversity 0"
        return {self.name: MetricValue(value=float(mean), ci_low=float(lo), ci_high=float(hi), n=n,
                                       curve=c_mean.tolist(), curve_ci_low=c_lo.tolist(),
                                       curve_ci_high=c_hi.tolist(), higher_is_better=True, extra=extra)}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "pairs": PAIRS, "frame_average": "mean over predicted timesteps",
                "ground_truth": "not used", "ci": "normal 95% over sequences: mean ± 1.96·s/√n (s with n−1)",
                "note": "diversity is not quality: higher is more diverse, not better"}


@METRICS.register("diversity_l1")
class PixelDiversity(_Diversity):
    """Mean pairwise mean-absolute pixel difference of the k samples (frames in [0, 1]); no weights."""

    name: ClassVar[str] = "diversity_l1"

    def distance(self, x: Tensor, y: Tensor) -> Tensor:
        return (x.double() - y.double()).abs().flatten(1).mean(1)

    def pairwise_curve(self, samples: Tensor) -> Tensor:
        return mean_pairwise_l1(samples)

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "distance": "mean |x - y| over pixels and channels, frames in [0, 1]"}


@METRICS.register("diversity")
class VGGCosineDiversity(_Diversity):
    """SAVP's diversity: mean pairwise VGG cosine distance (``1 - vgg_cosine``) of the k samples.

    Args:
        weights, weights_path, network, device, batch_size: as :class:`~benchmark.metrics.vgg_cosine.VGGCosineSimilarity`.
        cache_dir: accepted for the pipeline's uniform call (not used).
        num_frames: the number of predicted frames p, if known (sizes the curve states up front).
    """

    name: ClassVar[str] = "diversity"
    requires_weights: ClassVar[bool] = True
    weight_names: ClassVar[tuple[str, ...]] = ("vgg16_imagenet",)

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, network: Any = None,
                 cache_dir: Any = None, device: str = "cpu", batch_size: int = 64, num_frames: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        from benchmark.metrics.vgg_cosine import attach_vgg_blocks

        attach_vgg_blocks(self, weights, weights_path, network, device, batch_size)

    @property
    def comparable(self) -> bool:
        return bool(self.net.weights.comparable)

    @torch.no_grad()
    def distance(self, x: Tensor, y: Tensor) -> Tensor:
        from benchmark.metrics.functional.cosine import layered_cosine_similarity
        from benchmark.metrics.vgg_cosine import imagenet_input

        out, step = [], max(1, self.batch_size // 2)
        for i in range(0, len(x), step):
            xi = x[i:i + step].to(self.net_device).float()
            yi = y[i:i + step].to(self.net_device).float()
            feats = self.net(imagenet_input(torch.cat([xi, yi])))
            n = len(xi)
            out.append((1 - layered_cosine_similarity([f[:n] for f in feats], [f[n:] for f in feats])).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def pairwise_curve(self, samples: Tensor) -> Tensor:
        """Each sample's features once (k per frame, not 2 per pair), then all pairs as Gram matrices."""
        from benchmark.metrics.vgg_cosine import imagenet_input

        b, k, p = samples.shape[:3]
        if k < 2:
            return torch.zeros(b, p, dtype=torch.float64)
        frames = samples.transpose(1, 2).reshape(b * p, k, *samples.shape[3:])  # the k samples of each frame
        per = max(1, self.batch_size // k)
        iu = torch.triu_indices(k, k, offset=1)
        out = torch.empty(b * p, dtype=torch.float64)
        for i in range(0, b * p, per):
            chunk = frames[i:i + per].to(self.net_device).float()
            n = len(chunk)
            feats = self.net(imagenet_input(chunk.flatten(0, 1)))
            sims = torch.stack([pairwise_cosine_similarity(f.view(n, k, *f.shape[1:])) for f in feats]).mean(0)
            out[i:i + n] = (1 - sims[:, iu[0], iu[1]]).mean(dim=1).cpu()
        return out.view(b, p)

    def compute(self) -> dict[str, MetricValue]:
        out = super().compute()
        for v in out.values():
            v.extra.update({"comparable": self.comparable, "weights": self.net.weights.mode,
                            "weights_sha256": self.net.weights.sha256})
            if not self.comparable:
                v.extra["not_comparable_reason"] = self.net.weights.note or "weights not pinned"
        return out

    def protocol(self) -> dict[str, Any]:
        from benchmark.metrics.vgg_cosine import vgg_protocol

        return {**super().protocol(), **vgg_protocol(self.net), "distance": "1 - VGG cosine similarity (SAVP paper)",
                "comparable": self.comparable}
