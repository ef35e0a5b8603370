"""Render the HTML leaderboard of one dataset from the ``results.json`` files of its runs.

Reports only read results (see :mod:`benchmark.results`); they never run models. One call writes,
into ``out_dir``::

    index.html    the leaderboard: one table per (task, protocol), sample galleries, plots
    results.csv   the long-format table (header = benchmark.results.COLUMNS)
    assets/       copied galleries, manifests and results.json files, per-timestep and loss plots

The page is self-contained (inline CSS and JS, relative links only), so it works when opened from
disk. ``assets/`` is built in a temporary folder and swapped in whole; the two files are written
atomically; a failed render leaves the previous report as it was.

>>> from benchmark.report import render_report
>>> render_report("moving-shapes", Path("runs"), Path("reports/moving-shapes"))  # doctest: +SKIP
PosixPath('reports/moving-shapes/index.html')
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import benchmark
from benchmark.results import COLUMNS, REAL, find_results, load_table
from benchmark.utils import UserError, atomic_path, read_json, write_text_atomic

TASK_ORDER = ("synthesis", "prediction")

#: Direction of metrics whose results lack ``higher_is_better`` (by family: the name before ``_``).
KNOWN_DIRECTION = {"psnr": True, "ssim": True, "is": True, "fcs": True, "lpips": False,
                   "fvd": False, "kvd": False, "mcs": False, "mse": False, "bpd": False}
#: Column order of metric families; others follow alphabetically.
FAMILY_ORDER = ("psnr", "ssim", "lpips", "fvd", "kvd", "is", "fcs", "mcs")
VARIANT_ORDER = ("", "best", "mean", "worst")
#: Train-log keys that are never plotted as a loss.
NOT_A_LOSS = {"step", "epoch", "iter", "iteration", "time", "wall", "wall_time", "elapsed", "lr",
              "learning_rate", "timestamp", "phase", "rank", "batch", "samples", "it_per_s"}
MAX_PLOT_POINTS = 4000


# ----------------------------------------------------------------------------- formatting ---

def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _decimals(magnitude: float, significant: int) -> int:
    """Decimals that show ``significant`` digits of ``magnitude`` (clamped to 0..6)."""
    if magnitude == 0 or not math.isfinite(magnitude):
        return 2
    return max(0, min(6, significant - 1 - math.floor(math.log10(abs(magnitude)))))


def sort_key(value: Any) -> str:
    """The ``data-value`` attribute of a cell: a JS-parsable number, or "" when missing/NaN."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return ""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def format_metric(value: Any, ci_low: Any = None, ci_high: Any = None, n: Any = None) -> dict[str, str]:
    """Display parts of one number: ``{"value": "27.31", "ci": "± 0.42", "n": "(n=128)"}``.

    The half-width of the 95% CI is shown with two significant digits and the value to the same
    decimals. A missing/NaN interval leaves ``ci`` empty; a missing/NaN value reads "—".

    >>> format_metric(27.3123, 26.8923, 27.7323, 128)
    {'value': '27.31', 'ci': '± 0.42', 'n': '(n=128)'}
    >>> format_metric(0.5, None, None, 3)
    {'value': '0.5000', 'ci': '', 'n': '(n=3)'}
    """
    n_text = f"(n={int(n)})" if _finite(n) and n > 0 else ""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return {"value": "—", "ci": "", "n": n_text}
    if math.isinf(value):
        return {"value": "∞" if value > 0 else "−∞", "ci": "", "n": n_text}
    if _finite(ci_low) and _finite(ci_high) and ci_high >= ci_low:
        half = (ci_high - ci_low) / 2
        d = _decimals(half, 2) if half > 0 else _decimals(value, 4)
        return {"value": f"{value:.{d}f}", "ci": f"± {half:.{d}f}", "n": n_text}
    return {"value": f"{value:.{_decimals(value, 4)}f}", "ci": "", "n": n_text}


def metric_direction(name: str, declared: bool | None) -> bool | None:
    """``True`` if higher is better, ``False`` if lower, ``None`` if unknown."""
    if declared is not None:
        return bool(declared)
    return KNOWN_DIRECTION.get(name.split("_")[0].lower())


