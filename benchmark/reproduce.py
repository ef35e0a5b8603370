"""`benchmark reproduce`: the papers' experiments as named *recipes*.

A recipe says which paper table or figure it reproduces, which methods it runs on which dataset
(per profile: ``smoke`` runs on the embedded moving-shapes on a CPU, ``paper`` on the paper's
dataset on a GPU), which metrics it reads, and the numbers the paper prints (with their source).
Running it trains/samples/evaluates through the ordinary pipeline (so every number has its
manifest) and renders ``<out>/reports/recipes/<name>.html``: one row per (method, metric) with
*ours* beside *paper-reported*, each with the setting it comes from, so anyone can see how far a
reproduction is from the paper — and whether the two numbers are even the same setting.

Adding a recipe (e.g. in ``benchmark/recipes/<paper>.py``, imported by
``benchmark/recipes/__init__.py``)::

    from benchmark.reproduce import Recipe, Reported, register_recipe

    register_recipe(Recipe(
        name="navslp_table2",
        title="MCS / FCS on Chair-CAD, Weizmann, Golf",
        paper="Aich et al. 2020 (papers/004)",
        reproduces="Table 2",
        methods=("navslp", "mocogan"),
        datasets={"smoke": "moving-shapes", "paper": "weizmann"},
        metrics=("mcs", "fcs"),
        reported=(Reported("navslp", "mcs", 2.63, dataset="weizmann", source="papers/004 Table 2"),
                  Reported("mocogan", "mcs", 3.41, dataset="weizmann", source="papers/004 Table 2")),
    ))

The default runner (:func:`run_methods`) calls :func:`benchmark.run.run_benchmark` and reads the
chosen metrics from each method's ``results.json``. A recipe with extra steps (a crowd study to
prepare, an ablation grid of overrides) passes its own ``runner(recipe, ctx) -> RecipeOutcome``;
it may call :func:`run_methods` first. Ablations: give a row ``label`` and ``overrides`` through
:class:`Variant` instead of a bare method name.

CLI::

    benchmark reproduce list
    benchmark reproduce vgan_streams [--profile smoke|paper] [--out .] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmark.registry import METRICS, Registry
from benchmark.results import REAL
from benchmark.utils import UserError, read_json, write_json_atomic

log = logging.getLogger(__name__)

PROFILES = ("smoke", "paper")


@dataclass(frozen=True)
class Reported:
    """One number a paper prints.

    Attributes:
        row: the table row — one of the recipe's row labels (a method name or a :class:`Variant` label).
        metric: the column (a metric name as the harness spells it, e.g. ``"fvd"``, ``"is"``, or
            a free label such as ``"prefer_over:vgan_ae_gmm"`` for crowd-study percentages).
        value: the printed value.
        ci: the printed ± (half-width or standard deviation, as the paper prints it), if any.
        dataset: the paper's dataset for this number (e.g. ``"ucf101"``).
        source: where it is printed, e.g. ``"papers/002 Table 1"``.
        note: anything a reader must know (units, "[unverified]", other protocol).
    """

    row: str
    metric: str
    value: float
    ci: float | None = None
    dataset: str = ""
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Variant:
    """A table row that is a method under a config override (ablations): ``label`` names the row."""

    label: str
    method: str
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ours:
    """One number we measured (one cell of the "ours" column)."""

    row: str
    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    dataset: str = ""
    profile: str = ""
    comparable: bool = True
    results: str = ""  # path of the results.json it comes from
    note: str = ""


@dataclass
class RecipeOutcome:
    """What a runner returns: our numbers, links to artifacts (name -> path) and notes.

    ``failed`` maps a row label to why it has no numbers; ``pending`` maps a metric (column) to why
    ours is not there yet (e.g. "awaiting crowd judgements"), shown in its empty cells.
    """

    ours: list[Ours] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)


@dataclass
class RecipeContext:
    """Where and how a recipe runs (built by :func:`run_recipe`)."""

    profile: str
    dataset: str
    out: Path
    seed: int = 0
    device: str = "cpu"
    data_root: Path | None = None
    progress: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    weights: str = "pinned"

    @property
    def recipe_dir(self) -> Path:
        return Path(self.out) / "reports" / "recipes"


@dataclass(frozen=True)
class Recipe:
    """A named experiment of a paper.

    Attributes:
        name: registry name (``benchmark reproduce NAME``).
        title: one line shown in ``list`` and as the page title.
        paper: citation (e.g. ``"Vondrick et al. 2016 (papers/002)"``).
        reproduces: which table/figure, e.g. ``"Table 1"``.
        methods: the rows: method names, or :class:`Variant` for ablation rows.
        datasets: profile -> dataset name; the ``smoke`` entry must be a dataset that needs no
            download (the embedded ``moving-shapes``).
        metrics: metric names to read from results.json (None: every metric the run computed).
        task: the task whose metrics are read (``synthesis`` or ``prediction``).
        reported: the paper's numbers.
        runner: ``runner(recipe, ctx) -> RecipeOutcome``; default :func:`run_methods`.
        description: a paragraph for the page: what the experiment shows, how ours differs.
        smoke_overrides: extra ``--set`` overrides applied to every method with the smoke profile
            (e.g. fewer steps), so the recipe stays fast on a CPU.
        real_row: the row label of the paper's real-data score (e.g. ``"real (bound)"``): its "ours"
            cell is the real test clips' own score from the run (the leaderboard's bound row).
    """

    name: str
    title: str
    paper: str
    reproduces: str
    methods: tuple[str | Variant, ...]
    datasets: dict[str, str]
    metrics: tuple[str, ...] | None = None
    task: str = "synthesis"
    reported: tuple[Reported, ...] = ()
    runner: Callable[["Recipe", RecipeContext], RecipeOutcome] | None = None
    description: str = ""
    smoke_overrides: dict[str, Any] = field(default_factory=dict)
    real_row: str = ""

    def rows(self) -> list[Variant]:
        """The rows as variants (a bare method name is a variant without overrides)."""
        return [m if isinstance(m, Variant) else Variant(m, m) for m in self.methods]

    def dataset_for(self, profile: str) -> str:
        if profile not in self.datasets:
            raise UserError(f"recipe {self.name!r} has no dataset for profile {profile!r}; "
                            f"it has {sorted(self.datasets)}")
        return self.datasets[profile]

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "paper": self.paper, "reproduces": self.reproduces,
                "methods": [v.label for v in self.rows()], "datasets": dict(self.datasets),
                "metrics": list(self.metrics) if self.metrics else None, "task": self.task,
                "reported": len(self.reported)}


RECIPES: Registry[Recipe] = Registry("recipe")


def register_recipe(recipe: Recipe) -> Recipe:
    """Add ``recipe`` to :data:`RECIPES` (a duplicate name raises)."""
    for v in recipe.rows():
        if not v.label:
            raise ValueError(f"recipe {recipe.name!r}: a row has an empty label")
    labels = [v.label for v in recipe.rows()]
    if len(set(labels)) != len(labels):
        raise ValueError(f"recipe {recipe.name!r}: row labels must be unique, got {labels}")
    if "smoke" not in recipe.datasets:
        raise ValueError(f"recipe {recipe.name!r}: needs a 'smoke' dataset (the embedded one)")
    RECIPES.register(recipe.name)(recipe)
    return recipe


def _load_recipes() -> None:
    import benchmark.recipes  # noqa: F401  (explicit imports register every recipe)


def list_recipes() -> list[Recipe]:
    _load_recipes()
    return [RECIPES.get(n) for n in RECIPES.list()]


def get_recipe(name: str) -> Recipe:
    _load_recipes()
    return RECIPES.get(name)


# ------------------------------------------------------------------------------ running ---

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
                if getattr(METRICS.get(name), "requires_weights", False):
                    outcome.pending[name] = (f"not computed: {name} needs pretrained feature-network weights; a "
                                             f"smoke run computes it only with --weights random (random weights, "
                                             f"labelled not comparable) or with --profile paper")
        code = run_benchmark(methods, ctx.dataset, profile=ctx.profile, seed=ctx.seed, out=out, device=ctx.device,
                             data_root=ctx.data_root, metrics=metrics, overrides=overrides, progress=ctx.progress,
                             report=True, dataset_options=ctx.dataset_options, weights=ctx.weights)
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
    profile = "data" if method == REAL else ctx.profile   # the real-data run has no profile
    return Path(out) / "runs" / ctx.dataset / method / profile / f"seed{ctx.seed}" / "results.json"


def read_ours(recipe: Recipe, row: Variant, out: Path, ctx: RecipeContext) -> list[Ours]:
    """The recipe's metrics of one row from its results.json (missing metrics give no cell)."""
    path = results_path(out, ctx, row.method)
    if not path.exists():
        return []
    res = read_json(path)
    task = (res.get("tasks") or {}).get(recipe.task) or {}
    metrics = task.get("metrics") or {}
    names = recipe.metrics if recipe.metrics is not None else sorted(metrics)
    out_rows = []
    for m in names:
        mv = metrics.get(m)
        if not isinstance(mv, dict):
            continue
        comparable = res.get("comparable", True) and (mv.get("extra") or {}).get("comparable", True) is not False
        out_rows.append(Ours(row=row.label, metric=m, value=_float(mv.get("value")), ci_low=_float(mv.get("ci_low")),
                             ci_high=_float(mv.get("ci_high")), n=mv.get("n"), dataset=ctx.dataset,
                             profile=ctx.profile, comparable=bool(comparable), results=str(path)))
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
    """``<name>.json`` (ours + reported, long format) and ``<name>.html`` under ``ctx.recipe_dir``."""
    from benchmark.report.recipe import render_recipe

    folder = ctx.recipe_dir
    folder.mkdir(parents=True, exist_ok=True)
    record = {"recipe": recipe.summary(), "profile": ctx.profile, "dataset": ctx.dataset, "seed": ctx.seed,
              "ours": [asdict(o) for o in outcome.ours], "reported": [asdict(r) for r in recipe.reported],
              "artifacts": outcome.artifacts, "notes": outcome.notes, "failed": outcome.failed,
              "pending": outcome.pending}
    write_json_atomic(folder / f"{recipe.name}.json", record)
    return render_recipe(recipe, ctx, outcome, folder / f"{recipe.name}.html")


