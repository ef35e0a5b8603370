"""NAVSLP recipes (Aich et al. 2020 Tables 2-4, Fig. 6-7): registration, and the two custom runners end to
end on the embedded dataset with two training steps."""

from __future__ import annotations

import json

import pytest

from benchmark.reproduce import get_recipe, run_recipe


def test_recipes_register_with_paper_numbers():
    t2 = get_recipe("navslp_table2")
    assert {v.label for v in t2.rows()} >= {"navslp", "mocogan", "vgan", "navslp −triplet −static"}
    chairs = {(r.row, r.metric): r.value for r in t2.reported if r.dataset == "chairs"}
    assert chairs[("navslp", "mcs")] == 3.32 and chairs[("mocogan", "fcs")] == 0.85
    assert chairs[("real (bound)", "fcs")] == 0.91
    golf = {(r.row, r.metric): r.value for r in t2.reported if r.dataset == "vgan-golf"}
    assert golf[("vgan", "mcs")] == 3.61
    t4 = get_recipe("navslp_table4")
    overrides = {v.label: v.overrides for v in t4.rows()}
    assert overrides["−triplet −static"] == {"use_static_loss": False, "use_triplet_loss": False}
    assert overrides["−Z (random latents)"] == {"sampling": "random"}
    assert get_recipe("navslp_matrix_completion").datasets["paper"] == "weizmann"
    assert {v.overrides["rank"] for v in get_recipe("navslp_interpolation").rows()} == {2, 10}


@pytest.mark.parametrize("name", ["navslp_matrix_completion", "navslp_interpolation"])
def test_custom_recipes_run_end_to_end(name, small_data_root, tmp_path):
    page = run_recipe(name, profile="smoke", out=tmp_path, data_root=small_data_root, progress=False,
                      overrides={"train.steps": 2, "train.batch_size": 2},
                      dataset_options={"split_sizes": {"train": 24, "val": 8, "test": 12}})
    assert page.exists() and "paper-reported" in page.read_text().lower()
    record = json.loads(page.with_suffix(".json").read_text())
    assert record["ours"] and not record["failed"]
    for path in record["artifacts"].values():
        assert (tmp_path / path).exists() or __import__("pathlib").Path(path).exists()
    if name == "navslp_matrix_completion":
        cells = json.loads((tmp_path / "recipes" / name / "cells.json").read_text())
        metrics = {o["metric"] for o in record["ours"]}
        assert "background from the static source (fraction, ↑)" in metrics and cells["cells"]


@pytest.mark.parametrize("name,metric", [("navslp_table2", "mcs"), ("tgan_ucf101_is", "is_video")])
def test_table_recipes_end_to_end_with_every_metric(name, metric, small_data_root, tmp_path):
    """The table recipes at smoke on the embedded dataset. Pinned weights are not installed here:
    without them the pretrained-network column says why it is empty; with ``--weights random`` it is
    computed and labelled not comparable (~25 s each)."""
    kw = dict(profile="smoke", data_root=small_data_root, progress=False,
              overrides={"train.steps": 2, "train.batch_size": 2},
              dataset_options={"split_sizes": {"train": 24, "val": 8, "test": 12}})
    page = run_recipe(name, out=tmp_path / "pinned", **kw)
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"] and "--weights random" in record["pending"][metric]
    assert "needs pretrained feature-network weights" in page.read_text()
    page = run_recipe(name, out=tmp_path / "random", weights="random", **kw)
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"] and not record["pending"]
    ours = [o for o in record["ours"] if o["metric"] == metric]
    recipe = get_recipe(name)
    rows = {v.label for v in recipe.rows()} | {recipe.real_row}   # the real clips' own score, too
    assert {o["row"] for o in ours} == rows and all(o["value"] is not None for o in ours)
    assert all(o["comparable"] is False for o in ours)
    assert "not comparable" in page.read_text()


def test_table4_ablation_rows_run_at_smoke(small_data_root, tmp_path):
    page = run_recipe("navslp_table4", profile="smoke", out=tmp_path, data_root=small_data_root, progress=False,
                      overrides={"train.steps": 2, "train.batch_size": 2},
                      dataset_options={"split_sizes": {"train": 24, "val": 8, "test": 12}})
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"]
    fcs = {o["row"]: o["value"] for o in record["ours"] if o["metric"] == "fcs"}
    assert set(fcs) == {v.label for v in get_recipe("navslp_table4").rows()} and all(0 < v <= 1 for v in fcs.values())


@pytest.mark.parametrize("dataset,rows", [
    ("chairs", {"navslp", "mocogan", "navslp −triplet −static"}),
    ("weizmann", {"navslp", "mocogan", "navslp −triplet −static"}),
    ("vgan-golf", {"navslp", "vgan", "navslp −triplet −static"}),
    ("moving-shapes", {"navslp", "mocogan", "vgan", "navslp −triplet −static"}),
])
def test_table2_runs_each_panels_rows_and_golf_at_16_frames(dataset, rows, monkeypatch, tmp_path):
    """Issue 11 item 11: VGAN only on the Golf panel (MoCoGAN only on the other two), and every method
    on Golf at the paper's 16 frames (the dataset's clips and the VGAN row's temporal depth)."""
    import benchmark.reproduce.runner as runner
    from benchmark.reproduce import RecipeContext, RecipeOutcome

    seen = {}

    def fake(recipe, ctx):
        seen["rows"], seen["ctx"] = recipe.rows(), ctx
        return RecipeOutcome()

    monkeypatch.setattr(runner, "run_methods", fake)
    recipe = get_recipe("navslp_table2")
    ctx = RecipeContext(profile="paper", dataset=dataset, out=tmp_path)
    outcome = recipe.runner(recipe, ctx)
    assert {v.label for v in seen["rows"]} == rows
    if dataset == "vgan-golf":
        assert seen["ctx"].dataset_options == {"frames": 16, "num_videos": 500}
        assert {v.label: v.overrides for v in seen["rows"]}["vgan"] == {"frames": 16}
        assert all("frames" not in v.overrides for v in seen["rows"] if v.method == "navslp")
        assert any("16-frame" in n for n in outcome.notes) and any("mocogan" in n for n in outcome.notes)
        from benchmark.utils import UserError
        with pytest.raises(UserError, match="16-frame clips"):
            recipe.runner(recipe, RecipeContext(profile="paper", dataset=dataset, out=tmp_path,
                                                dataset_options={"frames": 32}))
    else:
        assert "frames" not in seen["ctx"].dataset_options
        assert seen["ctx"].dataset_options == ({"num_models": 820} if dataset == "chairs" else {})
        assert all("frames" not in v.overrides for v in seen["rows"])
