"""``bits_per_dim``: negative log-likelihood of the real test clips under a likelihood model, streamed.

Only methods that implement :meth:`benchmark.methods.Method.log_likelihood` get it (Video
VQ-VAE's priors, VideoFlow, ...). The harness scores every reference clip with the method in the
sample stage (nats per video, saved beside the samples) and feeds them here in the evaluate stage;
the method's likelihood protocol (which frames count, the dequantisation) is recorded with the
number. Lower is better; there is no real-data bound (real clips have no likelihood of their own).

>>> import math, torch
>>> m = BitsPerDim()
>>> m.update(torch.full((4,), -8 * math.log(2) * 48, dtype=torch.float64), dims=48)   # uniform over 256 levels
>>> m.compute()["bits_per_dim"].value
8.0
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from benchmark.metrics.base import MetricValue, VideoMetric, mean_ci
from benchmark.metrics.functional.likelihood import bits_per_dim
from benchmark.registry import METRICS


@METRICS.register("bits_per_dim")
class BitsPerDim(VideoMetric):
    """Mean bits per dimension over videos, with a 95% CI over videos.

    Args:
        likelihood_protocol: the method's :meth:`~benchmark.methods.Method.likelihood_protocol`
            (frames counted, dequantisation, dims), recorded in :meth:`protocol`.
        **kwargs: forwarded to ``torchmetrics.Metric``.

    ``update(nats (B,), dims)``: log-likelihoods in nats of ``B`` videos of ``dims`` dimensions.
    """

    kind: ClassVar[str] = "likelihood"
    tasks: ClassVar[tuple[str, ...]] = ("synthesis", "prediction")
    higher_is_better: ClassVar[bool] = False
    display_order: ClassVar[int] = 8
    drift_band: ClassVar[dict[str, float]] = {"abs": 0.01, "rel": 0.0}
    real_bound: ClassVar[bool] = False  # a likelihood needs a model
    name: ClassVar[str] = "bits_per_dim"

    def __init__(self, likelihood_protocol: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.likelihood_protocol = dict(likelihood_protocol or {})
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("n", zero.clone(), dist_reduce_fx="sum")
        self.add_state("total", zero.clone(), dist_reduce_fx="sum")
        self.add_state("total_sq", zero.clone(), dist_reduce_fx="sum")

    def update(self, nats: Tensor, dims: int) -> None:  # type: ignore[override]
        """Add the log-likelihoods ``nats (B,)`` (nats) of ``B`` videos of ``dims`` dimensions each."""
        nats = torch.as_tensor(nats, dtype=torch.float64, device=self.total.device)
        if nats.ndim != 1 or not bool(torch.isfinite(nats).all()):
            raise ValueError(f"bits_per_dim: expected finite nats (B,), got shape {tuple(nats.shape)}")
        bpd = bits_per_dim(nats, int(dims))
        self.n += len(bpd)
        self.total += bpd.sum()
        self.total_sq += (bpd * bpd).sum()

    def compute(self) -> dict[str, MetricValue]:
        n = int(self.n)
        if n == 0:
            return {self.name: MetricValue(value=float("nan"), n=0, higher_is_better=False)}
        mean, lo, hi = mean_ci(self.total, self.total_sq, n)
        return {self.name: MetricValue(value=float(mean), ci_low=float(lo), ci_high=float(hi), n=n,
                                       higher_is_better=False)}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "higher_is_better": False, "unit": "bits per dimension",
                "reduction": "mean over videos of -log p / (dims * ln 2)", **self.likelihood_protocol}
