"""Reading a metric's facts from the name of one of its result values (``psnr_best``, ``fvd``,
``fcs_real``): the report, the drift check and the pipeline ask here, and the facts themselves live
on the metric classes (:class:`~benchmark.metrics.base.VideoMetric`: ``higher_is_better``,
``display_order``, ``drift_band``, ``real_bound``, ``best_rule``), declared again in
``benchmark/metrics/__init__.py`` so that reading them imports no metric code (the registry checks
the two agree). Only :func:`metric_class` imports the class.

>>> metric_class("psnr_best").name, direction("psnr_best"), direction("fvd")
('psnr', True, False)
>>> drift_band("ssim_mean"), display_order("psnr_worst") < display_order("fcs")
({'abs': 0.02, 'rel': 0.0}, True)
>>> metric_class("no_such_metric") is None
True
"""

from __future__ import annotations

from typing import Any

from benchmark.registry import METRICS

UNKNOWN_ORDER = 1000


def _metric_name(key: str) -> str | None:
    """The registered metric a result key belongs to: the longest registered name that is the key or a
    ``_``-separated prefix of it (``psnr_best`` -> ``psnr``, ``is_frame`` -> ``is_frame``); None if none."""
    best = None
    for name in METRICS.list():
        if (key == name or key.startswith(name + "_")) and (best is None or len(name) > len(best)):
            best = name
    return best


def metric_class(key: str) -> Any:
    """The registered metric class a result key belongs to (imported; see :func:`_metric_name`); None for
    a key no registered metric makes."""
    name = _metric_name(key)
    return METRICS.get(name) if name else None


def metric_facts(key: str) -> Any:
    """What :func:`metric_class` would return, as far as its facts go (``name``, ``kind``,
    ``higher_is_better``, ...), without importing the class; None for an unknown key."""
    name = _metric_name(key)
    return METRICS.info(name) if name else None


def direction(key: str, declared: bool | None = None) -> bool | None:
    """True if higher is better, False if lower, None if unknown: the value's own ``declared``
    direction (results carry it), else the metric class's."""
    if declared is not None:
        return bool(declared)
    cls = metric_facts(key)
    return None if cls is None else bool(cls.higher_is_better)


def display_order(key: str) -> int:
    cls = metric_facts(key)
    return UNKNOWN_ORDER if cls is None else int(cls.display_order)


def drift_band(key: str) -> dict[str, float] | None:
    """The metric's smoke-baseline band for new entries (None: the baseline's default band)."""
    cls = metric_facts(key)
    band = None if cls is None else cls.drift_band
    return dict(band) if band else None


def best_rule(key: str) -> str:
    cls = metric_facts(key)
    return "direction" if cls is None else cls.best_rule
