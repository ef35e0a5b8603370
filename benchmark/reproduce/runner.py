"""Running a recipe: its methods through the ordinary registry and the cached, manifested stages of
``benchmark run``, then our numbers read from the runs' results.json beside the paper's, and the page."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmark import paths as P
from benchmark.registry import METRICS
from benchmark.reproduce.model import (PROFILES, Ours, Recipe, RecipeContext, RecipeOutcome, Variant,
                                       get_recipe)
from benchmark.results import REAL, is_comparable
from benchmark.utils import UserError, read_json, write_json_atomic

log = logging.getLogger(__name__)


def _float(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def run_methods(recipe: Recipe, ctx: RecipeContext) -> RecipeOutcome:
    """The default runner: every row through :func:`benchmark.run.run_benchmark`, then its metrics.

    Rows without overrides share one ``run_benchmark`` call (and the ordinary run folders, so a
    recipe reuses what ``benchmark run`` already trained). A :class:`Variant` with overrides gets its
    own output folder ``<out>/recipes/<recipe>/<label>/`` so its cached runs never collide.
    """
    from benchmark.run import run_benchmark

    outcome = RecipeOutcome()
    plain = [v for v in recipe.rows() if not v.overrides]
    variants = [v for v in recipe.rows() if v.overrides]
    base_overrides = {**(recipe.smoke_overrides if ctx.profile == "smoke" else {}), **ctx.overrides}
    jobs: list[tuple[list[Variant], Path, dict[str, Any]]] = []
    if plain:
        jobs.append((plain, Path(ctx.out), base_overrides))
    for v in variants:
        jobs.append(([v], Path(ctx.out) / "recipes" / recipe.name / v.label, {**base_overrides, **v.overrides}))
    for rows, out, overrides in jobs:
        methods = ",".join(dict.fromkeys(v.method for v in rows))
        # The recipe's metrics are computed when they can be: with the paper profile, or with
        # --weights random (labelled not comparable). A smoke run without pinned feature-network
        # weights computes the offline metrics only (metrics=None), so it never needs a download.
        metrics = list(recipe.metrics) if recipe.metrics and (ctx.profile == "paper" or ctx.weights == "random") \
            else None
        if metrics is None:
            for name in recipe.metrics or ():
                if getattr(METRICS.info(name), "requires_weights", False):
                    outcome.pending[name] = (f"not computed: {name} needs pretrained feature-network weights; a "
                                             f"smoke run computes it only with --weights random (random weights, "
                                             f"labelled not comparable) or with --profile paper")
        code = run_benchmark(methods, ctx.dataset, profile=ctx.profile, seed=ctx.seed, out=out, device=ctx.device,
                             data_root=ctx.data_root, metrics=metrics, overrides=overrides, progress=ctx.progress,
                             report=True, dataset_options=ctx.dataset_options, weights=ctx.weights,
                             untrained_references=False)
        if code:
            outcome.notes.append(f"some methods of {methods} failed (exit code {code}); see the console log")
        for v in rows:
            outcome.ours += read_ours(recipe, v, out, ctx)
            if not (results_path(out, ctx, v.method)).exists():
                outcome.failed[v.label] = "no results.json (the run failed)"
        outcome.artifacts[f"leaderboard ({', '.join(v.label for v in rows)})"] = str(
            out / "reports" / ctx.dataset / "index.html")
    if recipe.real_row and jobs:  # every job scores the real clips alike; read the first one's
        outcome.ours += read_ours(recipe, Variant(recipe.real_row, REAL), jobs[0][1], ctx)
    return outcome


def results_path(out: Path, ctx: RecipeContext, method: str) -> Path:
    return P.run_dir(out, ctx.dataset, method, ctx.profile, ctx.seed) / P.RESULTS


def read_ours(recipe: Recipe, row: Variant, out: Path, ctx: RecipeContext) -> list[Ours]:
    """The recipe's metrics of one row from its results.json (missing metrics give no cell).

    A paired prediction metric a recipe names plainly (``ssim``) is stored per sample statistic
    (``ssim_best`` / ``_mean`` / ``_worst`` over the k samples of a clip); the plain name reads the
    best-of-k value, the convention of the prediction papers the recipes reproduce (SVG, SAVP, SRVP),
    and the cell's note says so. With k = 1 the three are the same number."""
    path = results_path(out, ctx, row.method)
    if not path.exists():
        return []
    res = read_json(path)
    task = (res.get("tasks") or {}).get(recipe.task) or {}
    metrics = task.get("metrics") or {}
    names = recipe.metrics if recipe.metrics is not None else sorted(metrics)
    out_rows = []
    for m in names:
        mv, note = metrics.get(m), None
        if mv is None and isinstance(metrics.get(f"{m}_best"), dict):
            mv, note = metrics[f"{m}_best"], "best of k"
        if not isinstance(mv, dict):
            continue
        comparable = is_comparable(mv, res)
        if row.method == REAL and (mv.get("extra") or {}).get("same_set"):
            # a set metric of the real clips against themselves: 0 by construction, reproduces nothing
            out_rows.append(Ours(row=row.label, metric=m, value=None, dataset=ctx.dataset, profile=ctx.profile,
                                 comparable=bool(comparable), results=str(path), note="n/a (same set)"))
            continue
        out_rows.append(Ours(row=row.label, metric=m, value=_float(mv.get("value")), ci_low=_float(mv.get("ci_low")),
                             ci_high=_float(mv.get("ci_high")), n=mv.get("n"), dataset=ctx.dataset,
                             profile=ctx.profile, comparable=bool(comparable), results=str(path),
                             **({"note": note} if note else {})))
    return out_rows


