"""Shared machinery of the paired frame metrics (PSNR, SSIM) for stochastic prediction.

A paired metric scores ``k`` predicted samples per sequence against the ground truth frame by frame,
reduces the samples with :func:`~benchmark.metrics.functional.reduce_samples` (best-per-sequence on
the time-averaged score, mean over samples, worst), and streams float64 sums:

* ``n``: number of sequences; ``samples``: number of samples (so k can be reported);
* per reduction ``r`` in (best, mean, worst): ``{r}_sum`` / ``{r}_sumsq`` of each sequence's
  time-averaged score, and ``{r}_curve_sum`` / ``{r}_curve_sumsq`` ``(p,)`` of its per-timestep curve.

All states reduce by ``sum``, so batches, processes and runs merge by addition.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric, mean_ci
from benchmark.metrics.functional import reduce_samples
from benchmark.video import VideoFormatError, check_videos

REDUCTIONS = ("best", "mean", "worst")
SELECTION_RULE = ("per sequence, the sample with the best time-averaged score (best-per-sequence, "
                  "not per timestep; ties -> lowest index); also the mean over samples and the worst sample")


def check_paired(samples: Tensor, target: Tensor) -> None:
    """Validate ``samples (B, k, p, C, H, W)`` against ``target (B, p, C, H, W)`` (floats in [0, 1])."""
    if not isinstance(samples, Tensor) or samples.ndim != 6:
        shape = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
        raise VideoFormatError(f"samples: expected (B, k, p, C, H, W), got {shape}; "
                               f"for one sample per sequence pass samples.unsqueeze(1)")
    check_videos(target, "target")
    check_videos(samples.flatten(0, 1), "samples")
    if samples.shape[0] != target.shape[0] or samples.shape[2:] != target.shape[1:]:
        raise VideoFormatError(f"samples {tuple(samples.shape)} (B, k, p, C, H, W) do not match "
                               f"target {tuple(target.shape)} (B, p, C, H, W)")


class PairedFrameMetric(VideoMetric):
    """Base of per-frame paired metrics; subclasses set ``name`` and implement :meth:`frame_scores`.

    Args:
        num_frames: the number of predicted frames p, if known. Curve states then have their
            final shape from the start, which distributed sync (``all_gather``) needs when a rank
            may see no data; otherwise they are sized by the first ``update``.
        **kwargs: forwarded to ``torchmetrics.Metric``.
    """

    kind: ClassVar[str] = "paired"
    real_bound: ClassVar[bool] = False  # a sample against its ground truth: no score of the real clips alone
    tasks: ClassVar[tuple[str, ...]] = ("prediction",)
    name: ClassVar[str] = ""

    def __init__(self, num_frames: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_frames = num_frames
        zero = torch.zeros((), dtype=torch.float64)
        curve = torch.zeros(num_frames or 0, dtype=torch.float64)
        self.add_state("n", zero.clone(), dist_reduce_fx="sum")
        self.add_state("samples", zero.clone(), dist_reduce_fx="sum")
        for r in REDUCTIONS:
            self.add_state(f"{r}_sum", zero.clone(), dist_reduce_fx="sum")
            self.add_state(f"{r}_sumsq", zero.clone(), dist_reduce_fx="sum")
            self.add_state(f"{r}_curve_sum", curve.clone(), dist_reduce_fx="sum")
            self.add_state(f"{r}_curve_sumsq", curve.clone(), dist_reduce_fx="sum")

    # -- to implement ---------------------------------------------------------------------------
    def frame_scores(self, samples: Tensor, target: Tensor) -> Tensor:
        """Per-frame scores ``(B, k, p)`` of ``samples (B, k, p, C, H, W)`` vs ``target (B, 1, p, C, H, W)``."""
        raise NotImplementedError

    # -- streaming ------------------------------------------------------------------------------
    def _lazy_states(self) -> list[str]:
        return [f"{r}_curve_{s}" for r in REDUCTIONS for s in ("sum", "sumsq")]

    def update(self, samples: Tensor, target: Tensor) -> None:  # type: ignore[override]
        """Add a batch.

        Args:
            samples: predictions ``(B, k, p, C, H, W)``, float in [0, 1].
            target: ground truth ``(B, p, C, H, W)``, float in [0, 1].
        """
        check_paired(samples, target)
        scores = self.frame_scores(samples, target[:, None])  # (B, k, p) float64
        red = reduce_samples(scores, higher_is_better=self.higher_is_better)
        self._size_lazy_states(scores.shape[2], "predicted frames p", "one metric instance scores one horizon")
        dev = self.n.device
        self.n += scores.shape[0]
        self.samples += scores.shape[0] * scores.shape[1]
        for r in REDUCTIONS:
            curve = getattr(red, r).to(dev, torch.float64)  # (B, p)
            avg = curve.mean(1)
            setattr(self, f"{r}_sum", getattr(self, f"{r}_sum") + avg.sum())
            setattr(self, f"{r}_sumsq", getattr(self, f"{r}_sumsq") + avg.square().sum())
            setattr(self, f"{r}_curve_sum", getattr(self, f"{r}_curve_sum") + curve.sum(0))
            setattr(self, f"{r}_curve_sumsq", getattr(self, f"{r}_curve_sumsq") + curve.square().sum(0))

    def compute(self) -> dict[str, MetricValue]:
        """``{name}_best``, ``{name}_mean``, ``{name}_worst``.

        Each value is the mean over sequences of the time-averaged score, with a normal 95% CI over
        sequences (NaN when n < 2), ``n`` = number of sequences, and the per-timestep mean curve
        with its pointwise CI.
        """
        n = int(round(float(self.n)))
        if n == 0:
            raise RuntimeError(f"{self.name}: compute() called before any update (no sequences scored)")
        out: dict[str, MetricValue] = {}
        for r in REDUCTIONS:
            mean, lo, hi = mean_ci(getattr(self, f"{r}_sum"), getattr(self, f"{r}_sumsq"), n)
            c_mean, c_lo, c_hi = mean_ci(getattr(self, f"{r}_curve_sum"), getattr(self, f"{r}_curve_sumsq"), n)
            out[f"{self.name}_{r}"] = MetricValue(
                value=float(mean), ci_low=float(lo), ci_high=float(hi), n=n,
                curve=c_mean.tolist(), curve_ci_low=c_lo.tolist(), curve_ci_high=c_hi.tolist(),
                higher_is_better=self.higher_is_better,
                extra={"reduction": r, "samples_per_sequence": float(self.samples) / n,
                       "num_frames": int(c_mean.numel())},
            )
        return out

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": self.higher_is_better,
                "frame_average": "mean over predicted timesteps of the per-frame score",
                "sample_selection": SELECTION_RULE,
                "ci": "normal 95% over sequences: mean ± 1.96·s/√n (s with n−1); NaN for n < 2"}
