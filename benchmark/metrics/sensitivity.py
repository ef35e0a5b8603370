"""Metric sensitivity: score graded distortions of real clips (the study of Unterthiner et al., "Towards
Accurate Generative Models of Video: A New Metric & Challenges", arXiv:1812.01717).

:func:`metric_sensitivity` applies every distortion of :mod:`benchmark.data.distortions` at every
level to a set of real clips and scores each distorted set with the given metrics, against an
independent real reference (set metrics), alone (intrinsic metrics) or against the undistorted
clips (paired metrics: the first ``context_frames`` are context, the rest is distorted and scored
as the prediction). Level 0 is the undistorted set: for a set metric, real vs real. A metric that
measures what it claims should get worse level by level.

>>> import torch
>>> from benchmark.metrics.sensitivity import metric_sensitivity
>>> v = torch.rand(4, 8, 3, 16, 16)
>>> rows = metric_sensitivity(v, v, ["fcs"], distortions=["fade_to_grey"], levels=(0, 4))
>>> [(r["level"], r["value"] > 0.99) for r in rows]   # FCS rates a uniform grey set perfect
[(0, False), (4, True)]
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from benchmark.data.distortions import DISTORTIONS, LEVELS, describe, distort


def _build(name: str, factory: Callable[..., Any] | None) -> Any:
    if factory is not None:
        return factory(name)
    from benchmark.registry import METRICS

    return METRICS.build(name)


def _batched(metric: Any, *tensors: Tensor, batch_size: int, **kw: Any) -> None:
    for i in range(0, len(tensors[0]), batch_size):
        metric.update(*(t[i:i + batch_size] for t in tensors), **kw)


def metric_sensitivity(reference: Tensor, clips: Tensor, metrics: Iterable[str],
                       distortions: Iterable[str] | None = None, levels: Iterable[int] = LEVELS,
                       context_frames: int = 0, seed: int = 0, batch_size: int = 64,
                       build: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
    """Score every (distortion, level) of ``clips`` with every metric.

    Args:
        reference: real clips ``(M, T, C, H, W)`` in [0, 1] for the real side of set metrics
            (another split than ``clips``).
        clips: the real clips to distort ``(N, T, C, H, W)``.
        metrics: registered metric names (any kind).
        distortions: names from :data:`benchmark.data.distortions.DISTORTIONS` (default: all).
        levels: levels to apply (0 = none).
        context_frames: for paired metrics: frames left undistorted as context; the rest is the
            "prediction" scored against the undistorted frames (k = 1).
        seed: seed of the random distortions.
        batch_size: clips per metric update.
        build: ``name -> metric instance`` (default ``METRICS.build(name)``).

    Returns:
        One row per (distortion, level, metric value key): ``distortion``, ``level``, ``parameter``,
        ``strength``, ``metric`` (its metric name), ``key`` (the value's name, e.g. ``psnr_best``),
        ``value``.
    """
    names = list(metrics)
    levels = list(levels)
    prototypes: dict[str, Any] = {}
    for name in names:
        m = _build(name, build)
        if m.kind == "set":  # the real side is the same for every distorted set: feed it once
            _batched(m, reference, batch_size=batch_size, real=True)
        prototypes[name] = m
    def score(fake: Tensor, future: Tensor) -> list[tuple[str, str, float]]:
        out = []
        for name, proto in prototypes.items():
            m = proto.clone()
            if m.kind == "set":
                _batched(m, fake, batch_size=batch_size, real=False)
            elif m.kind == "intrinsic":
                _batched(m, fake, batch_size=batch_size)
            else:
                _batched(m, future[:, None], clips[:, context_frames:], batch_size=batch_size)
            out += [(name, key, float(mv.value)) for key, mv in m.compute().items()]
        return out

    # level 0 is the same undistorted set for every distortion: score it once
    clean = score(clips, clips[:, context_frames:]) if 0 in levels else []
    rows: list[dict[str, Any]] = []
    for dname in (list(distortions) if distortions is not None else list(DISTORTIONS)):
        for level in levels:
            values = clean if level == 0 else score(distort(clips, dname, level, seed=seed),
                                                    distort(clips[:, context_frames:], dname, level, seed=seed))
            rows += [{**describe(dname, level), "metric": name, "key": key, "value": v} for name, key, v in values]
    return rows


def format_table(rows: list[dict[str, Any]], keys: Iterable[str] | None = None) -> str:
    """Plain-text table: one line per (distortion, level), one column per value key."""
    keys = list(keys) if keys is not None else list(dict.fromkeys(r["key"] for r in rows))
    cells: dict[tuple[str, int], dict[str, float]] = {}
    for r in rows:
        cells.setdefault((r["distortion"], r["level"]), {})[r["key"]] = r["value"]
    head = ["distortion", "level", "strength", *keys]
    lines = [head]
    for (dname, level), vals in cells.items():
        strength = describe(dname, level)["strength"]
        lines.append([dname, str(level), f"{strength:g}", *(f"{vals[k]:.4g}" if k in vals else "" for k in keys)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)