def run_recipe(name: str, *, profile: str = "smoke", out: Path = Path("."), seed: int = 0, device: str = "cpu",
               data_root: Path | None = None, progress: bool = True, overrides: dict[str, Any] | None = None,
               dataset_options: dict[str, Any] | None = None, weights: str = "pinned",
               dataset: str | None = None) -> Path:
    """Run recipe ``name`` and render its page; returns ``<out>/reports/recipes/<name>.html``.

    Args:
        name: a registered recipe.
        profile: ``smoke`` (CPU, embedded dataset) or ``paper`` (the paper's dataset and settings).
        out: writes ``<out>/runs``, ``<out>/reports/<dataset>`` and ``<out>/reports/recipes``.
        dataset: run on this dataset instead of the recipe's one for ``profile``.
        overrides, dataset_options, weights, device, data_root, seed, progress: as ``benchmark run``.
    """
    recipe = get_recipe(name)
    if profile not in PROFILES:
        raise UserError(f"profile must be one of {PROFILES}, got {profile!r}")
    ctx = RecipeContext(profile=profile, dataset=dataset or recipe.dataset_for(profile), out=Path(out), seed=seed,
                        device=device, data_root=data_root, progress=progress, overrides=dict(overrides or {}),
                        dataset_options=dict(dataset_options or {}), weights=weights)
    outcome = (recipe.runner or run_methods)(recipe, ctx)
    return write_recipe_page(recipe, ctx, outcome)


def write_recipe_page(recipe: Recipe, ctx: RecipeContext, outcome: RecipeOutcome) -> Path:
    """``<name>.json`` (ours + reported, long format), ``<name>.html`` and the same table as
    ``<name>.md`` / ``<name>.tex`` (for a paper or README) under ``ctx.recipe_dir``."""
    from benchmark.report.recipe import render_recipe

    folder = ctx.recipe_dir
    folder.mkdir(parents=True, exist_ok=True)
    record = {"recipe": recipe.summary(), "profile": ctx.profile, "dataset": ctx.dataset, "seed": ctx.seed,
              "ours": [asdict(o) for o in outcome.ours], "reported": [asdict(r) for r in recipe.reported],
              "artifacts": outcome.artifacts, "notes": outcome.notes, "failed": outcome.failed,
              "pending": outcome.pending}
    write_json_atomic(folder / f"{recipe.name}.json", record)
    from benchmark.report.tables import write_recipe_tables

    write_recipe_tables(recipe, ctx, outcome, folder / f"{recipe.name}.html")  # .md and .tex, linked by the page
    return render_recipe(recipe, ctx, outcome, folder / f"{recipe.name}.html")
