"""Reading the runs a leaderboard shows: results.json files and their training logs."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from benchmark.report.format import finite, settings_text, slug
from benchmark.results import REAL, find_results, is_comparable
from benchmark.utils import UserError, read_json

#: Train-log keys that are never plotted as a loss.
NOT_A_LOSS = {"step", "epoch", "iter", "iteration", "time", "wall", "wall_time", "elapsed", "lr",
              "learning_rate", "timestamp", "phase", "rank", "batch", "samples", "it_per_s"}


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
    def base_method(self) -> str:
        """The registered method behind the row: ``vgan`` for ``vgan@init``, ``copy_last`` for
        ``copy_last@two_ended`` (a baseline on a dataset variant), else the method itself."""
        return str(self.data.get("base_method") or self.method)

    @property
    def is_real(self) -> bool:
        return self.method == REAL

    @property
    def is_reference(self) -> bool:
        """A reference row (an untrained network, ``<method>@init``, or a trivial predictor such as
        ``background_fill``): shown for scale, never ranked."""
        return bool(self.data.get("reference"))

    @property
    def reference_kind(self) -> str:
        """What a reference row is: ``untrained`` (an ``@init`` run) or the trivial predictor's kind."""
        return str(self.data.get("reference") or "")

    @property
    def hand_aid(self) -> str:
        """What the run's profile adds by hand (``Method.hand_aid``; results.json ``hand_aid``), or ""."""
        return str(self.data.get("hand_aid") or "")

    @property
    def comparable(self) -> bool:
        return self.data.get("comparable", True) is not False

    def value_comparable(self, value: dict[str, Any]) -> bool:
        """:func:`benchmark.results.is_comparable` of one of this run's values."""
        return is_comparable(value, self.data)

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
                return settings_text(self.data[key]) if not isinstance(self.data[key], str) else self.data[key]
        return ""

    def label(self) -> str:
        return self.name or self.base_label

    @property
    def base_label(self) -> str:
        """The row label before seed/profile qualifiers: the method, "real data", "vgan (untrained)"."""
        if self.is_real:
            return "real data"
        if self.is_reference:
            return f"{self.data.get('base_method', self.method)} ({self.data['reference']})"
        return self.method


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
        run_slug = slug("__".join(rel.parts) or str(data["method"]))
        seen[run_slug] += 1
        if seen[run_slug] > 1:
            run_slug = f"{run_slug}-{seen[run_slug]}"
        runs.append(Run(p, data, run_slug))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]
    def family(r: Run) -> str:  # an untrained reference run takes its method's colour
        return r.base_method

    methods = sorted({family(r) for r in runs if not r.is_real})
    for r in runs:
        r.color = "#000000" if r.is_real else palette[methods.index(family(r)) % len(palette)]
        base_name = r.base_label
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
            step = next((rec[k] for k in ("step", "iter", "iteration", "global_step") if finite(rec.get(k))), i)
            phase = rec.get("phase") if isinstance(rec.get("phase"), str) else ""
            for key, value in _flatten(rec):
                if key.lower() in NOT_A_LOSS or not finite(value):
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


def run_file(run: Run, rel: Any) -> Path | None:
    if not rel or not isinstance(rel, str):
        return None
    p = Path(rel)
    return p if p.is_absolute() else run.folder / p
