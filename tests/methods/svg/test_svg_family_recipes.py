"""The SVG-family recipes (benchmark/recipes/svg_family.py): registered with valid rows, and the
two-ended P2P recipe end to end on a tiny moving-shapes (its runs in their own folder, the page and
the per-timestep curves beside the other recipe pages)."""

from __future__ import annotations

import json

import pytest

from benchmark.registry import DATASETS, METHODS
from benchmark.reproduce import get_recipe, run_recipe
from tests.conftest import TINY_SPLITS

NAMES = ("svg_smmnist", "svg_kth", "svg_bair", "drnet_kth_long_range", "p2p_table")


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_known_methods_and_datasets(name):
    recipe = get_recipe(name)
    assert {v.method for v in recipe.rows()} <= set(METHODS.list())
    assert set(recipe.datasets.values()) <= set(DATASETS.list())
    for r in recipe.reported:
        assert r.source and "[unverified]" in r.note   # none of the transcriptions was checked here


@pytest.mark.slow
def test_p2p_recipe_end_to_end(tmp_path):
    # No overrides: they would reach copy_last too, which has no config (the smoke profile is tiny anyway).
    page = run_recipe("p2p_table", profile="smoke", out=tmp_path, data_root=tmp_path / "data", progress=False,
                      dataset_options={"split_sizes": TINY_SPLITS, "size": 32})
    assert page == tmp_path / "reports" / "recipes" / "p2p_table.html"
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"], record["failed"]
    assert {o["row"] for o in record["ours"]} == {"p2p", "copy_last"}
    runs = tmp_path / "recipes" / "p2p_table" / "runs" / "moving-shapes"
    assert (runs / "p2p" / "smoke" / "seed0" / "results.json").is_file()
    assert not (tmp_path / "runs").exists()   # the two-ended runs never meet the ordinary ones
    curves = json.loads((tmp_path / "reports" / "recipes" / "p2p_table_curves.json").read_text())
    assert len(curves["curves"]["p2p"]["ssim"]) == 19   # 1 -> 19 frames of the two-ended protocol
