"""Metrics on the moving-shapes evaluator (dataset-specific; no download: its weights ship with the code).

* ``fvd_shapes`` (set, lower is better): the Fréchet distance between the evaluator's 64-d
  penultimate features of real and generated clips (16 frames; float64 streaming moments, unbiased
  covariance, the FVD square root). Real test vs real val is its floor; biased at small N, so
  compare only at equal N (both recorded).
* ``is_shapes`` (intrinsic, higher is better): the Inception-Score form exp(E KL(p(y|x) || p(y)))
  over the evaluator's joint class y = (the clip's set of shapes, its set of motion directions):
  6 x 10 = 60 classes, p(y|x) the product of the two heads' softmaxes. Its real-data value is the
  bound a good generator approaches (it rewards recognisable, diverse *and* moving objects; colour
  and background are left out as the easy factors); one split.
* ``factors_shapes`` (paired, prediction, higher is better): factor consistency. For each
  predicted future and the true future of the same context, the evaluator's predicted classes are
  compared factor by factor: static (background, object count, the objects' shapes, colours and
  sizes: "does it keep the context's content?") and motion (the objects' directions and speeds:
  "does it continue the motion?"). A sample's score is the mean of its static agreement and its motion agreement
  (each the fraction of those factors that agree), in [0, 1]; the true future scores 1. Best / mean
  / worst over the k samples per context, as PSNR/SSIM; ``factors_shapes_static`` and
  ``factors_shapes_motion`` are the two halves averaged over all samples, and every factor's
  agreement rate is in ``extra``.

All three are comparable within vidbench on moving-shapes only, never with published FVD/IS numbers;
every value and protocol says so (``scope``). They run by default on moving-shapes (and on no other
dataset): ``datasets = ("moving-shapes",)``, ``weights_shipped = True`` (read by
:func:`benchmark.evaluate.applicable_metrics`). ``weight_names`` keys the evaluate stage with the
shipped file's sha256, and the ``fvd_shapes`` feature cache is keyed by it and by the evaluator's source.

>>> import torch
>>> from benchmark.metrics.shapes import ShapesFrechetDistance
>>> m = ShapesFrechetDistance(weights="random")      # seeded random evaluator: not comparable
>>> v = torch.rand(4, 16, 3, 32, 32)
>>> m.update(v, real=True); m.update(v, real=False)
>>> m.compute()["fvd_shapes"].value < 1e-6
True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.data.moving_shapes_factors import FACTORS
from benchmark.metrics.base import MetricValue, VideoMetric, mean_ci
from benchmark.metrics.extractors.shapes_evaluator import FRAMES, SCOPE, WEIGHTS_NAME, ShapesEvaluator
from benchmark.metrics.fvd import FrechetFeatureMetric
from benchmark.metrics.inception_score import InceptionScoreBase
from benchmark.metrics.paired import REDUCTIONS, check_paired
from benchmark.registry import METRICS

DATASETS = ("moving-shapes",)
#: the joint class of ``is_shapes``: these heads' classes, in this order
IS_FACTORS = ("shapes", "directions")
STATIC = tuple(f.name for f in FACTORS if f.kind == "static")
MOTION = tuple(f.name for f in FACTORS if f.kind == "motion")


def build_evaluator(weights: str = "pinned", weights_path: str | None = None, device: str = "cpu",
                    batch_size: int = 64) -> ShapesEvaluator:
    return ShapesEvaluator(weights=weights, weights_path=weights_path, device=device, batch_size=batch_size)


def _not_comparable(extractor: Any) -> dict[str, Any]:
    w = extractor.weights
    return {} if w.comparable else {"not_comparable_reason": w.note or "weights not pinned"}


@METRICS.register("fvd_shapes")
class ShapesFrechetDistance(FrechetFeatureMetric):
    """Fréchet distance on the moving-shapes evaluator's penultimate features (see the module docstring).

    Args:
        weights: ``"pinned"`` (the shipped file) or ``"random"`` (labelled not comparable).
        weights_path: an explicit evaluator file (checked against the pin).
        extractor: a ready :class:`ShapesEvaluator` (overrides the above).
        cache_dir: content-keyed feature cache folder.
        device, batch_size: evaluator forward passes.
    """

    name: ClassVar[str] = "fvd_shapes"
    datasets: ClassVar[tuple[str, ...] | None] = DATASETS
    weights_shipped: ClassVar[bool] = True
    weight_names: ClassVar[tuple[str, ...]] = (WEIGHTS_NAME,)
    display_order: ClassVar[int] = 3  # next to fvd
    drift_band: ClassVar[dict[str, float]] = {"abs": 1.0, "rel": 0.05}  # a Frechet distance, as fvd

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, extractor: Any = None,
                 cache_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
                 **kwargs: Any) -> None:
        extractor = extractor or build_evaluator(weights, weights_path, device, batch_size)
        super().__init__(extractor=extractor, cache_dir=cache_dir, **kwargs)

    def compute(self) -> dict[str, MetricValue]:
        n_real, n_fake = int(self.real_n), int(self.fake_n)
        if n_real < 2 or n_fake < 2:  # runs by default: a tiny split gives "no value", not a crash
            extra = {"n_real": n_real, "n_fake": n_fake, "scope": SCOPE, "comparable": self.comparable,
                     "note": "needs at least 2 real and 2 generated clips"}
            return {self.name: MetricValue(value=math.nan, n=n_fake, higher_is_better=False, extra=extra)}
        out = super().compute()
        out[self.name].extra.update({"scope": SCOPE, "frames": FRAMES, "backend": "torch"})
        return out

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "scope": SCOPE, "datasets": list(DATASETS),
                "embedding": f"{self.extractor.dim}-d penultimate features of the moving-shapes evaluator"}


@METRICS.register("is_shapes")
class ShapesClassifierScore(InceptionScoreBase):
    """Inception-Score form over the evaluator's (shapes, directions) classes (module docstring).

    Args:
        splits: IS splits (default 1: the test split has 128 clips).
        weights, weights_path, extractor, device, batch_size: as :class:`ShapesFrechetDistance`.
    """

    name: ClassVar[str] = "is_shapes"
    datasets: ClassVar[tuple[str, ...] | None] = DATASETS
    weights_shipped: ClassVar[bool] = True
    weight_names: ClassVar[tuple[str, ...]] = (WEIGHTS_NAME,)
    display_order: ClassVar[int] = 5  # next to is
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.05, "rel": 0.02}  # exp of a KL, as is
    # real clips are recognisable and diverse: their value is the bound, and "more" is not better beyond it
    best_rule: ClassVar[str] = "closest_to_real"

    def __init__(self, splits: int = 1, weights: str = "pinned", weights_path: str | None = None,
                 extractor: Any = None, cache_dir: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 64, **kwargs: Any) -> None:
        self.extractor = extractor or build_evaluator(weights, weights_path, device, batch_size)
        sizes = {f.name: f.num_classes for f in FACTORS}
        super().__init__(num_classes=math.prod(sizes[k] for k in IS_FACTORS), splits=splits, **kwargs)

    @property
    def comparable(self) -> bool:  # type: ignore[override]
        return bool(self.extractor.weights.comparable)

    def probs(self, videos: Tensor) -> Tensor:
        """``(N, 60)`` joint class probabilities: the outer product of the heads' softmaxes."""
        _, heads = self.extractor.outputs(videos)
        joint = heads[IS_FACTORS[0]]
        for k in IS_FACTORS[1:]:
            joint = (joint[:, :, None] * heads[k][:, None, :]).flatten(1)
        return joint

    def compute(self) -> dict[str, MetricValue]:
        out = super().compute()
        out[self.name].extra.update({"scope": SCOPE, **_not_comparable(self.extractor)})
        return out

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": True, "scope": SCOPE,
                "datasets": list(DATASETS), "features": self.extractor.protocol(),
                "classes": f"joint {' x '.join(IS_FACTORS)} of the clip's objects "
                           f"({self.num_classes} classes; p(y|x) = product of the heads' softmaxes)",
                "splits": self.splits, "seed": self.seed, "softmax": "float64",
                "split_assignment": "whole clips, in a permutation drawn from seed (arrival order if None), "
                                    "cut into contiguous chunks",
                "bound": "the real-data value (real clips are recognisable and diverse)",
                "comparable": self.comparable}


