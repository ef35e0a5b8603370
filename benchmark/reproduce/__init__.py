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
        paper="Aich et al. 2020",
        reproduces="Table 2",
        methods=("navslp", "mocogan"),
        datasets={"smoke": "moving-shapes", "paper": "weizmann"},
        metrics=("mcs", "fcs"),
        reported=(Reported("navslp", "mcs", 2.63, dataset="weizmann", source="Aich et al. 2020 Table 2"),
                  Reported("mocogan", "mcs", 3.41, dataset="weizmann", source="Aich et al. 2020 Table 2")),
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

from benchmark.reproduce.model import (PROFILES, RECIPES, Ours, Recipe, RecipeContext, RecipeOutcome,  # noqa: F401
                                       Reported, Variant, get_recipe, list_recipes, register_recipe)
from benchmark.reproduce.runner import read_ours, results_path, run_methods, run_recipe, write_recipe_page  # noqa: F401
