"""The Video VQ-VAE recipes: Table 2's paper numbers and FVD protocol, Table 1's 3-answer study."""

from __future__ import annotations

import json

import pytest

from benchmark.reproduce import get_recipe, run_recipe

TINY_SPLITS = {"train": 12, "val": 4, "test": 8}
TINY = {"split_sizes": TINY_SPLITS, "size": 32}


def test_table2_carries_the_paper_column():
    r = get_recipe("video_vqvae_table2")
    assert r.reproduces == "Table 2" and r.datasets == {"smoke": "moving-shapes", "paper": "kinetics600"}
    got = {(x.row, x.metric): (x.value, x.ci) for x in r.reported}
    assert got[("video_vqvae", "FVD (64x64)")] == (64.30, 2.04)
    assert got[("video_vqvae", "FVD* (64x64)")] == (54.30, 3.49)
    assert got[("video_vqvae", "FVD (256x256)")] == (129.85, 1.64)
    assert got[("video_vqvae", "FVD* (256x256)")] == (82.45, 1.16)
    assert got[("TrIVD-GAN-FP (Luc et al. 2020)", "FVD (64x64)")] == (25.74, 0.66)


@pytest.mark.slow  # trains and samples two methods end to end (~20 s on a busy machine)
def test_table1_prepares_a_three_answer_study_on_shared_contexts(tmp_path):
    page = run_recipe("video_vqvae_table1", profile="smoke", out=tmp_path, data_root=tmp_path / "data",
                      progress=False, dataset_options=TINY)
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"], record["failed"]
    study = json.loads((tmp_path / "reports" / "recipes" / "video_vqvae_table1-study" / "study.json").read_text())
    assert study["answers"] == ["left", "right", "same"]
    assert study["systems"] == ["video_vqvae", "videoflow"] and study["task"] == "prediction"
    pairs = [t for t in study["trials"] if t["check"] is None]
    assert len(pairs) == 6 and all(t["pair"] == ["video_vqvae", "videoflow"] for t in pairs)
    videos = study["videos"]
    for t in pairs:  # both videos of a trial continue the same context
        first, second = t["videos"]  # the sides are decided per rater when a trial is shown
        assert videos[first]["clip"] == videos[second]["clip"]
    html = page.read_text()
    assert "65.7" in html and "awaiting crowd judgements" in html


@pytest.mark.slow
def test_table2_smoke_with_random_weights_fills_the_64_columns(tmp_path):
    page = run_recipe("video_vqvae_table2", profile="smoke", out=tmp_path, data_root=tmp_path / "data",
                      progress=False, dataset_options={**TINY, "size": 64}, weights="random")
    record = json.loads(page.with_suffix(".json").read_text())
    ours = {o["metric"]: o for o in record["ours"]}
    assert {"FVD (64x64)", "FVD* (64x64)", "bits_per_dim"} <= set(ours)
    assert ours["FVD (64x64)"]["comparable"] is False
    assert "256x256" in record["pending"]["FVD (256x256)"]
    fvd = json.loads((tmp_path / "reports" / "recipes" / "video_vqvae_table2_fvd.json").read_text())
    proto = fvd["values"]["FVD* (64x64)"]["protocol"]
    assert proto["folds"] == 2 and "reconstructions" in proto["reference"]
