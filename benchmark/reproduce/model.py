"""The recipe model: what a paper's experiment is (rows, datasets, metrics, the numbers it prints),
what a run of it produced, and the registry of recipes (:data:`RECIPES`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmark.registry import Registry
from benchmark.utils import UserError

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
        source: where it is printed, e.g. ``"Vondrick et al. 2016 Table 1"``.
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
        paper: citation (e.g. ``"Vondrick et al. 2016, Generating Videos with Scene Dynamics"``).
        reproduces: which table/figure, e.g. ``"Table 1"``.
        methods: the rows: method names, or :class:`Variant` for ablation rows.
        datasets: profile -> dataset name; the ``smoke`` entry must be a dataset that needs no
            download (the embedded ``moving-shapes``, or a generated one such as ``bouncing-balls``).
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
