"""Issue 11 item 5 (last part): the prediction recipes compute PSNR / SSIM with the named preset of the
paper whose numbers they print (svg_family: SRVP's tables -> ``srvp``, DRNet / P2P -> ``svg``; SAVP ->
``savp``), and say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.evaluate import evaluate
from benchmark.reproduce import RecipeContext, RecipeOutcome, get_recipe, results_path
from benchmark.utils import read_json, write_json_atomic


def test_evaluate_passes_the_preset_to_psnr_and_ssim_and_records_it():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (2, 4, 3, 16, 16), dtype=np.uint8)
    fake = np.clip(ref.astype(int) + rng.integers(-40, 41, ref.shape), 0, 255).astype(np.uint8)
    default, _ = evaluate("prediction", fake, 1, ref, ["ssim", "psnr"], context_frames=1)
    svg, protocols = evaluate("prediction", fake, 1, ref, ["ssim", "psnr", "fcs"], context_frames=1, preset="svg")
    assert protocols["ssim"]["preset"] == "svg" and protocols["ssim"]["data_range"] == 2.0
    assert protocols["psnr"]["preset"] == "svg" and "preset" not in protocols["fcs"]   # only where it applies
    assert svg["ssim_mean"]["value"] != pytest.approx(default["ssim_mean"]["value"], abs=1e-4)


def test_every_psnr_ssim_recipe_of_svg_family_and_savp_names_its_preset():
    from benchmark.metrics.ssim import PRESETS
    from benchmark.recipes import savp, svg_family

    for name in ("svg_smmnist", "svg_kth", "svg_bair", "drnet_kth_long_range", "p2p_table"):
        assert {"psnr", "ssim"} <= set(get_recipe(name).metrics) and svg_family.METRIC_PRESETS[name] in PRESETS
    assert svg_family.METRIC_PRESETS["svg_kth"] == "srvp" and svg_family.METRIC_PRESETS["p2p_table"] == "svg"
    assert savp.METRIC_PRESET == "savp"


def test_svg_curves_runner_shows_the_preset_values(tmp_path: Path, monkeypatch):
    """The ours column holds the values recomputed under the recipe's preset, not the run's defaults
    (which run_methods reads first, as here), one cell per row and metric, and their curves."""
    from benchmark.recipes import presets, svg_family
    from benchmark.reproduce.runner import read_ours

    recipe = get_recipe("svg_kth")
    ctx = RecipeContext(profile="smoke", dataset="moving-shapes", out=tmp_path)
    for row in recipe.rows():
        write_json_atomic(results_path(tmp_path, ctx, row.method), {"tasks": {"prediction": {"metrics": {
            "ssim_best": {"value": 0.5, "curve": [0.5, 0.5]}, "psnr_best": {"value": 20.0}}}}})
    monkeypatch.setattr(svg_family, "run_methods", lambda recipe, ctx: RecipeOutcome(
        ours=[o for row in recipe.rows() for o in read_ours(recipe, row, tmp_path, ctx)]))
    calls = []

    def fake_preset_values(run_dir, task, metrics, preset, data_root=None):
        calls.append(preset)
        return ({"ssim_best": {"value": 0.75, "curve": [0.7, 0.8]}, "psnr_best": {"value": 21.0}},
                {"ssim": {"preset": preset}, "psnr": {"preset": preset}})

    monkeypatch.setattr(presets, "preset_values", fake_preset_values)
    outcome = svg_family.curves_runner(recipe, ctx)
    assert calls and set(calls) == {"srvp"}
    cells = [(o.row, o.metric) for o in outcome.ours]
    assert len(cells) == len(set(cells)) == 2 * len(recipe.rows())
    ssim = {o.row: o for o in outcome.ours if o.metric == "ssim"}
    assert ssim["svg_lp"].value == 0.75 and "srvp metric preset" in ssim["svg_lp"].note
    record = read_json(ctx.recipe_dir / "svg_kth-preset-srvp.json")
    assert record["rows"]["svg_lp"]["protocols"]["ssim"]["preset"] == "srvp"
    assert read_json(ctx.recipe_dir / "svg_kth_curves.json")["curves"]["svg_lp"]["ssim"] == [0.7, 0.8]


@pytest.mark.slow  # a whole (copy_last) run on the tiny moving-shapes: ~10 s on an idle 2-core CPU
def test_preset_values_rescore_a_real_run_on_its_own_reference_clips(tiny_data_root, tmp_path):
    from benchmark import paths as P
    from benchmark import video as V
    from benchmark.data.moving_shapes import MovingShapes
    from benchmark.recipes.presets import preset_values
    from benchmark.run import run_benchmark
    from tests.conftest import tiny_options

    assert run_benchmark("copy_last", "moving-shapes", profile="smoke", out=tmp_path, data_root=tiny_data_root,
                         metrics=["ssim", "psnr"], progress=False, report=False, dataset_options=tiny_options(),
                         untrained_references=False) == 0
    run = P.run_dir(tmp_path, "moving-shapes", "copy_last", "smoke", 0)
    values, protocols = preset_values(run, "prediction", ("ssim", "psnr", "fcs"), "svg", tiny_data_root)
    assert set(protocols) == {"ssim", "psnr"} and protocols["ssim"]["window_size"] == 7
    protocol, ref = MovingShapes(root=tiny_data_root, **tiny_options()).reference("prediction")
    samples = V.load_npz(run / P.samples("prediction"))
    k = len(samples) // len(ref)
    direct, _ = evaluate("prediction", samples, k, ref.videos, ["ssim"], context_frames=protocol.context_frames,
                         preset="svg")
    assert values["ssim_best"]["value"] == direct["ssim_best"]["value"]
    own = read_json(run / "results.json")["tasks"]["prediction"]["metrics"]["ssim_best"]["value"]
    assert own != pytest.approx(values["ssim_best"]["value"], abs=1e-6)   # the run's defaults differ
