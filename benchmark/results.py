"""The results contract: per-run ``results.json`` and the long-format results table.

A run folder ``runs/<dataset>/<method>/<profile>/seed<seed>/`` holds ``results.json``::

    {"schema": "vidbench.results/1", "method": ..., "dataset": ..., "profile": ..., "seeds": [0],
     "comparable": true,              # false if any number used unpinned/random weights
     "tasks": {"prediction": {"protocol": {...Protocol.to_dict()},
                              "metric_protocols": {"psnr": {...}, ...},
                              "metrics": {"psnr_best": {...MetricValue.to_dict()}, ...},
                              "samples": "samples/prediction.npz",
                              "gallery": "samples/prediction.gif",
                              "sampling": {"videos": 640, "samples_per_context": 5,
                                           "generate_s": 12.8, "videos_per_s": 50.0}}},
     "train_log": "train_log.jsonl" or null, "manifest": "manifest.json"}

The "real data" bound is a run with ``method == "real"`` (``runs/<dataset>/real/...``).
:func:`rows` flattens one results.json into the long table
``method, dataset, task, protocol, metric, value, ci_low, ci_high, n, seeds, profile, comparable``.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Iterable

from benchmark.utils import read_json

SCHEMA = "vidbench.results/1"
COLUMNS = ("method", "dataset", "task", "protocol", "metric", "value", "ci_low", "ci_high", "n",
           "seeds", "profile", "comparable")
from benchmark.paths import REAL  # noqa: E402  (the real-data bound's method name; one home)


def is_comparable(value: dict[str, Any], results: dict[str, Any] | None = None) -> bool:
    """The one "comparable" rule: a number is comparable unless it, or the run it belongs to, says it
    is not (made with unpinned/random feature-network weights). ``value`` is a ``MetricValue`` dict
    (its ``comparable`` or ``extra.comparable``), ``results`` the run's results.json dict.

    >>> is_comparable({"value": 1.0}), is_comparable({"value": 1.0, "extra": {"comparable": False}})
    (True, False)
    >>> is_comparable({"value": 1.0}, {"comparable": False})
    False
    """
    if results is not None and results.get("comparable", True) is False:
        return False
    own = value.get("comparable", (value.get("extra") or {}).get("comparable", True))
    return own is not False


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Long-format rows of one results.json dict."""
    out = []
    for task, t in results.get("tasks", {}).items():
        for metric, mv in t.get("metrics", {}).items():
            out.append({
                "method": results["method"], "dataset": results["dataset"], "task": task,
                "protocol": t["protocol"]["name"], "metric": metric, "value": mv["value"],
                "ci_low": mv.get("ci_low"), "ci_high": mv.get("ci_high"), "n": mv.get("n"),
                "seeds": " ".join(str(s) for s in results.get("seeds", [])),
                "profile": results.get("profile", ""), "comparable": is_comparable(mv, results),
            })
    return out


def find_results(run_root: str | Path, dataset: str | None = None, profile: str | None = None) -> list[Path]:
    """All ``results.json`` under ``run_root`` (optionally for one dataset/profile), sorted."""
    pattern = str(Path(run_root) / (dataset or "*") / "**" / "results.json")
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
    if profile:
        def keep(p: Path) -> bool:
            r = read_json(p)  # read once per file
            return r.get("profile") in (profile, None, "") or r.get("method") == REAL

        found = [p for p in found if keep(p)]
    return found


def load_table(paths: Iterable[str | Path]):
    """A pandas DataFrame of the long-format rows of several results.json files."""
    import pandas as pd

    all_rows: list[dict[str, Any]] = []
    for p in paths:
        all_rows.extend(rows(read_json(p)))
    return pd.DataFrame(all_rows, columns=list(COLUMNS))