# ---------------------------------------------------------------------------------- CLI ---

def cmd_reproduce(args: argparse.Namespace) -> int:
    if args.name in ("list", "LIST", None):
        recipes = list_recipes()
        if args.json:
            print(json.dumps([r.summary() for r in recipes], indent=2))
            return 0
        from rich.console import Console
        from rich.table import Table

        t = Table(title="Recipes (benchmark reproduce NAME [--profile smoke|paper])")
        for c in ("name", "reproduces", "paper", "rows", "smoke dataset", "paper dataset", "reported"):
            t.add_column(c)
        for r in recipes:
            t.add_row(r.name, f"{r.reproduces}: {r.title}", r.paper, ", ".join(v.label for v in r.rows()),
                      r.datasets.get("smoke", "—"), r.datasets.get("paper", "—"), str(len(r.reported)))
        Console().print(t)
        return 0
    from benchmark.config import parse_override_args

    path = run_recipe(args.name, profile=args.profile, out=args.out, seed=args.seed, device=args.device,
                      data_root=args.data_root, progress=not args.no_progress,
                      overrides=parse_override_args(args.overrides), weights=args.weights, dataset=args.dataset)
    print(path)
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run a paper's experiment (recipe) and render ours vs paper-reported")
    p.add_argument("name", nargs="?", default="list", help="recipe name, or 'list'")
    p.add_argument("--profile", default="smoke", choices=PROFILES)
    p.add_argument("--dataset", default=None, help="override the recipe's dataset for this profile")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("."))
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field of every method, e.g. --set train.steps=50")
    p.add_argument("--weights", default="pinned", choices=("pinned", "random"))
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="with 'list': JSON")
    p.set_defaults(fn=cmd_reproduce)
