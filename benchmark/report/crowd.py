"""Human-study tables for the leaderboard: reads ``<report dir>/crowd/*.json`` written by
``benchmark crowd analyze`` (schema ``vidbench.crowd.analysis/1``) and shapes them for the template.

Each study shows the preference matrix (Vondrick et al. 2016 Table 1), the per-pair prefer A / prefer B /
no preference table (Walker et al. 2021 Table 1), Bradley–Terry scores when there are more than two
systems, the study hash and the rater counts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmark.utils import read_json

ANALYSIS_SCHEMA = "vidbench.crowd.analysis/1"


def _pct(p: dict[str, Any] | None) -> dict[str, str]:
    if not p or not p.get("n") or p.get("rate") is None:
        return {"value": "—", "ci": "", "n": ""}
    lo, hi = p.get("ci_low"), p.get("ci_high")
    ci = f"[{100 * lo:.1f}, {100 * hi:.1f}]" if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else ""
    return {"value": f"{100 * p['rate']:.1f}%", "ci": ci, "n": f"(n={p['n']})"}


def _num(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def load_crowd_studies(report_dir: Path, dataset: str) -> list[dict[str, Any]]:
    """Display records of every study analysis under ``report_dir/crowd`` for ``dataset``."""
    folder = Path(report_dir) / "crowd"
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            r = read_json(path)
        except (OSError, ValueError):
            continue
        if not isinstance(r, dict) or r.get("schema") != ANALYSIS_SCHEMA or r.get("dataset") != dataset:
            continue
        t2 = r["table_002"]
        matrix = [{"system": name, "cells": [None if c is None else {**_pct(c), "ties": c.get("ties", 0)}
                                             for c in row]}
                  for name, row in zip(t2["rows"], t2["cells"])]
        pairs = [{"a": p["a"], "b": p["b"], "prefer_a": _pct(p["share_a"]), "prefer_b": _pct(p["share_b"]),
                  "same": _pct(p["share_ties"]), "n": p["n_total"], "decided": _pct(p["prefer_a"])}
                 for p in r["pairs"]]
        bt = r.get("bradley_terry") or {}
        bt_rows = []
        if "scores" in bt:
            bt_rows = sorted(({"system": s, "score": _num(v), "ci": f"[{_num(lo)}, {_num(hi)}]", "raw": v}
                              for s, v, lo, hi in zip(bt["systems"], bt["scores"], bt["ci_low"], bt["ci_high"])),
                             key=lambda x: -(x["raw"] if isinstance(x["raw"], (int, float)) else -math.inf))
        ag = r.get("agreement") or {}
        chance = (r.get("checks") or {}).get("chance_pass")
        out.append({"name": r["study"], "hash": r["study_hash"], "task": r["task"], "question": r["question"],
                    "answers": r["answers"], "three_way": "same" in r["answers"], "raters": r["raters"],
                    "judgements": r["judgements"], "interval": r["interval"], "systems": t2["cols"],
                    "matrix": matrix, "pairs": pairs, "bt": bt_rows, "bt_note": bt.get("note", ""),
                    "alpha": _num(ag.get("krippendorff_alpha")), "pairwise": _num(ag.get("pairwise")),
                    "chance_pass": f"{100 * chance:.1f}%" if isinstance(chance, (int, float)) else "",
                    "anchor": f"crowd-{path.stem}", "json": path})
    return out