@METRICS.register("factors_shapes")
class ShapesFactorConsistency(VideoMetric):
    """Factor consistency of predicted futures with the true future (module docstring).

    ``update(samples (B, k, p, C, H, W), target (B, p, C, H, W))`` (p >= 8; the first 16 frames
    are read); ``compute()`` -> ``factors_shapes_{best,mean,worst}``, ``factors_shapes_static``,
    ``factors_shapes_motion``.

    Args:
        weights, weights_path, extractor, device, batch_size: as :class:`ShapesFrechetDistance`.
    """

    kind: ClassVar[str] = "paired"
    tasks: ClassVar[tuple[str, ...]] = ("prediction",)
    higher_is_better: ClassVar[bool] = True
    requires_weights: ClassVar[bool] = True
    datasets: ClassVar[tuple[str, ...] | None] = DATASETS
    weights_shipped: ClassVar[bool] = True
    weight_names: ClassVar[tuple[str, ...]] = (WEIGHTS_NAME,)
    name: ClassVar[str] = "factors_shapes"
    display_order: ClassVar[int] = 2  # after the pixel-paired metrics, with lpips
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.02, "rel": 0.0}  # bounded in [0, 1], as SSIM
    real_bound: ClassVar[bool] = False  # a prediction against its true future: no score of the real clips alone

    def __init__(self, weights: str = "pinned", weights_path: str | None = None, extractor: Any = None,
                 cache_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extractor = extractor or build_evaluator(weights, weights_path, device, batch_size)
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("n", zero.clone(), dist_reduce_fx="sum")
        self.add_state("samples", zero.clone(), dist_reduce_fx="sum")
        for r in (*REDUCTIONS, "static", "motion"):
            self.add_state(f"{r}_sum", zero.clone(), dist_reduce_fx="sum")
            self.add_state(f"{r}_sumsq", zero.clone(), dist_reduce_fx="sum")
        self.add_state("factor_agree", torch.zeros(len(FACTORS), dtype=torch.float64), dist_reduce_fx="sum")

    @property
    def comparable(self) -> bool:
        return bool(self.extractor.weights.comparable)

    def classes(self, videos: Tensor) -> Tensor:
        """The evaluator's predicted class of every factor: ``(N, F)`` int64, F = len(FACTORS)."""
        _, heads = self.extractor.outputs(videos)
        return torch.stack([heads[f.name].argmax(1) for f in FACTORS], 1)

    def sample_scores(self, samples: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per sample ``(B, k)``: the score, the static agreement and the motion agreement; and the
        per-factor agreement ``(B, k, F)`` (0/1)."""
        b, k = samples.shape[:2]
        truth = self.classes(target)  # (B, F)
        pred = self.classes(samples.flatten(0, 1)).view(b, k, -1)
        agree = (pred == truth[:, None]).to(torch.float64)  # (B, k, F)
        static = agree[..., [i for i, f in enumerate(FACTORS) if f.kind == "static"]].mean(-1)
        motion = agree[..., [i for i, f in enumerate(FACTORS) if f.kind == "motion"]].mean(-1)
        return (static + motion) / 2, static, motion, agree

    def update(self, samples: Tensor, target: Tensor) -> None:  # type: ignore[override]
        """Add a batch: predictions ``(B, k, p, C, H, W)`` and true futures ``(B, p, C, H, W)`` in [0, 1]."""
        check_paired(samples, target)
        score, static, motion, agree = self.sample_scores(samples, target)
        per_sequence = {"best": score.max(1).values, "mean": score.mean(1), "worst": score.min(1).values,
                        "static": static.mean(1), "motion": motion.mean(1)}
        self.n += score.shape[0]
        self.samples += score.numel()
        for r, v in per_sequence.items():
            setattr(self, f"{r}_sum", getattr(self, f"{r}_sum") + v.sum())
            setattr(self, f"{r}_sumsq", getattr(self, f"{r}_sumsq") + v.square().sum())
        self.factor_agree += agree.sum((0, 1)).to(self.factor_agree.device)

    def compute(self) -> dict[str, MetricValue]:
        n = int(round(float(self.n)))
        if n == 0:
            raise RuntimeError(f"{self.name}: compute() called before any update (no sequences scored)")
        agree = (self.factor_agree / self.samples).tolist()
        extra = {"scope": SCOPE, "comparable": self.comparable, "samples_per_sequence": float(self.samples) / n,
                 "factor_agreement": {f.name: a for f, a in zip(FACTORS, agree)}, **_not_comparable(self.extractor)}
        out: dict[str, MetricValue] = {}
        for r in (*REDUCTIONS, "static", "motion"):
            mean, lo, hi = mean_ci(getattr(self, f"{r}_sum"), getattr(self, f"{r}_sumsq"), n)
            key = f"{self.name}_{r}"
            out[key] = MetricValue(value=float(mean), ci_low=float(lo), ci_high=float(hi), n=n, higher_is_better=True,
                                   extra={**extra, "reduction": r if r in REDUCTIONS else f"{r} half, mean over samples"})
        return out

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": True, "scope": SCOPE,
                "datasets": list(DATASETS), "features": self.extractor.protocol(),
                "reference": "the true future of the same context, classified by the evaluator",
                "static_factors": list(STATIC), "motion_factors": list(MOTION),
                "score": "per sample: (static agreement + motion agreement) / 2, each the fraction of "
                         "those factors whose argmax class matches the true future's",
                "selection": "best / mean / worst sample per sequence (k samples); static and motion: mean "
                             "over samples", "frames": f"the first {FRAMES} predicted frames (8..15: all)",
                "comparable": self.comparable}
