"""FVD — Fréchet Video Distance (Unterthiner et al. 2018), streamed. Lower is better.

Features: the I3D embedding of :mod:`benchmark.metrics.extractors.i3d` (torch backend, default) or
the tfhub module itself (``backend="tf"``, :mod:`benchmark.metrics.extractors.tf_i3d`). State: for
the real and the fake side, the count, the feature sum and the sum of outer products in float64, so
batches, processes (``torch.distributed``) and runs merge by addition. ``compute`` takes the unbiased
covariances and :func:`benchmark.metrics.functional.frechet.frechet_distance`.

FVD is biased at small N: compare only at equal N (both are recorded).

>>> import torch
>>> from benchmark.metrics.fvd import FrechetVideoDistance
>>> m = FrechetVideoDistance(weights="random")   # pipeline tests only: not comparable
>>> m.comparable
False
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric
from benchmark.metrics.functional.frechet import frechet_distance, moments
from benchmark.registry import METRICS
from benchmark.video import check_videos

SIDES = ("real", "fake")


def build_i3d(backend: str = "torch", weights: str = "pinned", weights_path: str | None = None,
              device: str = "cpu", batch_size: int = 8):
    if backend == "torch":
        from benchmark.metrics.extractors.i3d import I3DFeatures

        return I3DFeatures(weights=weights, weights_path=weights_path, device=device, batch_size=batch_size)
    if backend == "tf":
        from benchmark.metrics.extractors.tf_i3d import TFHubI3DFeatures

        return TFHubI3DFeatures(module=weights_path, weights=weights)
    raise ValueError(f"FVD backend must be 'torch' or 'tf', got {backend!r}")


class FrechetFeatureMetric(VideoMetric):
    """Base of Fréchet distances on network features (FVD, per-frame FID).

    Args:
        extractor: a ready feature extractor (tests); otherwise built from the other arguments.
        weights: ``"pinned"`` or ``"random"`` (numbers labelled not comparable).
        cache_dir: a folder for the content-keyed feature cache (None: no cache).
        **kwargs: forwarded to ``torchmetrics.Metric``.
    """

    kind: ClassVar[str] = "set"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = False
    requires_weights: ClassVar[bool] = True
    name: ClassVar[str] = ""

    def __init__(self, extractor: Any = None, cache_dir: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._use_extractor(extractor, cache_dir)
        d = extractor.dim
        for s in SIDES:
            self.add_state(f"{s}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_outer", torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")

    @property
    def comparable(self) -> bool:
        return bool(self.extractor.weights.comparable)

    def features(self, videos: Tensor) -> Tensor:
        return self._extract(videos).to(torch.float64)

    def update_features(self, feats: Tensor, real: bool) -> None:
        """Add precomputed features ``(N, d)`` to one side."""
        s = "real" if real else "fake"
        f = feats.to(self.real_sum.device, torch.float64)
        setattr(self, f"{s}_n", getattr(self, f"{s}_n") + f.shape[0])
        setattr(self, f"{s}_sum", getattr(self, f"{s}_sum") + f.sum(0))
        setattr(self, f"{s}_outer", getattr(self, f"{s}_outer") + f.T @ f)

    def update(self, videos: Tensor, real: bool) -> None:  # type: ignore[override]
        """Add videos ``(N, T, C, H, W)`` in [0, 1] to the real or the fake side."""
        check_videos(videos, "real" if real else "fake")
        self.update_features(self.features(videos), real)

    def side_moments(self, side: str) -> tuple[Tensor, Tensor]:
        return moments(getattr(self, f"{side}_n"), getattr(self, f"{side}_sum"), getattr(self, f"{side}_outer"))

    def compute(self) -> dict[str, MetricValue]:
        n_real, n_fake = int(self.real_n), int(self.fake_n)
        if n_real < 2 or n_fake < 2:
            raise RuntimeError(f"{self.name}: needs at least 2 real and 2 fake feature vectors, got "
                               f"{n_real} real and {n_fake} fake")
        value = frechet_distance(*self.side_moments("real"), *self.side_moments("fake"))
        w = self.extractor.weights
        extra = {"n_real": n_real, "n_fake": n_fake, "comparable": self.comparable,
                 "weights": w.mode, "weights_sha256": w.sha256, "backend": getattr(self.extractor, "backend", "")}
        if not self.comparable:
            extra["not_comparable_reason"] = w.note or "weights not pinned"
        return {self.name: MetricValue(value=value, n=n_fake, higher_is_better=False, extra=extra)}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": False,
                "features": self.extractor.protocol(), "comparable": self.comparable,
                "statistics": "float64 sums; unbiased covariance (N-1)",
                "sqrt": "trace of (A S2 A)^(1/2), A = S1^(1/2) by symmetric eigendecomposition",
                "n_real": int(self.real_n), "n_fake": int(self.fake_n),
                "note": "biased at small N: compare only at equal N"}


@METRICS.register("fvd")
class FrechetVideoDistance(FrechetFeatureMetric):
    """Streaming FVD. ``update(videos, real: bool)``; ``compute()`` -> ``{"fvd": MetricValue}``.

    Args:
        backend: ``"torch"`` (default) or ``"tf"`` (the tfhub module through tensorflow-hub).
        weights: ``"pinned"`` or ``"random"``.
        weights_path: explicit weight file / module dir (hash-checked against the pin).
        extractor: a ready extractor (overrides the above).
        cache_dir: content-keyed feature cache folder.
        device, batch_size: for the torch backend.
    """

    name: ClassVar[str] = "fvd"
    display_order: ClassVar[int] = 3
    # Frechet distances at smoke sample counts (N ~ 16) are very noisy functions of the features: 5%
    drift_band: ClassVar[dict[str, float]] = {"abs": 1.0, "rel": 0.05}
    weight_names: ClassVar[tuple[str, ...]] = ("i3d_kinetics400",)  # backend="tf": i3d_kinetics400_tfhub

    def __init__(self, backend: str = "torch", weights: str = "pinned", weights_path: str | None = None,
                 extractor: Any = None, cache_dir: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 8, **kwargs: Any) -> None:
        extractor = extractor or build_i3d(backend, weights, weights_path, device, batch_size)
        super().__init__(extractor=extractor, cache_dir=cache_dir, **kwargs)
