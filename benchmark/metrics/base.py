"""The streaming metric interface (torchmetrics pattern).

Every metric subclasses :class:`VideoMetric` (a ``torchmetrics.Metric``): its state is
sufficient statistics (sums, counts, sums of outer products in float64) registered with
``add_state(..., dist_reduce_fx="sum")`` so it merges across batches, processes and runs. Pure
math lives in ``benchmark/metrics/functional/``.

Three kinds, by what ``update`` takes (videos are float ``(N, T, C, H, W)`` in [0, 1]):

* ``paired``   – prediction vs ground truth: ``update(samples, target)`` with
  ``samples (B, k, p, C, H, W)`` (k samples per context) and ``target (B, p, C, H, W)``.
* ``set``      – distribution distance: ``update(videos, real: bool)`` (FVD, MCS, ...).
* ``intrinsic``– a score of one set: ``update(videos)`` (FCS, IS, ...).

``compute()`` returns ``dict[str, MetricValue]`` (e.g. ``psnr_best``, ``psnr_mean``, ``psnr_worst``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
import torchmetrics

from benchmark.video import VideoFormatError

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass
class MetricValue:
    """One reported number with its 95% interval, sample count and optional per-timestep curve."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    curve: list[float] | None = None
    curve_ci_low: list[float] | None = None
    curve_ci_high: list[float] | None = None
    higher_is_better: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_ci(total: torch.Tensor, total_sq: torch.Tensor, n: int | torch.Tensor) -> tuple[Any, Any, Any]:
    """Mean and normal 95% CI (mean ± 1.96·s/√n, s with n−1) from a sum and a sum of squares.

    Works elementwise on tensors (per-timestep curves). With n < 2 the interval is NaN.
    """
    n = int(n)
    mean = total / n
    if n < 2:
        nan = torch.full_like(mean, float("nan"))
        return mean, nan, nan
    var = ((total_sq - total * total / n) / (n - 1)).clamp_min(0)
    half = Z95 * torch.sqrt(var / n)
    return mean, mean - half, mean + half


class VideoMetric(torchmetrics.Metric):
    """Base class for vidbench metrics; see the module docstring for the three kinds."""

    kind: ClassVar[str] = "paired"
    tasks: ClassVar[tuple[str, ...]] = ("prediction",)
    #: needs pretrained feature weights (FVD, IS, MCS, LPIPS); offline metrics set False
    requires_weights: ClassVar[bool] = False
    #: the ``manifests/weights.yaml`` entries it loads by default (their hashes key the evaluate stage)
    weight_names: ClassVar[tuple[str, ...]] = ()

    # -- facts about the number: the report, the drift check and the pipeline read them here ------
    #: direction: True if higher is better
    higher_is_better: ClassVar[bool] = True
    #: leaderboard column order of this metric's family (lower first; ties by name)
    display_order: ClassVar[int] = 100
    #: drift band of the smoke baseline for new entries, ``{"abs": a, "rel": r}`` (the check passes
    #: when ``|new - old| <= max(abs, rel * |old|)``); None: the baseline file's default band
    drift_band: ClassVar[dict[str, float] | None] = None
    #: whether the real test clips get a score of their own (the leaderboard's "real data" row); paired
    #: metrics compare a sample with its ground truth and likelihoods need a model: no bound
    real_bound: ClassVar[bool] = True
    #: how the leaderboard marks the best row: "direction" (max or min by ``higher_is_better``) or
    #: "closest_to_real" (nearest to the real-data row's value, for scores where more is not better)
    best_rule: ClassVar[str] = "direction"
    full_state_update: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False

    def protocol(self) -> dict[str, Any]:
        """The settings that define this number (recorded in every result and manifest)."""
        return {}

    def compute(self) -> dict[str, MetricValue]:  # pragma: no cover - abstract
        raise NotImplementedError

    def merge_state(self, incoming_state: dict[str, Any] | torchmetrics.Metric) -> None:
        """Add another instance's state (or a state dict) to this one, as ``torchmetrics.Metric``.

        Also counts the incoming updates, so ``compute()`` after a merge does not warn that
        ``update()`` was never called.
        """
        updates = incoming_state._update_count if isinstance(incoming_state, torchmetrics.Metric) else 1
        super().merge_state(incoming_state)
        self._update_count += updates

    def _reduce_states(self, incoming_state: dict[str, Any]) -> None:
        # the one place torchmetrics adds states (merge_state and forward); let subclasses adapt them
        super()._reduce_states(self._align_incoming(dict(incoming_state)))

    # -- feature networks ------------------------------------------------------------------------
    def _use_extractor(self, extractor: Any, cache_dir: Any = None) -> None:
        """Compute features with ``extractor`` (through a content-keyed
        :class:`~benchmark.metrics.extractors.cache.FeatureCache` in ``cache_dir`` when given)."""
        self.extractor = extractor
        self.cache = None
        if cache_dir is not None:
            from benchmark.metrics.extractors.cache import FeatureCache

            self.cache = FeatureCache(cache_dir)

    def _extract(self, videos: torch.Tensor) -> torch.Tensor:
        return self.cache(self.extractor, videos) if self.cache is not None else self.extractor(videos)

    # -- vector states sized at the first update (a curve's horizon, a feature length) ---------------
    def _lazy_states(self) -> list[str]:
        """Names of float64 vector states registered empty and sized by :meth:`_size_lazy_states`."""
        return []

    def _size_lazy_states(self, length: int, what: str, hint: str = "") -> None:
        """Give every lazy state ``length`` zeros on the first update; later updates must agree
        (else a :class:`~benchmark.video.VideoFormatError` naming ``what`` and the ``hint``)."""
        for attr in self._lazy_states():
            cur = getattr(self, attr)
            if cur.numel() == 0:
                setattr(self, attr, torch.zeros(length, dtype=torch.float64, device=cur.device))
            elif cur.numel() != length:
                raise VideoFormatError(f"{getattr(self, 'name', type(self).__name__)}: {what}={length}, but "
                                       f"{cur.numel()} in earlier updates" + (f"; {hint}" if hint else ""))

    def _align_incoming(self, state: dict[str, Any]) -> dict[str, Any]:
        """Adapt an incoming state dict before it is added: lazy states not yet sized (an instance
        that saw no data) count as zeros of the other side's length."""
        for attr in self._lazy_states():
            mine, theirs = getattr(self, attr), state[attr]
            if theirs.numel() == 0 and mine.numel() > 0:
                state[attr] = torch.zeros_like(mine)
            elif mine.numel() == 0 and theirs.numel() > 0:
                setattr(self, attr, torch.zeros_like(theirs, device=mine.device))
            elif mine.numel() != theirs.numel():
                raise ValueError(f"{getattr(self, 'name', type(self).__name__)}: cannot merge {attr} of length "
                                 f"{mine.numel()} and {theirs.numel()}")
        return state


def finite_or_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x