def metric_order(name: str) -> tuple:
    family, _, variant = name.partition("_")
    fam = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
    var = VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else len(VARIANT_ORDER)
    return (fam, family, var, variant)


def describe_protocol(p: dict[str, Any]) -> list[str]:
    """Human-readable parts of a ``Protocol.to_dict()``, e.g. ``["5 context → 15 future frames", ...]``."""
    parts = []
    task = p.get("task", "")
    c, f = p.get("context_frames", 0) or 0, p.get("future_frames")
    if task == "prediction":
        parts.append(f"{c} context → {f} future frames")
    elif c:
        parts.append(f"{f} frames conditioned on {c}")
    else:
        parts.append(f"{f} frames")
    res = p.get("resolution")
    if isinstance(res, (list, tuple)) and len(res) == 2:
        parts.append(f"{res[0]}×{res[1]} px")
    ch = p.get("channels")
    if ch is not None:
        parts.append({1: "1 channel (gray)", 3: "3 channels (RGB)"}.get(ch, f"{ch} channels"))
    if p.get("split"):
        parts.append(f"split: {p['split']}")
    nv = p.get("num_videos")
    parts.append(f"n = {nv} clips" if nv else "n = all clips of the split")
    if task == "prediction":
        parts.append(f"k = {p.get('samples_per_context', 1)} samples per context")
    if p.get("stride", 1) not in (1, None):
        parts.append(f"stride {p['stride']}")
    return parts


def _settings_text(d: Any) -> str:
    if not isinstance(d, dict):
        return json.dumps(d, default=str)
    return ", ".join(f"{k}={v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, default=str)}"
                     for k, v in d.items())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


# ------------------------------------------------------------------------------- reading ---

@dataclass
class Run:
    """One results.json and where its files live."""

    path: Path
    data: dict[str, Any]
    slug: str
    color: str = "#000000"
    name: str = ""  # the row label; set by load_runs (method, plus seed/profile when a method has several runs)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def method(self) -> str:
        return str(self.data["method"])

    @property
    def is_real(self) -> bool:
        return self.method == REAL

    @property
    def comparable(self) -> bool:
        return bool(self.data.get("comparable", True))

    @property
    def profile(self) -> str:
        return str(self.data.get("profile") or "")

    @property
    def seeds(self) -> str:
        return " ".join(str(s) for s in self.data.get("seeds", []) or [])

    @property
    def note(self) -> str:
        """Why a run is not comparable, if the results say so."""
        for key in ("not_comparable_reason", "comparable_reason", "note", "notes"):
            if self.data.get(key):
                return _settings_text(self.data[key]) if not isinstance(self.data[key], str) else self.data[key]
        return ""

    def label(self) -> str:
        return self.name or ("real data" if self.is_real else self.method)


def load_runs(dataset: str, run_root: Path, profile: str | None = None) -> list[Run]:
    """Every results.json of ``dataset`` under ``run_root`` (optionally one profile, plus real)."""
    paths = find_results(run_root, dataset, profile)
    base = Path(run_root) / dataset
    runs: list[Run] = []
    seen: Counter[str] = Counter()
    for p in paths:
        try:
            data = read_json(p)
        except (OSError, ValueError) as e:
            raise UserError(f"{p}: cannot read results ({e})") from e
        if not isinstance(data, dict) or "method" not in data or not isinstance(data.get("tasks", {}), dict):
            raise UserError(f"{p}: not a vidbench results file (needs 'method' and 'tasks')")
        try:
            rel = p.parent.relative_to(base)
        except ValueError:
            rel = Path(p.parent.name)
        slug = _slug("__".join(rel.parts) or str(data["method"]))
        seen[slug] += 1
        if seen[slug] > 1:
            slug = f"{slug}-{seen[slug]}"
        runs.append(Run(p, data, slug))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]
    methods = sorted({r.method for r in runs if not r.is_real})
    for r in runs:
        r.color = "#000000" if r.is_real else palette[methods.index(r.method) % len(palette)]
        base_name = "real data" if r.is_real else r.method
        same = [o for o in runs if o.method == r.method]
        if len(same) == 1:
            r.name = base_name
        else:
            extra = []
            if len({o.profile for o in same}) > 1:
                extra.append(r.profile or "no profile")
            if len({o.seeds for o in same}) > 1 or not extra:
                extra.append(f"seed {r.seeds}" if r.seeds else r.slug)
            r.name = f"{base_name} ({', '.join(extra)})"
    return runs


