"""MCS — relative Motion Consistency Score (Aich et al. 2020), streamed. Lower is better.

The paper: every frame of the generated and of the real videos -> VGG16 (ImageNet) ``relu3_3`` feature
vector; "the averaged consecutive frame-feature difference vector" of each set, f̂ (generated) and f
(real); ``MCS = log10(||f − f̂||²)``; the bound (real vs real) is reported as 0.0. The authors published
no code, so every open choice is a named option recorded in :meth:`MotionConsistencyScore.protocol`:

* ``difference``: ``"features"`` (φ(x_{t+1}) − φ(x_t), the paper's wording, default) or ``"pixels"``
  (φ(x_{t+1} − x_t)).
* ``magnitude``: ``"signed"`` (default, the literal reading) or ``"abs"`` (|difference| per feature).
  Note: with signed feature differences the mean over a video telescopes to (φ(x_T) − φ(x_1)) / (T − 1),
  i.e. only the first and last frames matter; ``"abs"`` measures motion at every step.
* ``averaging``: ``"pairs"`` (default: one mean over all consecutive pairs of all videos) or ``"videos"``
  (mean per video, then over videos). Identical when all videos have the same length.
* ``normalize``: ``"imagenet"`` (default: torchvision's mean/std on [0, 1] frames; for pixel differences
  only the division by std, as the mean cancels) or ``"none"``.
* ``resolution``: ``None`` (default: frames at their own size, as the paper mentions no resize) or an int
  R (bilinear, align_corners=False, to R×R). ``pooling``: ``"flatten"`` (default: the whole relu3_3 map,
  256·H/4·W/4 values) or ``"spatial_mean"`` (256 values).
* ``offset``: ``MCS = log10(offset + ||f − f̂||²)``. The paper's formula is offset 0, which gives −inf for
  identical sets although its tables print the real-vs-real bound as 0.0. Default 1: real vs real is
  exactly 0, as the tables; it differs from the literal formula by log10(1 + 1/D), D = ||f − f̂||², under
  0.001 for every value the paper reports (MCS ≥ 2.63, so D ≥ 427). ``offset=0`` gives the literal formula
  (−inf for identical sets). The squared distance itself is always in ``extra["squared_distance"]``.

State per side (float64, ``dist_reduce_fx="sum"``): the sum of all pair differences and the number of
pairs, the sum of per-video mean differences and the number of videos, so batches, processes and runs
merge by addition. With ``resolution=None`` and ``pooling="flatten"`` the feature length is known only
at the first update (states are sized then; set ``resolution`` for distributed runs where a rank may see
no data).

>>> import torch
>>> from benchmark.metrics.mcs import MotionConsistencyScore
>>> m = MotionConsistencyScore(weights="random")   # pipeline tests only: not comparable
>>> v = torch.rand(2, 4, 3, 16, 16)
>>> m.update(v, real=True); m.update(v, real=False)
>>> m.compute()["mcs"].value
0.0
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric
from benchmark.registry import METRICS
from benchmark.video import VideoFormatError, check_videos

SIDES = ("real", "fake")
OPTIONS = {"difference": ("features", "pixels"), "magnitude": ("signed", "abs"),
           "averaging": ("pairs", "videos"), "normalize": ("imagenet", "none"),
           "pooling": ("flatten", "spatial_mean")}


class MotionFeatures:
    """Per video, the sum over its T − 1 consecutive pairs of the relu3_3 difference vector: ``(N, d)`` float64.

    An extractor in the :mod:`benchmark.metrics.extractors.cache` sense (``name``, ``weights``,
    ``protocol()``, ``__call__``), so the per-video sums can be cached by content.
    """

    name = "vgg16_relu3_3_motion"

    def __init__(self, net: Any, difference: str, magnitude: str, normalize: str, resolution: int | None,
                 pooling: str, device: str = "cpu", batch_size: int | None = None) -> None:
        self.net, self.difference, self.magnitude = net, difference, magnitude
        self.normalize, self.resolution, self.pooling = normalize, resolution, pooling
        self.device, self.batch_size = torch.device(device), batch_size
        self.net.to(self.device)
        self.weights = net.weights

    @property
    def comparable(self) -> bool:
        return bool(getattr(self.net, "comparable", self.weights.comparable))

    @property
    def not_comparable_reason(self) -> str:
        return getattr(self.net, "not_comparable_reason", self.weights.note or "weights not pinned")

    def frames_per_pass(self, h: int, w: int) -> int:
        """Frames per forward pass (``batch_size``, else chosen by the network for the device)."""
        if self.batch_size is not None:
            return int(self.batch_size)
        if self.resolution is not None:
            h = w = self.resolution
        return int(self.net.batch_for(self.device, h, w)) if hasattr(self.net, "batch_for") else 64

    def dim(self, h: int, w: int) -> int:
        if self.resolution is not None:
            h = w = self.resolution
        return 256 if self.pooling == "spatial_mean" else 256 * (h // 4) * (w // 4)

    def protocol(self) -> dict[str, Any]:
        from benchmark.metrics.extractors.vgg import IMAGENET_MEAN, IMAGENET_STD

        norm = ({"mean": IMAGENET_MEAN, "std": IMAGENET_STD} if self.normalize == "imagenet" else "none")
        return {**self.net.protocol(), "difference": self.difference, "magnitude": self.magnitude,
                "normalize": norm, "resolution": self.resolution or "native (no resize)",
                "resize": "bilinear, align_corners=False, no antialias" if self.resolution else "none",
                "pooling": self.pooling, "grayscale": "repeated to 3 channels", "value_range": "[0, 1] frames"}

    def _prepare(self, x: Tensor, is_difference: bool) -> Tensor:
        """``(M, C, H, W)`` frames (or frame differences) -> the network's input."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.resolution is not None:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        if self.normalize == "imagenet":
            from benchmark.metrics.extractors.vgg import IMAGENET_MEAN, IMAGENET_STD

            mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
            x = x / std if is_difference else (x - mean) / std
        return x

    def _phi(self, x: Tensor, is_difference: bool) -> Tensor:
        out = []
        step = self.frames_per_pass(*x.shape[-2:])
        with torch.inference_mode():
            for i in range(0, len(x), step):
                f = self.net(self._prepare(x[i:i + step].to(self.device).float(), is_difference))
                f = f.mean((2, 3)) if self.pooling == "spatial_mean" else f.flatten(1)
                out.append(f.double().cpu())
        return torch.cat(out)  # outside inference_mode: an ordinary tensor

    @torch.no_grad()
    def __call__(self, videos: Tensor) -> Tensor:
        n, t, c, h, w = videos.shape
        per = max(1, self.frames_per_pass(h, w) // t)  # videos per chunk: bounds the memory of per-frame features
        out = []
        for i in range(0, n, per):
            v = videos[i:i + per]
            b = len(v)
            if self.difference == "features":
                phi = self._phi(v.reshape(b * t, c, h, w), False).view(b, t, -1)
                diff = phi[:, 1:] - phi[:, :-1]
            else:
                d = (v[:, 1:].float() - v[:, :-1].float()).reshape(b * (t - 1), c, h, w)
                diff = self._phi(d, True).view(b, t - 1, -1)
            out.append((diff.abs() if self.magnitude == "abs" else diff).sum(1))
        return torch.cat(out)


@METRICS.register("mcs")
class MotionConsistencyScore(VideoMetric):
    """Relative Motion Consistency Score; ``update(videos, real: bool)``, ``compute() -> {"mcs": ...}``.

    Args:
        difference, magnitude, averaging, normalize, resolution, pooling, offset: the open choices
            (see the module docstring); all recorded in :meth:`protocol`.
        weights: ``"pinned"`` (``vgg16_imagenet``) or ``"random"`` (numbers labelled not comparable).
        weights_path: an explicit vgg16 file (hash-checked against the pin).
        network: a ready :class:`~benchmark.metrics.extractors.vgg.VGG16Relu33` (overrides weights).
        cache_dir: content-keyed cache of the per-video difference sums.
        device, batch_size: frames per forward pass (None: chosen for the device).
        precision: VGG16's compute precision, ``"float32"`` (default) or ``"bfloat16"``/``"float16"``
            (GPU; numbers labelled not comparable with float32 ones).
        **kwargs: forwarded to ``torchmetrics.Metric``.
    """

    kind: ClassVar[str] = "set"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = False
    requires_weights: ClassVar[bool] = True
    name: ClassVar[str] = "mcs"
    display_order: ClassVar[int] = 7
    #: the real-vs-real score (two disjoint real sets) is the floor a model can reach: closest wins
    best_rule: ClassVar[str] = "closest_to_real"
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.1, "rel": 0.0}  # log10 scale: 0.1 = 26% in squared distance
    weight_names: ClassVar[tuple[str, ...]] = ("vgg16_imagenet",)

    def __init__(self, difference: str = "features", magnitude: str = "signed", averaging: str = "pairs",
                 normalize: str = "imagenet", resolution: int | None = None, pooling: str = "flatten",
                 offset: float = 1.0, weights: str = "pinned", weights_path: str | None = None,
                 network: Any = None, cache_dir: str | Path | None = None, device: str = "cpu",
                 batch_size: int | None = None, precision: str = "float32", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        chosen = {"difference": difference, "magnitude": magnitude, "averaging": averaging,
                  "normalize": normalize, "pooling": pooling}
        for key, value in chosen.items():
            if value not in OPTIONS[key]:
                raise ValueError(f"mcs: {key} must be one of {OPTIONS[key]}, got {value!r}")
        if offset < 0:
            raise ValueError(f"mcs: offset must be >= 0, got {offset}")
        self.averaging, self.offset = averaging, float(offset)
        if network is None:
            from benchmark.metrics.extractors.vgg import VGG16Relu33

            network = VGG16Relu33(weights=weights, weights_path=weights_path, precision=precision)
        self._use_extractor(MotionFeatures(network, difference, magnitude, normalize, resolution, pooling,
                                           device=device, batch_size=batch_size), cache_dir)
        known = resolution is not None or pooling == "spatial_mean"
        d = self.extractor.dim(0, 0) if known else 0
        for s in SIDES:
            for what in ("pair", "video"):
                self.add_state(f"{s}_{what}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_pairs", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{s}_videos", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self._add_length_states()

    @property
    def comparable(self) -> bool:
        return self.extractor.comparable

    def _lazy_states(self) -> list[str]:
        return [f"{s}_{w}_sum" for s in SIDES for w in ("pair", "video")]

    def update_sums(self, sums: Tensor, frames: int, real: bool) -> None:
        """Add precomputed per-video difference sums ``(N, d)`` of videos with ``frames`` frames."""
        s = "real" if real else "fake"
        sums = sums.to(self.real_pairs.device, torch.float64)
        self._size_lazy_states(sums.shape[1], "feature length",
                               "frame sizes differ; set resolution= to resize every frame")
        n = sums.shape[0]
        setattr(self, f"{s}_pair_sum", getattr(self, f"{s}_pair_sum") + sums.sum(0))
        setattr(self, f"{s}_video_sum", getattr(self, f"{s}_video_sum") + sums.sum(0) / (frames - 1))
        setattr(self, f"{s}_pairs", getattr(self, f"{s}_pairs") + n * (frames - 1))
        setattr(self, f"{s}_videos", getattr(self, f"{s}_videos") + n)
        self._record_length(frames, real, strict=False)

    def update(self, videos: Tensor, real: bool) -> None:  # type: ignore[override]
        """Add videos ``(N, T, C, H, W)`` in [0, 1], T >= 2, to the real or the generated side."""
        check_videos(videos, "real" if real else "fake")
        if videos.shape[1] < 2:
            raise VideoFormatError(f"mcs needs at least 2 frames per video, got T={videos.shape[1]}")
        sums = self._extract(videos)
        self.update_sums(sums, videos.shape[1], real)

    def mean_difference(self, side: str) -> Tensor:
        """f (``"real"``) or f̂ (``"fake"``): the averaged consecutive-frame difference vector."""
        if self.averaging == "pairs":
            return getattr(self, f"{side}_pair_sum") / getattr(self, f"{side}_pairs")
        return getattr(self, f"{side}_video_sum") / getattr(self, f"{side}_videos")

    def compute(self) -> dict[str, MetricValue]:
        n_real, n_fake = int(self.real_videos), int(self.fake_videos)
        if n_real == 0 or n_fake == 0:
            raise RuntimeError(f"mcs: needs real and generated videos, got {n_real} real and {n_fake} generated")
        self._check_length_ranges()  # each side may mix lengths (see averaging); the sides must agree
        d2 = float((self.mean_difference("real") - self.mean_difference("fake")).square().sum())
        total = self.offset + d2
        value = math.log10(total) if total > 0 else -math.inf
        w = self.extractor.weights
        extra = {"squared_distance": d2, "offset": self.offset, "n_real": n_real, "n_fake": n_fake,
                 "feature_dim": int(self.real_pair_sum.numel()), "comparable": self.comparable,
                 "weights": w.mode, "weights_sha256": w.sha256}
        if not self.comparable:
            extra["not_comparable_reason"] = self.extractor.not_comparable_reason
        return {self.name: MetricValue(value=value, n=n_fake, higher_is_better=False, extra=extra)}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": False,
                "features": self.extractor.protocol(), "averaging": self.averaging,
                "formula": f"log10({self.offset:g} + ||f - f_hat||^2)", "offset": self.offset,
                "bound_real_vs_real": 0.0 if self.offset == 1.0 else None,
                "statistics": "float64 sums of pair differences and per-video means", "comparable": self.comparable,
                "n_real": int(self.real_videos), "n_fake": int(self.fake_videos)}
