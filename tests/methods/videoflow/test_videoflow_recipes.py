"""VideoFlow's recipes: BAIR bits per pixel (3 -> 10 protocol) and FVD."""

from __future__ import annotations

import json

import pytest

from benchmark.reproduce import get_recipe, run_recipe

TINY = {"split_sizes": {"train": 12, "val": 4, "test": 8}, "size": 32}


def test_recipes_carry_the_paper_numbers_and_the_bair_protocol():
    bits = get_recipe("videoflow_bair_bits")
    assert [(x.row, x.metric, x.value) for x in bits.reported] == [("videoflow", "bits_per_dim", 1.87)]
    assert bits.datasets["paper"] == "bair" and bits.metrics == ("bits_per_dim",)
    fvd = get_recipe("videoflow_bair_fvd")
    assert ("videoflow", "fvd", 131.0, 5.0) in {(x.row, x.metric, x.value, x.ci) for x in fvd.reported}
    from benchmark.data.bair import BAIR

    p = BAIR(protocol="videoflow").protocol("prediction", "test")
    assert (p.context_frames, p.future_frames) == (3, 10)


@pytest.mark.slow  # trains, samples and scores end to end (~12 s on a busy machine)
def test_bits_recipe_smoke_reports_bits_per_dim(tmp_path):
    page = run_recipe("videoflow_bair_bits", profile="smoke", out=tmp_path, data_root=tmp_path / "data",
                      progress=False, dataset_options=TINY)
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"], record["failed"]
    ours = [o for o in record["ours"] if o["metric"] == "bits_per_dim"]
    assert len(ours) == 1 and 0 < ours[0]["value"] < 20 and ours[0]["n"] == 8
    task = json.loads(open(ours[0]["results"]).read())["tasks"]["prediction"]
    proto = task["metric_protocols"]["bits_per_dim"]
    assert proto["frames"] == "future" and proto["frames_counted"] == 15 and "U[0, 2^-8)" in proto["dequantization"]
    assert "1.87" in page.read_text()
