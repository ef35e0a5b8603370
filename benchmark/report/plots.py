"""Plots of the leaderboard: per-timestep metric curves and training losses (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmark.report.format import finite
from benchmark.report.runs import Run
from benchmark.utils import atomic_path

MAX_PLOT_POINTS = 4000


def _new_figure(width: float = 5.6, height: float = 3.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)  # Agg, without touching pyplot's global backend
    return fig


def _save_png(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})


def _nums(xs: Any) -> list[float]:
    return [float(x) if finite(x) else float("nan") for x in (xs or [])]


def plot_curves(metric: str, entries: list[tuple[Run, dict[str, Any]]], protocol: dict[str, Any],
                higher: bool | None, path: Path) -> bool:
    """One line per run (with its CI band) of a per-timestep curve; False if nothing to plot."""
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    c, p = protocol.get("context_frames") or 0, protocol.get("future_frames")
    drawn = False
    for run, mv in entries:
        y = _nums(mv.get("curve"))
        if not any(math.isfinite(v) for v in y):
            continue
        x = list(range(c + 1, c + 1 + len(y))) if len(y) == p else list(range(1, len(y) + 1))
        nc = not run.value_comparable(mv)
        label = run.label() + (" (not comparable)" if nc else "")
        ax.plot(x, y, color=run.color, linestyle="--" if nc else "-", marker="o", markersize=2.5,
                linewidth=1.4, label=label)
        lo, hi = _nums(mv.get("curve_ci_low")), _nums(mv.get("curve_ci_high"))
        if len(lo) == len(y) == len(hi):
            ax.fill_between(x, lo, hi, color=run.color, alpha=0.18, linewidth=0)
        drawn = True
    if not drawn:
        return False
    arrow = {True: " (higher is better)", False: " (lower is better)"}.get(higher, "")
    ax.set_title(f"{metric} per frame{arrow}", fontsize=10)
    ax.set_xlabel(f"frame index (frames 1–{c} are context)" if c else "frame index", fontsize=9)
    ax.set_ylabel(metric, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    _save_png(fig, path)
    return True


def plot_train_log(series: dict[str, tuple[list[float], list[float]]], title: str, path: Path) -> bool:
    """Loss curves of one run; log y axis when all values are positive and span > 2 decades."""
    if not series:
        return False
    fig = _new_figure(5.6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    all_y: list[float] = []
    for name, (xs, ys) in sorted(series.items()):
        stride = max(1, len(xs) // MAX_PLOT_POINTS)
        ax.plot(xs[::stride], ys[::stride], linewidth=1.2, label=name)
        all_y.extend(ys)
    if all_y and min(all_y) > 0 and max(all_y) / min(all_y) > 100:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.set_ylabel("loss", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    _save_png(fig, path)
    return True


def plot_sensitivity(rows: list[dict[str, Any]], dataset: str, path: Path) -> bool:
    """The metric-sensitivity figure: one panel per metric (its ``key`` values), value vs distortion
    level, one line per distortion; ``rows`` as :func:`benchmark.metrics.sensitivity.metric_sensitivity`
    returns them (one value key per metric). False if nothing to plot."""
    metrics = list(dict.fromkeys(r["key"] for r in rows))
    if not metrics:
        return False
    cols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig = _new_figure(width=4.0 * cols, height=3.0 * nrows)
    for i, key in enumerate(metrics):
        ax = fig.add_subplot(nrows, cols, i + 1)
        mine = [r for r in rows if r["key"] == key]
        for name in dict.fromkeys(r["distortion"] for r in mine):
            pts = sorted((r["level"], r["value"]) for r in mine if r["distortion"] == name)
            ax.plot([p[0] for p in pts], _nums([p[1] for p in pts]), marker="o", lw=1.4, ms=3.5, label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("distortion level (0 = real clips)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xticks(sorted({r["level"] for r in mine}))
        values = [v for v in _nums([r["value"] for r in mine]) if math.isfinite(v)]
        if values and min(values) > 0 and max(values) > 20 * min(values):
            ax.set_yscale("log")  # a Fréchet distance spans decades between real and heavily distorted
            ax.tick_params(which="both", labelsize=7)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"metric sensitivity on {dataset}", fontsize=10)
    _save_png(fig, path)
    return True
