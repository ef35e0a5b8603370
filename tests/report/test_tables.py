"""``benchmark report --format latex|markdown|csv``: the leaderboard tables against golden files.

The results below are made by hand (three methods, one of them with two seeds, one not comparable,
the real-data bound), so every number in the golden files can be checked on paper:

* ``alpha``: seeds 0 and 1, psnr_best 27 and 28 -> 27.5 ± 0.71 (sample std 0.7071), fvd 300 and 320
  -> 310 ± 14;
* ``beta_net``: one seed, psnr_best 26.0 with CI [25.5, 26.5] -> 26.00 ± 0.50, fvd 250 ± 10 (best:
  lower is better);
  its profile adds a hand-written aid (results.json ``hand_aid``): still ranked, marked §;
* ``gamma``: the highest psnr_best (30) but random weights: never bold, marked †;
* ``alpha@init``: a reference row (alpha's untrained network) with the best raw numbers: never bold,
  listed after the methods.

Set ``VIDBENCH_REGENERATE_GOLDEN=1`` to rewrite the golden files after a deliberate change (and
read the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark import cli
from benchmark.report.runs import load_runs
from benchmark.report.tables import FORMATS, build_tables, render_tables
from benchmark.results import SCHEMA
from benchmark.utils import write_json_atomic

GOLDEN = Path(__file__).parent / "golden"
DATASET = "moving-shapes"
PROTOCOL = {"name": "prediction-2to4", "task": "prediction", "split": "test", "context_frames": 2,
            "future_frames": 4, "resolution": [32, 32], "channels": 1, "num_videos": 64, "samples_per_context": 1}
METRIC_PROTOCOLS = {"psnr": {"data_range": 1.0}, "fvd": {"extractor": "i3d_400"}}

# method -> seed -> {metric: (value, ci half-width)}
VALUES = {
    "real": {0: {"fvd": (40.0, 2.0)}},
    "alpha": {0: {"psnr_best": (27.0, 0.4), "fvd": (300.0, 12.0)},
              1: {"psnr_best": (28.0, 0.4), "fvd": (320.0, 12.0)}},
    "beta_net": {0: {"psnr_best": (26.0, 0.5), "fvd": (250.0, 10.0)}},
    "gamma": {0: {"psnr_best": (30.0, 0.3), "fvd": (200.0, 9.0)}},
    "alpha@init": {0: {"psnr_best": (31.0, 0.3), "fvd": (100.0, 9.0)}},   # a reference row: never ranked
}
HIGHER = {"psnr_best": True, "fvd": False}


def build(root: Path) -> Path:
    for method, seeds in VALUES.items():
        for seed, metrics in seeds.items():
            write_json_atomic(root / DATASET / method / "cpu" / f"seed{seed}" / "results.json", {
                "schema": SCHEMA, "method": method, "dataset": DATASET, "profile": "cpu", "seeds": [seed],
                "comparable": method != "gamma", "manifest": "manifest.json", "train_log": None,
                **({"reference": "untrained", "base_method": "alpha"} if method.endswith("@init") else {}),
                **({"hand_aid": "positions tracked by hand"} if method == "beta_net" else {}),
                "tasks": {"prediction": {
                    "protocol": PROTOCOL, "metric_protocols": METRIC_PROTOCOLS,
                    "metrics": {m: {"value": v, "ci_low": v - h, "ci_high": v + h, "n": 64,
                                    "higher_is_better": HIGHER[m]} for m, (v, h) in metrics.items()}}}})
    return root


@pytest.fixture()
def tables(tmp_path):
    return build_tables(DATASET, load_runs(DATASET, build(tmp_path / "runs")))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_tables_match_the_golden_files(tables, fmt):
    text = render_tables(tables, fmt)
    golden = GOLDEN / f"leaderboard.{FORMATS[fmt]}"
    if os.environ.get("VIDBENCH_REGENERATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_seeds_pool_to_mean_and_sample_std_and_best_follows_the_report_rule(tables):
    (table,) = tables
    rows = {r["method"]: r for r in table.rows}
    assert [r["method"] for r in table.rows][0] == "real data"
    psnr, fvd = table.metrics.index("psnr_best"), table.metrics.index("fvd")
    alpha = rows["alpha"]["cells"]
    assert alpha[psnr]["mean"] == pytest.approx(27.5) and alpha[psnr]["spread"] == pytest.approx(0.5 ** 0.5)
    assert alpha[psnr]["n_seeds"] == 2 and rows["alpha"]["seeds"] == [0, 1]
    # best: highest comparable psnr (alpha; gamma's 30 has random weights), lowest comparable fvd (beta)
    assert [r["method"] for r in table.rows if r["cells"][psnr]["best"]] == ["alpha"]
    assert [r["method"] for r in table.rows if r["cells"][fvd]["best"]] == ["beta_net"]
    assert rows["gamma"]["nc"] and not any(c["best"] for c in rows["gamma"]["cells"])
    assert not any(c["best"] for c in rows["alpha (untrained)"]["cells"])
    assert table.rows[-1]["method"] == "alpha (untrained)"


def test_report_format_latex_verb_prints_and_writes(tmp_path, capsys):
    runs = build(tmp_path / "runs")
    out = tmp_path / "reports"
    assert cli.main(["report", "--dataset", DATASET, "--runs", str(runs), "--out", str(out),
                     "--format", "latex"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "leaderboard.tex").read_text() == (GOLDEN / "leaderboard.tex").read_text()
    assert r"\textbf{27.50 $\pm$ 0.71}" in printed and r"beta\_net" in printed


def test_html_report_writes_and_links_the_tables(tmp_path):
    from benchmark.report import render_report

    out = tmp_path / "reports"
    html = render_report(DATASET, build(tmp_path / "runs"), out).read_text()
    for fmt, suffix in FORMATS.items():
        assert f'href="leaderboard.{suffix}"' in html
        assert (out / f"leaderboard.{suffix}").read_text() == (GOLDEN / f"leaderboard.{suffix}").read_text()
    # the hand-aided row keeps its ranking but carries a badge that says what was added by hand
    assert html.count(">hand-written aid</span>") == 1 and "positions tracked by hand" in html
    # the ranking comes first; the metric-settings table follows it, folded
    assert html.index('<table class="leaderboard"') < html.index('<details class="metric-protocols">')
    assert '<details class="metric-protocols" open' not in html


def test_recipe_tables_put_ours_beside_paper_reported(tmp_path):
    """``benchmark reproduce NAME`` writes <name>.md/.tex beside its page (golden files; the page links them)."""
    from benchmark.reproduce import RECIPES, Ours, Recipe, RecipeOutcome, Reported, register_recipe, run_recipe

    def runner(recipe, ctx):
        return RecipeOutcome(ours=[Ours("model_a", "fvd", 123.4, 120.0, 126.8, 64, dataset=ctx.dataset,
                                        profile=ctx.profile, results=str(tmp_path / "r.json"))],
                             failed={"model_b": "boom"})

    name = "test_tables_recipe"
    if name not in RECIPES:
        register_recipe(Recipe(name, "toy", "Someone 2020", "Table 9", ("model_a", "model_b"),
                               {"smoke": "moving-shapes", "paper": "ucf101"}, metrics=("fvd",),
                               reported=(Reported("model_a", "fvd", 99.0, 2.0, "ucf101", "paper Table 9"),
                                         Reported("model_b", "fvd", 150.0, None, "ucf101", "paper Table 9")),
                               runner=runner))
    page = run_recipe(name, profile="smoke", out=tmp_path)
    for suffix in ("md", "tex"):
        text = page.with_suffix(f".{suffix}").read_text()
        golden = GOLDEN / f"recipe.{suffix}"
        if os.environ.get("VIDBENCH_REGENERATE_GOLDEN"):
            golden.write_text(text)
        assert text == golden.read_text()
        assert f'href="{name}.{suffix}"' in page.read_text()


SYNTH_PROTOCOL = {"name": "synthesis-16", "task": "synthesis", "split": "test", "context_frames": 0,
                  "future_frames": 16, "resolution": [32, 32], "channels": 3, "num_videos": 128,
                  "samples_per_context": 1}


def _synthesis_run(root: Path, method: str, seed: int, fvd: float, distinct: int | None) -> None:
    sampling = {"videos": 128, "samples_per_context": 1, "generate_s": 1.0, "videos_per_s": 128.0}
    if distinct is not None:
        sampling["distinct_videos"] = distinct
    write_json_atomic(root / DATASET / method / "cpu" / f"seed{seed}" / "results.json", {
        "schema": SCHEMA, "method": method, "dataset": DATASET, "profile": "cpu", "seeds": [seed],
        "comparable": True, "manifest": "manifest.json", "train_log": None,
        "tasks": {"synthesis": {"protocol": SYNTH_PROTOCOL, "metric_protocols": {"fvd": {"extractor": "i3d_400"}},
                                "sampling": sampling,
                                "metrics": {"fvd": {"value": fvd, "n": 128, "higher_is_better": False}}}}})


def test_a_synthesis_row_whose_samples_repeat_is_marked_in_every_format(tmp_path):
    """A generator that repeats clips exactly (NAVSLP draws from a finite latent dictionary) keeps its
    rank but is marked ¶ with its distinct count per seed; a row with every clip distinct, or one
    recorded before the count existed, is not."""
    from benchmark.report import render_report

    runs = tmp_path / "runs"
    _synthesis_run(runs, "dict_gen", 0, 200.0, 102)
    _synthesis_run(runs, "dict_gen", 1, 210.0, 99)
    _synthesis_run(runs, "gan", 0, 300.0, 128)
    _synthesis_run(runs, "old_run", 0, 400.0, None)
    (table,) = build_tables(DATASET, load_runs(DATASET, runs))
    rows = {r["method"]: r for r in table.rows}
    assert rows["dict_gen"]["repeats"] == "102 of 128, 99 of 128"
    assert rows["gan"]["repeats"] == rows["old_run"]["repeats"] == ""
    assert rows["dict_gen"]["cells"][0]["best"]  # still ranked: the count is shown, not a verdict
    md = render_tables([table], "markdown")
    assert "| dict_gen¶ |" in md and "| gan |" in md and "| old_run |" in md
    assert "distinct clips: dict_gen: 102 of 128, 99 of 128" in md
    assert r"dict\_gen$^\P$" in render_tables([table], "latex")
    assert "102 of 128, 99 of 128" in render_tables([table], "csv")
    html = render_report(DATASET, runs, tmp_path / "reports").read_text()
    assert html.count(">repeats clips</span>") == 1 and "102 of 128, 99 of 128 distinct" in html