def read_train_log(path: str | os.PathLike) -> dict[str, tuple[list[float], list[float]]]:
    """Loss series of a JSON-lines training log: ``{name: (steps, values)}``.

    Tolerant of what loops write: blank or broken lines are skipped; ``step`` (or ``iter``,
    ``iteration``, else the line number) is the x axis; a ``phase`` field prefixes the keys
    (``{"phase": "val", "loss": 1}`` -> ``val/loss``); keys naming a loss are kept (all numeric
    non-bookkeeping keys when none does); nested dicts are flattened with ``/``.
    """
    series: dict[str, tuple[list[float], list[float]]] = {}
    with open(path, errors="replace") as f:
        for i, line in enumerate(f):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            step = next((rec[k] for k in ("step", "iter", "iteration", "global_step") if _finite(rec.get(k))), i)
            phase = rec.get("phase") if isinstance(rec.get("phase"), str) else ""
            for key, value in _flatten(rec):
                if key.lower() in NOT_A_LOSS or not _finite(value):
                    continue
                name = f"{phase}/{key}" if phase and not key.startswith(phase) else key
                xs, ys = series.setdefault(name, ([], []))
                xs.append(float(step))
                ys.append(float(value))
    losses = {k: v for k, v in series.items() if "loss" in k.lower()}
    return losses or series


