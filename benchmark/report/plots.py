"""Plots of the leaderboard: per-timestep metric curves and training losses (matplotlib, Agg).

Each figure is drawn from plain data (its *spec*); under :func:`plot_cache` a figure whose spec,
drawing code and matplotlib version are unchanged is copied from the previous rendering instead of
drawn again, so re-rendering an unchanged leaderboard (a cached rerun) never imports matplotlib.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from benchmark.report.format import finite
from benchmark.report.runs import Run
from benchmark.utils import atomic_path, sha256_json

MAX_PLOT_POINTS = 4000

#: (cache folder, keys used by this rendering) while :func:`plot_cache` is active
_CACHE: list[tuple[Path, set[str]]] = []


@contextlib.contextmanager
def plot_cache(folder: Path) -> Iterator[None]:
    """Reuse figures from ``folder`` (``<key>.png``) and store new ones there; on a clean exit the
    figures this rendering did not use are removed, so the folder holds one report's figures."""
    folder = Path(folder)
    used: set[str] = set()
    _CACHE.append((folder, used))
    try:
        yield
    finally:
        _CACHE.pop()
    if folder.is_dir():
        for f in folder.glob("*.png"):
            if f.stem not in used:
                f.unlink(missing_ok=True)


def _code_identity() -> dict[str, str]:
    import importlib.metadata

    try:
        mpl = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - matplotlib is a core dependency
        mpl = "?"
    return {"plots.py": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), "matplotlib": mpl}


def _render(kind: str, spec: dict[str, Any], path: Path, draw: Callable[[dict[str, Any], Path], None]) -> None:
    """``draw(spec, path)``, or a copy of the cached figure of the same spec and code."""
    if not _CACHE:
        draw(spec, path)
        return
    folder, used = _CACHE[-1]
    key = sha256_json({"kind": kind, "spec": spec, "code": _code_identity()})
    used.add(key)
    cached = folder / f"{key}.png"
    if cached.is_file():
        with atomic_path(path) as tmp:
            shutil.copyfile(cached, tmp)
        return
    draw(spec, path)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as tmp:
        shutil.copyfile(path, tmp)


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
    c, p = protocol.get("context_frames") or 0, protocol.get("future_frames")
    lines = []
    for run, mv in entries:
        y = _nums(mv.get("curve"))
        if not any(math.isfinite(v) for v in y):
            continue
        x = list(range(c + 1, c + 1 + len(y))) if len(y) == p else list(range(1, len(y) + 1))
        nc = not run.value_comparable(mv)
        lo, hi = _nums(mv.get("curve_ci_low")), _nums(mv.get("curve_ci_high"))
        lines.append({"label": run.label() + (" (not comparable)" if nc else ""), "color": run.color,
                      "dashed": nc, "x": x, "y": y, "band": [lo, hi] if len(lo) == len(y) == len(hi) else None})
    if not lines:
        return False
    arrow = {True: " (higher is better)", False: " (lower is better)"}.get(higher, "")
    spec = {"lines": lines, "title": f"{metric} per frame{arrow}", "ylabel": metric,
            "xlabel": f"frame index (frames 1–{c} are context)" if c else "frame index"}
    _render("curves", spec, path, _draw_curves)
    return True


def _draw_curves(spec: dict[str, Any], path: Path) -> None:
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for line in spec["lines"]:
        ax.plot(line["x"], line["y"], color=line["color"], linestyle="--" if line["dashed"] else "-", marker="o",
                markersize=2.5, linewidth=1.4, label=line["label"])
        if line["band"] is not None:
            ax.fill_between(line["x"], *line["band"], color=line["color"], alpha=0.18, linewidth=0)
    ax.set_title(spec["title"], fontsize=10)
    ax.set_xlabel(spec["xlabel"], fontsize=9)
    ax.set_ylabel(spec["ylabel"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    _save_png(fig, path)


def plot_train_log(series: dict[str, tuple[list[float], list[float]]], title: str, path: Path) -> bool:
    """Loss curves of one run; log y axis when all values are positive and span > 2 decades."""
    if not series:
        return False
    lines = []
    for name, (xs, ys) in sorted(series.items()):
        stride = max(1, len(xs) // MAX_PLOT_POINTS)
        lines.append({"label": name, "x": list(xs[::stride]), "y": list(ys[::stride]), "all_y": list(ys)})
    all_y = [y for line in lines for y in line.pop("all_y")]
    log_y = bool(all_y) and min(all_y) > 0 and max(all_y) / min(all_y) > 100
    _render("train_log", {"lines": lines, "title": title, "log_y": log_y}, path, _draw_train_log)
    return True


def _draw_train_log(spec: dict[str, Any], path: Path) -> None:
    fig = _new_figure(5.6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for line in spec["lines"]:
        ax.plot(line["x"], line["y"], linewidth=1.2, label=line["label"])
    if spec["log_y"]:
        ax.set_yscale("log")
    ax.set_title(spec["title"], fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.set_ylabel("loss", fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    _save_png(fig, path)


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
