"""`benchmark reproduce`: the recipe registry, the ours-vs-paper page, the CLI, and the VGAN
Table 1 recipe end to end on a tiny moving-shapes (smoke profile)."""

from __future__ import annotations

import json

import pytest

from benchmark.cli import main
from benchmark.reproduce import (RECIPES, Ours, Recipe, RecipeContext, RecipeOutcome, Reported, Variant,
                                 get_recipe, list_recipes, register_recipe, run_recipe)

TINY_SPLITS = {"train": 12, "val": 4, "test": 8}


def test_registry_lists_the_vgan_recipe_and_validates():
    names = [r.name for r in list_recipes()]
    assert "vgan_streams" in names
    r = get_recipe("vgan_streams")
    assert r.reproduces == "Table 1" and r.datasets["smoke"] == "moving-shapes"
    assert {v.label for v in r.rows()} == {"vgan", "vgan_one_stream", "vgan_ae_gmm"}
    assert any(x.row == "vgan" and x.metric == "% preferred over vgan_one_stream" and x.value == 53 for x in r.reported)
    t = get_recipe("tgan_ucf101_is")
    assert t.datasets == {"smoke": "moving-shapes", "paper": "ucf101"} and t.metrics == ("is_video",)
    assert {(x.row, x.value, x.ci) for x in t.reported} >= {("tgan", 11.85, 0.07), ("vgan", 8.18, 0.05)}
    with pytest.raises(ValueError, match="smoke"):
        register_recipe(Recipe("x_no_smoke", "t", "p", "T1", ("vgan",), {"paper": "kth"}))
    with pytest.raises(ValueError, match="unique"):
        register_recipe(Recipe("x_dup", "t", "p", "T1", ("vgan", Variant("vgan", "vgan", {"lr": 1})),
                               {"smoke": "moving-shapes"}))


def test_cli_list(capsys):
    assert main(["reproduce", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "vgan_streams" and r["reproduces"] == "Table 1" for r in listed)


def test_page_puts_ours_beside_paper_reported_and_flags_the_setting(tmp_path):
    def runner(recipe, ctx):
        return RecipeOutcome(ours=[Ours("model_a", "fvd", 123.4, 120.0, 126.8, 64, dataset=ctx.dataset,
                                        profile=ctx.profile, results=str(tmp_path / "r.json"))],
                             artifacts={"study": str(tmp_path / "missing.json")}, notes=["a note"],
                             failed={"model_b": "boom"})

    name = "test_toy_recipe"
    if name not in RECIPES:
        register_recipe(Recipe(name, "toy", "Someone 2020", "Table 9", ("model_a", "model_b"),
                               {"smoke": "moving-shapes", "paper": "ucf101"}, metrics=("fvd",),
                               reported=(Reported("model_a", "fvd", 99.0, 2.0, "ucf101", "paper Table 9"),
                                         Reported("model_b", "fvd", 150.0, None, "ucf101", "paper Table 9")),
                               runner=runner))
    page = run_recipe(name, profile="smoke", out=tmp_path)
    assert page == tmp_path / "reports" / "recipes" / f"{name}.html"
    html = page.read_text()
    assert "paper-reported" in html and "Not the paper's setting" in html
    assert "123.4" in html and "± 3.4" in html and "99 ± 2" in html
    assert "ours on moving-shapes, paper on ucf101" in html and "boom" in html and "a note" in html
    record = json.loads((page.with_suffix(".json")).read_text())
    assert record["ours"][0]["value"] == 123.4 and len(record["reported"]) == 2


def test_vgan_streams_recipe_end_to_end(tmp_path):
    """Smoke recipe on a tiny dataset: three methods trained/evaluated, study prepared, page rendered."""
    page = run_recipe("vgan_streams", profile="smoke", out=tmp_path, data_root=tmp_path / "data", progress=False,
                      overrides={"train.steps": "2", "train.batch_size": "4"},
                      dataset_options={"split_sizes": TINY_SPLITS, "size": 32})
    html = page.read_text()
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"], record["failed"]
    assert {o["row"] for o in record["ours"]} == {"vgan", "vgan_one_stream", "vgan_ae_gmm"}
    assert "% preferred over vgan_ae_gmm" in html and "paper-reported" in html
    assert "awaiting crowd judgements" in html
    from benchmark.crowd.design import load_study
    from benchmark.recipes.vgan import STUDY_PAIRS

    study, folder = load_study(tmp_path / "reports" / "recipes" / "vgan_streams-study")  # schema and hash checked
    assert set(study["systems"]) == {"vgan", "vgan_one_stream", "vgan_ae_gmm", "real"}
    assert {frozenset(p) for p in study["pairs"]} == {frozenset(p) for p in STUDY_PAIRS}  # Table 1's pairs
    assert study["trials"] and len(list((folder / "media").glob("*.mp4"))) == len(study["videos"]) > 0
    # The leaderboard shows VGAN's learned streams under its samples (Vondrick et al. 2016 Fig. 3).
    board = (tmp_path / "reports" / "moving-shapes" / "index.html").read_text()
    for stream in ("background", "foreground", "mask"):
        assert f"vgan: {stream}" in board
