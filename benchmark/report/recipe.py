"""Render one recipe's page: ours beside the paper-reported numbers (see :mod:`benchmark.reproduce`).

The table is long-format — one row per (row label, metric) — with an *ours* cell (value ± CI
half-width, and the dataset/profile it comes from) and a *paper-reported* cell (value, ± as
printed, the paper's dataset and the source table). When the two come from different datasets or
ours comes from the ``smoke`` profile, the row says so ("not the same setting"), so nobody reads a
smoke number on moving-shapes as a reproduction of a UCF101 number.

>>> from benchmark.report.recipe import render_recipe  # render_recipe(recipe, ctx, outcome, path)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmark.report.format import format_metric
from benchmark.report.render import environment as _environment, now as _now
from benchmark.utils import write_text_atomic


def _rel(target: str, page: Path) -> str:
    """A link from ``page`` to ``target`` (relative when possible, so the page works from disk)."""
    try:
        return Path(os.path.relpath(Path(target).resolve(), page.parent.resolve())).as_posix()
    except ValueError:
        return Path(target).as_posix()


def recipe_rows(recipe: Any, ctx: Any, outcome: Any) -> list[dict[str, Any]]:
    """The table model: one dict per (row, metric), ours and reported side by side."""
    labels = [v.label for v in recipe.rows()]
    ours = {(o.row, o.metric): o for o in outcome.ours}
    reported: dict[tuple[str, str], list[Any]] = {}
    for r in recipe.reported:
        reported.setdefault((r.row, r.metric), []).append(r)
    keys = list(dict.fromkeys([*ours, *reported]))
    order = {lab: i for i, lab in enumerate(labels)}
    keys.sort(key=lambda k: (order.get(k[0], len(order)), k[0]))
    rows = []
    for key in keys:
        o = ours.get(key)
        reps = reported.get(key) or [None]
        for rep in reps:
            cell: dict[str, Any] = {"row": key[0], "metric": key[1]}
            if o is not None and o.value is not None:
                cell["ours"] = format_metric(o.value, o.ci_low, o.ci_high, o.n)
                cell["ours_setting"] = f"{o.dataset}, {o.profile} profile"
                cell["ours_nc"] = not o.comparable
                cell["ours_link"] = o.results
            elif key[0] in outcome.failed:
                cell["ours_missing"] = outcome.failed[key[0]]
            elif key[1] in outcome.pending:
                cell["ours_missing"] = outcome.pending[key[1]]
            else:
                cell["ours_missing"] = "not measured by this recipe" if o is None else "no value"
            if rep is not None:
                cell["reported"] = {"value": f"{rep.value:g}", "ci": f"± {rep.ci:g}" if rep.ci is not None else ""}
                cell["reported_setting"] = rep.dataset
                cell["source"] = rep.source
                cell["note"] = rep.note
            same = (o is not None and rep is not None and o.value is not None and ctx.profile == "paper"
                    and (not rep.dataset or rep.dataset == o.dataset))
            cell["same_setting"] = same
            if o is not None and rep is not None and not same:
                why = []
                if rep.dataset and rep.dataset != o.dataset:
                    why.append(f"ours on {o.dataset}, paper on {rep.dataset}")
                if ctx.profile != "paper":
                    why.append(f"ours from the {ctx.profile} profile")
                cell["why_not_same"] = "; ".join(why)
            rows.append(cell)
    return rows


def render_recipe(recipe: Any, ctx: Any, outcome: Any, path: Path) -> Path:
    """Write the recipe page to ``path`` (atomically) and return it."""
    path = Path(path)
    rows = recipe_rows(recipe, ctx, outcome)
    for r in rows:
        if r.get("ours_link"):
            r["ours_link"] = _rel(r["ours_link"], path)
    artifacts = [{"name": k, "href": _rel(v, path), "exists": Path(v).exists()} for k, v in outcome.artifacts.items()]
    html = _environment().get_template("recipe.html.j2").render(
        recipe=recipe, profile=ctx.profile, dataset=ctx.dataset, seed=ctx.seed, rows=rows, artifacts=artifacts,
        notes=outcome.notes, failed=outcome.failed, generated=_now(),
        datasets=", ".join(f"{k}: {v}" for k, v in recipe.datasets.items()))
    return write_text_atomic(path, html)
