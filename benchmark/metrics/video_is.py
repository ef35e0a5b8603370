"""Video Inception Score with C3D (``is_video``; TGAN / MoCoGAN / TGANv2), streamed. Higher is better.

Protocols (recorded; numbers from different protocols are not comparable):

* ``"tgan2"`` (default): TGANv2's ``compute_inception_score.py`` — IS of 2048 samples with 1 split,
  repeated 10 times on fresh samples; mean ± std (population) over the repeats. Streaming: samples
  fill repeat 0, then repeat 1, … in arrival order (contiguous blocks of ``samples``); samples past
  ``repeats × samples`` are not used. ``extra["protocol_complete"]`` says whether every block is full.
* ``"stylegan_v"``: 10 splits of all samples (round-robin by arrival order), mean ± std.

>>> from benchmark.metrics.video_is import VideoInceptionScore
>>> VideoInceptionScore(weights="random").protocol()["protocol"]
'tgan2'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue
from benchmark.metrics.functional.inception_score import group_stats
from benchmark.metrics.inception_score import InceptionScoreBase
from benchmark.registry import METRICS

PROTOCOLS = {"tgan2": {"samples": 2048, "repeats": 10, "splits": 1},
             "stylegan_v": {"splits": 10}}


@METRICS.register("is_video")
class VideoInceptionScore(InceptionScoreBase):
    """``update(videos (N, T>=16, C, H, W))``; ``compute() -> {"is_video": MetricValue}`` (std in extra).

    Args:
        protocol: ``"tgan2"`` or ``"stylegan_v"`` (see the module docstring).
        samples, repeats: TGANv2's sample count per repeat and number of repeats.
        weights: ``"pinned"`` or ``"random"`` (numbers labelled not comparable).
        weights_path, mean_path: explicit C3D npz / mean clip (checked against the pins).
        extractor: a ready :class:`~benchmark.metrics.extractors.c3d.C3DProbabilities`.
        cache_dir: accepted for the pipeline's uniform call (probabilities are not cached).
    """

    name: ClassVar[str] = "is_video"
    display_order: ClassVar[int] = 5
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.05, "rel": 0.02}
    weight_names: ClassVar[tuple[str, ...]] = ("c3d_ucf101", "c3d_mean_clip")
    tasks: ClassVar[tuple[str, ...]] = ("synthesis",)

    def __init__(self, protocol: str = "tgan2", samples: int = 2048, repeats: int = 10, weights: str = "pinned",
                 weights_path: str | None = None, mean_path: str | None = None, extractor: Any = None,
                 cache_dir: str | Path | None = None, device: str = "cpu", **kwargs: Any) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"is_video: protocol must be one of {tuple(PROTOCOLS)}, got {protocol!r}")
        if extractor is None:
            from benchmark.metrics.extractors.c3d import C3DProbabilities

            extractor = C3DProbabilities(weights=weights, weights_path=weights_path, mean_path=mean_path, device=device)
        self.extractor = extractor
        self.protocol_name, self.samples_per_repeat = protocol, int(samples)
        groups = int(repeats) if protocol == "tgan2" else PROTOCOLS[protocol]["splits"]
        super().__init__(num_classes=extractor.dim, splits=groups, **kwargs)

    @property
    def comparable(self) -> bool:  # type: ignore[override]
        return bool(self.extractor.comparable)

    def probs(self, videos: Tensor) -> Tensor:
        return self.extractor(videos)

    def update_probs(self, p: Tensor) -> None:
        if self.protocol_name != "tgan2":
            return super().update_probs(p)
        groups = (torch.arange(len(p)) + self._seen) // self.samples_per_repeat
        self._seen += len(p)
        keep = groups < self.splits
        n, s, e = group_stats(p[keep], groups[keep], self.splits)
        self.split_n += n.to(self.split_n.device)
        self.split_sum_p += s.to(self.split_n.device)
        self.split_sum_plogp += e.to(self.split_n.device)

    def compute(self) -> dict[str, MetricValue]:
        out = super().compute()[self.name]
        out.extra["protocol"] = self.protocol_name
        if self.protocol_name == "tgan2":
            out.extra["repeats"] = int((self.split_n > 0).sum())
            out.extra["protocol_complete"] = bool((self.split_n == self.samples_per_repeat).all())
        if not self.comparable:
            out.extra["not_comparable_reason"] = (self.extractor.weights.note or self.extractor.mean_weights.note
                                                  or "weights not pinned")
        return {self.name: out}

    def protocol(self) -> dict[str, Any]:
        p: dict[str, Any] = {"name": self.name, "kind": self.kind, "protocol": self.protocol_name,
                             "features": self.extractor.protocol(), "softmax": "float64", "comparable": self.comparable}
        if self.protocol_name == "tgan2":
            p.update({"samples_per_repeat": self.samples_per_repeat, "repeats": self.splits, "splits_per_repeat": 1,
                      "aggregate": "mean ± population std over repeats",
                      "assignment": "contiguous blocks in arrival order; extra samples unused",
                      "note": "TGANv2 adds eps=1e-20 to p before the KL; not added here (difference negligible)"})
        else:
            p.update({"splits": self.splits, "split_assignment": "round-robin by arrival order",
                      "aggregate": "mean ± population std over splits"})
        return p
