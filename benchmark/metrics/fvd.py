"""FVD — Fréchet Video Distance (Unterthiner et al. 2018), streamed. Lower is better.

Features: the I3D embedding of :mod:`benchmark.metrics.extractors.i3d` (torch backend, default) or
the tfhub module itself (``backend="tf"``, :mod:`benchmark.metrics.extractors.tf_i3d`). State: for
the real and the fake side, the count, the feature sum and the sum of outer products in float64, so
batches, processes (``torch.distributed``) and runs merge by addition. ``compute`` takes the unbiased
covariances and :func:`benchmark.metrics.functional.frechet.frechet_distance`.

FVD is biased at small N: compare only at equal N (both are recorded).

Protocol options (papers that compute FVD their own way; each is recorded in :meth:`protocol`):

* ``downscale=64``: frames are first resized to 64x64 (area averaging) and only then go through
  the extractor's own resize -- Walker et al. 2021 ("Predicting Video with VQVAE") score their
  256x256 predictions "downscaled to 64x64 for a proper comparison against prior work".
* ``folds=2``: the generated videos are split into ``folds`` folds by arrival order (video ``i``
  -> fold ``i mod folds``); each fold is scored against all real videos and the value is the mean
  over folds, the spread their standard deviation (the same paper: "2-fold cross-validation over
  39000 samples", printed as mean ± spread).
* ``reference="reconstructions"``: a label saying the real side holds a model's reconstructions
  of the real clips instead of the clips themselves (the paper's FVD*: samples of a VQ-VAE against
  its own reconstructions). The caller feeds those videos with ``real=True``.

>>> import torch
>>> from benchmark.metrics.fvd import FrechetVideoDistance
>>> m = FrechetVideoDistance(weights="random")   # pipeline tests only: not comparable
>>> m.comparable
False
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric
from benchmark.metrics.functional.frechet import frechet_distance, moments
from benchmark.registry import METRICS
from benchmark.video import check_videos

SIDES = ("real", "fake")
#: what the "real" side of an FVD holds
REFERENCES = {"real": "the real clips",
              "reconstructions": "a model's reconstructions of the real clips (FVD*, Walker et al. 2021)"}


def build_i3d(backend: str = "torch", weights: str = "pinned", weights_path: str | None = None,
              device: str = "cpu", batch_size: int | None = None, precision: str = "float32"):
    if backend == "torch":
        from benchmark.metrics.extractors.i3d import I3DFeatures

        return I3DFeatures(weights=weights, weights_path=weights_path, device=device, batch_size=batch_size,
                           precision=precision)
    if backend == "tf":
        if precision != "float32":
            raise ValueError(f"FVD backend 'tf' runs the tfhub module in float32; precision={precision!r} "
                             f"needs backend='torch'")
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
    #: refuse real and generated clips of different lengths (FVD: yes; per-frame FID pools frames: no)
    same_length: ClassVar[bool] = True

    def __init__(self, extractor: Any = None, cache_dir: str | Path | None = None, folds: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._add_length_states()
        self._use_extractor(extractor, cache_dir)
        d = extractor.dim
        for s in SIDES:
            self.add_state(f"{s}_n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_outer", torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")
        if int(folds) < 1:
            raise ValueError(f"{self.name or type(self).__name__}: folds must be >= 1, got {folds}")
        self.folds = int(folds)
        if self.folds > 1:  # per-fold sums of the generated side (the pooled sums above stay)
            self.add_state("fold_n", torch.zeros(self.folds, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state("fold_sum", torch.zeros(self.folds, d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state("fold_outer", torch.zeros(self.folds, d, d, dtype=torch.float64), dist_reduce_fx="sum")

    @property
    def comparable(self) -> bool:
        return bool(getattr(self.extractor, "comparable", self.extractor.weights.comparable))

    @property
    def not_comparable_reason(self) -> str:
        """'' when comparable; else why (unpinned weights, or features not in float32)."""
        if self.comparable:
            return ""
        return getattr(self.extractor, "not_comparable_reason", "") or self.extractor.weights.note \
            or "weights not pinned"

    def features(self, videos: Tensor) -> Tensor:
        return self._extract(videos).to(torch.float64)

    def update_features(self, feats: Tensor, real: bool) -> None:
        """Add precomputed features ``(N, d)`` to one side."""
        s = "real" if real else "fake"
        f = feats.to(self.real_sum.device, torch.float64)
        if not real and self.folds > 1:
            fold = (int(self.fake_n) + torch.arange(f.shape[0], device=f.device)) % self.folds
            onehot = F.one_hot(fold, self.folds).to(f.dtype)                 # (B, folds)
            self.fold_n = self.fold_n + onehot.sum(0)
            self.fold_sum = self.fold_sum + onehot.T @ f
            self.fold_outer = self.fold_outer + torch.einsum("bk,bi,bj->kij", onehot, f, f)
        setattr(self, f"{s}_n", getattr(self, f"{s}_n") + f.shape[0])
        setattr(self, f"{s}_sum", getattr(self, f"{s}_sum") + f.sum(0))
        setattr(self, f"{s}_outer", getattr(self, f"{s}_outer") + f.T @ f)

    def update(self, videos: Tensor, real: bool) -> None:  # type: ignore[override]
        """Add videos ``(N, T, C, H, W)`` in [0, 1] to the real or the fake side."""
        check_videos(videos, "real" if real else "fake")
        if self.same_length:
            self._check_lengths(videos.shape[1], real)
        self.update_features(self.features(videos), real)
        if self.same_length:
            self._record_length(videos.shape[1], real)

    def side_moments(self, side: str) -> tuple[Tensor, Tensor]:
        return moments(getattr(self, f"{side}_n"), getattr(self, f"{side}_sum"), getattr(self, f"{side}_outer"))

    def compute(self) -> dict[str, MetricValue]:
        n_real, n_fake = int(self.real_n), int(self.fake_n)
        if n_real < 2 or n_fake < 2:
            raise RuntimeError(f"{self.name}: needs at least 2 real and 2 fake feature vectors, got "
                               f"{n_real} real and {n_fake} fake")
        if self.same_length:
            self._check_lengths()  # also after merging the states of other processes
        value = frechet_distance(*self.side_moments("real"), *self.side_moments("fake"))
        w = self.extractor.weights
        extra = {"n_real": n_real, "n_fake": n_fake, "comparable": self.comparable,
                 "weights": w.mode, "weights_sha256": w.sha256, "backend": getattr(self.extractor, "backend", "")}
        if hasattr(self.extractor, "execution"):
            extra["execution"] = self.extractor.execution()  # how (not what): recorded, not compared
        if not self.comparable:
            extra["not_comparable_reason"] = self.not_comparable_reason
        if self.folds > 1:
            if int(self.fold_n.min()) < 2:
                raise RuntimeError(f"{self.name}: {self.folds} folds need at least 2 generated videos each, got "
                                   f"{[int(n) for n in self.fold_n]}")
            real = self.side_moments("real")
            per_fold = [frechet_distance(*real, *moments(self.fold_n[k], self.fold_sum[k], self.fold_outer[k]))
                        for k in range(self.folds)]
            mean = sum(per_fold) / self.folds
            std = math.sqrt(sum((v - mean) ** 2 for v in per_fold) / (self.folds - 1))
            extra.update({"pooled": value, "fold_values": per_fold, "fold_std": std,
                          "fold_n": [int(n) for n in self.fold_n]})
            value = mean
        return {self.name: MetricValue(value=value, n=n_fake, higher_is_better=False, extra=extra)}

    def protocol(self) -> dict[str, Any]:
        folds = ({"folds": self.folds, "fold_assignment": "generated video i -> fold i mod folds (arrival order)",
                  "value": "mean over folds of FVD(fold, all real); spread: std over folds"}
                 if self.folds > 1 else {})
        return {"name": self.name, "kind": self.kind, "higher_is_better": False, **folds,
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
        device, batch_size: for the torch backend (batch_size None: chosen for the device).
        precision: the torch backend's compute precision, ``"float32"`` (default) or, on a GPU,
            ``"bfloat16"``/``"float16"`` (recorded in the protocol; numbers not comparable with float32 ones).
    """

    name: ClassVar[str] = "fvd"
    display_order: ClassVar[int] = 3
    # Frechet distances at smoke sample counts (N ~ 16) are very noisy functions of the features: 5%
    drift_band: ClassVar[dict[str, float]] = {"abs": 1.0, "rel": 0.05}
    weight_names: ClassVar[tuple[str, ...]] = ("i3d_kinetics400",)  # backend="tf": i3d_kinetics400_tfhub

    def __init__(self, backend: str = "torch", weights: str = "pinned", weights_path: str | None = None,
                 extractor: Any = None, cache_dir: str | Path | None = None, device: str = "cpu",
                 batch_size: int | None = None, precision: str = "float32",
                 downscale: int | None = None, folds: int = 1, reference: str = "real",
                 **kwargs: Any) -> None:
        if reference not in REFERENCES:
            raise ValueError(f"fvd: reference must be one of {REFERENCES}, got {reference!r}")
        if downscale is not None and int(downscale) < 1:
            raise ValueError(f"fvd: downscale must be a frame size >= 1, got {downscale}")
        extractor = extractor or build_i3d(backend, weights, weights_path, device, batch_size, precision)
        super().__init__(extractor=extractor, cache_dir=cache_dir, folds=folds, **kwargs)
        self.downscale = None if downscale is None else int(downscale)
        self.reference = reference

    def features(self, videos: Tensor) -> Tensor:
        if self.downscale is not None and tuple(videos.shape[-2:]) != (self.downscale, self.downscale):
            n, t = videos.shape[:2]
            small = F.interpolate(videos.flatten(0, 1), size=(self.downscale, self.downscale), mode="area")
            videos = small.view(n, t, *small.shape[1:])
        return super().features(videos)

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out["downscale"] = (f"frames resized to {self.downscale}x{self.downscale} (area averaging) before the "
                            f"extractor" if self.downscale else None)
        out["reference"] = REFERENCES[self.reference]
        return out