def _flatten(d: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


# ------------------------------------------------------------------------------- plotting ---

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
    return [float(x) if _finite(x) else float("nan") for x in (xs or [])]


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
        nc = not run.comparable or (mv.get("extra") or {}).get("comparable") is False
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


# ------------------------------------------------------------------------------ the model ---

@dataclass
class _Assets:
    """Copies files into the (temporary) assets folder and returns page-relative links."""

    root: Path  # the temporary folder that becomes out_dir/assets
    copied: dict[Path, str] = field(default_factory=dict)

    def copy(self, src: Path, name: str) -> str:
        src = src.resolve()
        if src not in self.copied:
            dst = self.root / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            self.copied[src] = f"assets/{name}"
        return self.copied[src]

    def path(self, name: str) -> tuple[Path, str]:
        dst = self.root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        return dst, f"assets/{name}"


def _run_file(run: Run, rel: Any) -> Path | None:
    if not rel or not isinstance(rel, str):
        return None
    p = Path(rel)
    return p if p.is_absolute() else run.folder / p


def _run_links(run: Run, assets: _Assets) -> dict[str, Any]:
    links: dict[str, Any] = {"results": assets.copy(run.path, f"{run.slug}/results.json")}
    man = _run_file(run, run.data.get("manifest"))
    if man is not None and man.is_file():
        links["manifest"] = assets.copy(man, f"{run.slug}/{man.name}")
    else:
        links["manifest_missing"] = str(run.data.get("manifest") or "no manifest recorded")
    return links


def _build_group(task: str, pname: str, members: list[tuple[Run, dict[str, Any]]], assets: _Assets,
                 links: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything one (task, protocol) section shows."""
    # The protocol the rows share: the most common among methods (real only if alone).
    def canon(d: Any) -> str:
        return json.dumps(d, sort_keys=True, default=str)

    votes = Counter(canon(t["protocol"]) for r, t in members if not r.is_real) or \
        Counter(canon(t["protocol"]) for r, t in members)
    ref_key = votes.most_common(1)[0][0]
    protocol = json.loads(ref_key)

    metrics: dict[str, bool | None] = {}
    for _, t in members:
        for m, mv in (t.get("metrics") or {}).items():
            declared = mv.get("higher_is_better") if isinstance(mv, dict) else None
            if m not in metrics or metrics[m] is None:
                metrics[m] = metric_direction(m, declared)
    names = sorted(metrics, key=metric_order)

    # Metric protocols, with every distinct setting and who used it.
    mp: dict[str, dict[str, list[str]]] = {}
    for r, t in members:
        for fam, settings in (t.get("metric_protocols") or {}).items():
            mp.setdefault(fam, {}).setdefault(_settings_text(settings), []).append(r.label())
    metric_protocols = [{"name": fam, "variants": [{"text": txt or "(defaults)", "methods": who}
                                                   for txt, who in variants.items()]}
                        for fam, variants in sorted(mp.items())]

    rows = []
    for r, t in members:
        ms = t.get("metrics") or {}
        diff = [k for k in sorted(set(protocol) | set(t["protocol"]))
                if canon(protocol.get(k)) != canon(t["protocol"].get(k))]
        cells = []
        for m in names:
            mv = ms.get(m)
            if not isinstance(mv, dict):
                cells.append({"value": "—", "ci": "", "n": "", "sort": "", "title": "not reported",
                              "nc": False, "best": False, "raw": None})
                continue
            text = format_metric(mv.get("value"), mv.get("ci_low"), mv.get("ci_high"), mv.get("n"))
            nc = not r.comparable or (mv.get("extra") or {}).get("comparable") is False
            title = f"{m} = {mv.get('value')}"
            if _finite(mv.get("ci_low")) and _finite(mv.get("ci_high")):
                title += f"; 95% CI [{mv['ci_low']:.6g}, {mv['ci_high']:.6g}]"
            if mv.get("n"):
                title += f"; n = {mv['n']}"
            if mv.get("extra"):
                title += f"; {_settings_text(mv['extra'])}"
            if nc:
                title += "; NOT COMPARABLE"
            cells.append({**text, "sort": sort_key(mv.get("value")), "title": title, "nc": nc,
                          "best": False, "raw": mv.get("value")})
        rows.append({"run": r, "method": r.label(), "is_real": r.is_real, "comparable": r.comparable,
                     "note": r.note, "profile": r.profile, "seeds": r.seeds, "slug": r.slug,
                     "links": links[r.slug], "protocol_diff": diff, "cells": cells, "placeholder": False})

    # Best per column: comparable, non-real rows only.
    for j, m in enumerate(names):
        higher = metrics[m]
        if higher is None:
            continue
        vals = [row["cells"][j]["raw"] for row in rows
                if not row["is_real"] and not row["cells"][j]["nc"] and _finite(row["cells"][j]["raw"])]
        if len(vals) < 2:
            continue
        best = max(vals) if higher else min(vals)
        for row in rows:
            c = row["cells"][j]
            if not row["is_real"] and not c["nc"] and c["raw"] == best:
                c["best"] = True

    # Initial order: real bound pinned first; comparable rows best-first on the first ranked
    # metric; not-comparable rows after them (never ranked).
    key_col = next((j for j, m in enumerate(names) if metrics[m] is not None), None)

    def order(row: dict[str, Any]) -> tuple:
        if key_col is None:
            v = 0.0
        else:
            raw = row["cells"][key_col]["raw"]
            v = (-raw if metrics[names[key_col]] else raw) if _finite(raw) else math.inf
        return (not row["is_real"], not row["comparable"], v, row["method"])

    rows.sort(key=order)
    if not any(row["is_real"] for row in rows):
        rows.insert(0, {"method": "real data", "is_real": True, "placeholder": True, "comparable": True,
                        "note": "", "protocol_diff": [],
                        "cells": [{"value": "—", "ci": "", "n": "", "sort": "", "title": "no real-data run",
                                   "nc": False, "best": False} for _ in names]})

    # Curves: *_best metrics, and curve metrics without a *_best sibling.
    plots = []
    with_curves = [m for m in names if any(isinstance(t.get("metrics", {}).get(m), dict)
                                           and t["metrics"][m].get("curve") for _, t in members)]
    for m in with_curves:
        family = m.rsplit("_", 1)[0] if "_" in m else m
        if not m.endswith("_best") and f"{family}_best" in with_curves:
            continue
        entries = [(r, t["metrics"][m]) for r, t in members if isinstance(t.get("metrics", {}).get(m), dict)]
        entries.sort(key=lambda e: (not e[0].is_real, e[0].method))
        dst, href = assets.path(f"plots/{_slug(task)}-{_slug(pname)}-{_slug(m)}.png")
        if plot_curves(m, entries, protocol, metrics[m], dst):
            plots.append({"metric": m, "src": href})

    # Galleries: real first, then table order.
    galleries = []
    for row in rows:
        if row["placeholder"]:
            continue
        r = row["run"]
        t = r.data["tasks"][task]
        src = _run_file(r, t.get("gallery"))
        item = {"method": row["method"], "caption": f"{r.profile or '—'} · seed {r.seeds or '—'}",
                "is_real": r.is_real, "nc": not r.comparable}
        if src is None:
            item["missing"] = "no gallery recorded"
        elif not src.is_file():
            item["missing"] = f"gallery not found: {t.get('gallery')}"
        else:
            item["src"] = assets.copy(src, f"{r.slug}/{_slug(task)}-gallery{src.suffix.lower()}")
            item["video"] = src.suffix.lower() not in (".gif", ".png", ".webp", ".jpg", ".jpeg")
            if not item["video"]:
                try:
                    from PIL import Image

                    with Image.open(src) as im:
                        w, h = im.size
                    scale = max(1, min(4, 360 // max(w, 1)))
                    item["width"], item["height"] = w * scale, h * scale
                except Exception:  # a broken image still gets its link
                    pass
        item["extras"] = _extra_galleries(r, t, task, assets)
        galleries.append(item)

    return {"task": task, "protocol_name": pname, "anchor": _slug(f"{task}-{pname}"),
            "protocol_parts": describe_protocol(protocol), "protocol": protocol,
            "metric_protocols": metric_protocols,
            "metrics": [{"name": m, "higher": metrics[m]} for m in names],
            "rows": rows, "plots": plots, "galleries": galleries,
            "n_comparable": sum(1 for row in rows if not row["is_real"] and row["comparable"])}


def _image_size(src: Path) -> tuple[int, int] | None:
    """Display size of a GIF/PNG gallery (scaled up to ~360 px wide), or None if unreadable."""
    try:
        from PIL import Image

        with Image.open(src) as im:
            w, h = im.size
    except Exception:
        return None
    scale = max(1, min(4, 360 // max(w, 1)))
    return w * scale, h * scale


def _extra_galleries(run: Run, entry: dict[str, Any], task: str, assets: _Assets) -> list[dict[str, Any]]:
    """A task entry's ``extra_galleries`` (name -> GIF path relative to the run folder, written by the
    pipeline from ``Method.visualize``, e.g. VGAN's background / foreground / mask streams)."""
    extras = entry.get("extra_galleries") or {}
    out: list[dict[str, Any]] = []
    if not isinstance(extras, dict):
        return out
    for name, rel in extras.items():
        item: dict[str, Any] = {"name": str(name)}
        src = _run_file(run, rel)
        if src is None or not src.is_file():
            item["missing"] = f"not found: {rel}"
        else:
            item["src"] = assets.copy(src, f"{run.slug}/{_slug(task)}-{_slug(str(name))}{src.suffix.lower()}")
            size = _image_size(src)
            if size:
                item["width"], item["height"] = size
        out.append(item)
    return out


def _build_training(runs: list[Run], assets: _Assets) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        # multi-stage methods: one log per training stage ("train_logs"); others: "train_log"
        logs = r.data.get("train_logs") or ({"": r.data["train_log"]} if r.data.get("train_log") else {})
        if r.is_real:
            continue
        for stage, rel in logs.items():
            label = f"{r.label()} · {stage}" if stage else r.label()
            item: dict[str, Any] = {"method": label, "caption": f"{r.profile or '—'} · seed {r.seeds or '—'}",
                                    "nc": not r.comparable}
            src = _run_file(r, rel)
            suffix = f"-{_slug(stage)}" if stage else ""
            if src is None or not src.is_file():
                item["missing"] = f"training log not found: {rel}"
            else:
                item["log"] = assets.copy(src, f"{r.slug}/{src.stem}{suffix}{src.suffix}")
                series = read_train_log(src)
                dst, href = assets.path(f"{r.slug}/train-loss{suffix}.png")
                if plot_train_log(series, f"{label} — training loss", dst):
                    item["src"] = href
                else:
                    item["missing"] = "training log holds no loss values"
            out.append(item)
    return out


def _crowd_studies(out_dir: Path, dataset: str, sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Human-study tables (``out_dir/crowd/*.json``): attached to the section of their task; returns all."""
    from benchmark.report.crowd import load_crowd_studies

    studies = load_crowd_studies(out_dir, dataset)
    for st in studies:
        st["json"] = st["json"].relative_to(out_dir).as_posix()
    tasks = {s["task"] for s in sections}
    for s in sections:
        s["crowd"] = [st for st in studies if st["task"] == s["task"]]
    for st in studies:
        st["in_section"] = st["task"] in tasks
    return studies


# ------------------------------------------------------------------------------- the page ---

def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("benchmark.report", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def _now() -> str:
    """UTC time of rendering (``SOURCE_DATE_EPOCH`` fixes it, for byte-identical rebuilds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def render_report(dataset: str, run_root: Path, out_dir: Path, profile: str | None = None) -> Path:
    """Write the leaderboard of ``dataset`` from every ``run_root/<dataset>/**/results.json``.

    Args:
        dataset: dataset name (the folder under ``run_root``).
        run_root: the runs folder, e.g. ``runs/``.
        out_dir: where to write ``index.html``, ``results.csv`` and ``assets/``.
        profile: only runs of this profile (real-data runs are always kept).

    Returns:
        The path of ``index.html``.

    Raises:
        UserError: no results found, or a results.json is unreadable.
    """
    run_root, out_dir = Path(run_root), Path(out_dir)
    runs = load_runs(dataset, run_root, profile)
    if not runs:
        where = run_root / dataset
        raise UserError(f"no results.json under {where}" + (f" for profile {profile!r}" if profile else "")
                        + "; run `benchmark evaluate` (or `benchmark run`) first")

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_assets = Path(tempfile.mkdtemp(prefix=".assets-", dir=out_dir))
    try:
        assets = _Assets(tmp_assets)
        links = {r.slug: _run_links(r, assets) for r in runs}

        grouped: dict[tuple[str, str], list[tuple[Run, dict[str, Any]]]] = {}
        for r in runs:
            for task, t in (r.data.get("tasks") or {}).items():
                if not isinstance(t, dict) or not isinstance(t.get("protocol"), dict):
                    raise UserError(f"{r.path}: task {task!r} has no protocol record")
                pname = str(t["protocol"].get("name") or task)
                grouped.setdefault((task, pname), []).append((r, t))
        keys = sorted(grouped, key=lambda k: (TASK_ORDER.index(k[0]) if k[0] in TASK_ORDER else 99, k))
        sections = [_build_group(task, pname, grouped[(task, pname)], assets, links) for task, pname in keys]
        training = _build_training(runs, assets)
        crowd = _crowd_studies(out_dir, dataset, sections)

        html = _environment().get_template("index.html.j2").render(
            dataset=dataset, generated=_now(), version=benchmark.__version__, profile=profile,
            run_root=str(run_root / dataset), n_runs=len(runs), sections=sections, training=training,
            methods=sorted({r.label() for r in runs if not r.is_real}),
            any_nc=any(not r.comparable for r in runs), crowd=crowd)

        table = load_table(r.path for r in runs)
        csv_text = table.to_csv(index=False, columns=list(COLUMNS))

        # Swap assets in whole, then write the two files (index last).
        final = out_dir / "assets"
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".assets-old-", dir=out_dir))
            os.replace(final, old / "assets")
        try:
            os.replace(tmp_assets, final)
        except OSError:
            if old is not None:
                os.replace(old / "assets", final)  # put the previous report's assets back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_assets, ignore_errors=True)
        raise
    write_text_atomic(out_dir / "results.csv", csv_text)
    return write_text_atomic(out_dir / "index.html", html)
