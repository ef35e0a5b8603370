"""Issue 11 items 10 and 15: the TGAN recipe's VGAN row on UCF101 (32-frame windows scored on the first
16), and the recipes of VGAN's Figure 5 and static-frame comparison and NAVSLP's Figure 4-left."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.methods import Conditioning, DataSpec, ProfileUnavailable
from benchmark.registry import METHODS
from benchmark.reproduce import RecipeContext, RecipeOutcome, Ours, get_recipe
from benchmark.reproduce.runner import write_recipe_page
from benchmark.utils import UserError


def _ucf101_spec(tmp_path: Path, **options) -> DataSpec:
    """UCF101's DataSpec as DataSpec.of builds it, without a prepared store (101 action classes)."""
    from benchmark.data.ucf101 import UCF101

    ds = UCF101(root=tmp_path / "no-data", **options)
    return DataSpec(dataset=ds.name, channels=3, resolution=(64, 64), protocols=dict(ds.protocols),
                    labels={"action": 101}, train_frames=ds.train_frames("train"))


def test_tgan_recipe_plans_vgan_on_32_frame_windows_and_both_rows_build(tmp_path):
    from benchmark.recipes.tgan import plan

    recipe = get_recipe("tgan_ucf101_is")
    jobs = plan(recipe, RecipeContext(profile="paper", dataset="ucf101", out=tmp_path))
    assert [[v.label for v in r.rows()] for r, _ in jobs] == [["tgan"], ["vgan"]]
    (shared, shared_ctx), (own, own_ctx) = jobs
    assert shared.real_row == "real data" and not shared_ctx.dataset_options
    assert own.real_row == "" and own_ctx.dataset_options == {"train_frames": 32}
    assert own_ctx.out == tmp_path / "recipes" / "tgan_ucf101_is" / "vgan"   # never meets `benchmark run`'s folders
    smoke = plan(recipe, RecipeContext(profile="smoke", dataset="moving-shapes", out=tmp_path))
    assert len(smoke) == 1 and [v.label for v in smoke[0][0].rows()] == ["tgan", "vgan"]

    vgan = METHODS.get("vgan")
    with pytest.raises(ProfileUnavailable, match="32-frame clips do not fit ucf101's 16-frame"):
        vgan.profile_config("paper", _ucf101_spec(tmp_path))                 # what failed before
    spec = _ucf101_spec(tmp_path, **own_ctx.dataset_options)
    assert spec.train_protocol("synthesis").num_frames == 32 and spec.test_protocol("synthesis").num_frames == 16
    assert vgan.profile_config("paper", spec).frames == 32
    METHODS.get("tgan").profile_config("paper", _ucf101_spec(tmp_path))     # TGAN keeps the 16-frame protocol
    # the 32-frame model (paper depth, narrow widths to stay fast) returns the first 16 frames
    m = vgan.from_profile("paper", spec, {"g_width": 2, "d_width": 2})
    from methods.vgan.method import _check_frames

    _check_frames("vgan", m.config, np.zeros((1, 32, 3, 64, 64), np.uint8), 32)   # 32-frame training windows fit
    assert m.generate(Conditioning(2, 16), seed=0).shape == (2, 16, 3, 64, 64)


def test_ucf101_train_frames_is_checked_and_recorded_only_when_set(tmp_path):
    from benchmark.data.ucf101 import UCF101

    with pytest.raises(UserError, match="train_frames"):
        UCF101(root=tmp_path, train_frames=8)
    assert "train_frames" not in UCF101(root=tmp_path).options()         # the default identity is unchanged
    assert UCF101(root=tmp_path, train_frames=32).options()["train_frames"] == 32


def test_static_frame_recipe_reports_the_papers_38_percent_and_studies_that_pair():
    from benchmark.recipes.vgan import STATIC_PAIRS

    r = get_recipe("vgan_static_frame")
    assert {v.method for v in r.rows()} == {"vgan", "static_frame"} and r.datasets["smoke"] == "moving-shapes"
    (rep,) = r.reported
    assert (rep.row, rep.metric, rep.value) == ("static_frame", "% preferred over vgan", 38.0)
    assert STATIC_PAIRS == (("static_frame", "vgan"),) and "§3.2" in rep.source


def test_future_gallery_shows_the_static_input_then_the_sampled_futures(tmp_path):
    from benchmark import video as V
    from benchmark.recipes.vgan import future_gallery_tiles, write_future_gallery

    k, ctx_frames, t = 3, 2, 6
    videos = np.zeros((2 * k, t, 3, 8, 8), np.uint8)
    for i in range(2 * k):
        videos[i, :ctx_frames] = 10 * (i // k + 1)          # the conditioning frames of input i // k
        videos[i, ctx_frames - 1] += 1                      # the last one is the static input
        videos[i, ctx_frames:] = 100 + i                    # sample i's future
    tiles = future_gallery_tiles(videos, k, ctx_frames, inputs=4, per_input=2)
    assert tiles.shape == (2 * 3, t - ctx_frames, 3, 8, 8)  # 2 inputs x (input + 2 futures)
    assert [int(x[0, 0, 0, 0]) for x in tiles] == [11, 100, 101, 21, 103, 104]
    assert (tiles[0] == 11).all()                            # held still over the future's length
    with pytest.raises(ValueError, match="conditioning frame"):
        future_gallery_tiles(videos, k, 0)
    same = np.repeat(videos[::k], k, axis=0)                  # a deterministic model: k identical samples
    assert [int(x[0, 0, 0, 0]) for x in future_gallery_tiles(same, k, ctx_frames)] == [11, 100, 21, 103]
    npz = V.save_npz(tmp_path / "prediction.npz", videos, num_samples=np.array(k),
                     context_frames=np.array(ctx_frames))
    assert V.read_video(write_future_gallery(npz, tmp_path / "g.gif")).shape[0] == t - ctx_frames
    r = get_recipe("vgan_future_fig5")
    assert r.task == "prediction" and r.reported == () and {v.method for v in r.rows()} == {"vgan_future", "copy_last"}


def test_navslp_fig4_left_row_fixes_the_latents(tmp_path):
    r = get_recipe("navslp_fig4_left")
    rows = {v.label: v for v in r.rows()}
    assert rows["navslp"].overrides == {} and list(rows.values())[1].overrides == {"optimize_latents": False}
    from methods.navslp.config import NAVSLPConfig

    assert NAVSLPConfig().optimize_latents is True


@pytest.mark.parametrize("name", ["vgan_static_frame", "vgan_future_fig5", "navslp_fig4_left", "tgan_ucf101_is"])
def test_pages_render_with_and_without_a_paper_column(tmp_path, name):
    r = get_recipe(name)
    ctx = RecipeContext(profile="smoke", dataset="moving-shapes", out=tmp_path)
    row = r.rows()[0].label
    page = write_recipe_page(r, ctx, RecipeOutcome(ours=[Ours(row, "fcs", 0.5, dataset="moving-shapes",
                                                              profile="smoke")], notes=["n"]))
    html = page.read_text()
    assert r.reproduces.split(" (")[0] in html and "0.5" in html
    assert page.with_suffix(".md").exists()
    record = json.loads(page.with_suffix(".json").read_text())
    assert len(record["reported"]) == len(r.reported)


@pytest.mark.parametrize("optimize", [True, False])
def test_navslp_optimize_latents_false_keeps_the_latents_while_g_and_the_rnn_learn(tmp_path, optimize):
    """Fig. 4-left's ablation: with optimize_latents=False the latents stay at their (projected) initial
    draw whatever the number of steps; the generator and the RNN still train."""
    import torch

    from benchmark.data.base import Protocol, TaskProtocols
    from benchmark.methods import TrainData
    from benchmark.training.loop import TrainConfig
    from methods.navslp.method import NAVSLP

    p = Protocol("synthesis-8", "synthesis", "train", 0, 8, (32, 32), 3)
    spec = DataSpec("moving-shapes", 3, (32, 32), {"synthesis": TaskProtocols(p, p)}, train_frames=8)
    videos = np.random.default_rng(0).integers(0, 255, (4, 8, 3, 32, 32), dtype=np.uint8)
    fitted = []
    for steps in (1, 3):
        cfg = dataclasses.replace(NAVSLP.profiles["smoke"](spec), optimize_latents=optimize, max_videos=0,
                                  train=TrainConfig(steps=steps, batch_size=2, checkpoint_every=100, log_every=100))
        m = NAVSLP(cfg, spec)
        m.fit(TrainData(videos=videos, protocols={"synthesis": p}), tmp_path / f"{optimize}-{steps}", seed=0,
              progress=False)
        fitted.append(m)
    one, three = fitted
    same_latents = all(torch.equal(a, b) for a, b in zip(one.latents.parameters(), three.latents.parameters()))
    assert same_latents is (not optimize)
    for name in ("generator", "rnn"):  # the networks learn either way
        assert any(not torch.equal(a, b) for a, b in zip(one.modules()[name].parameters(),
                                                          three.modules()[name].parameters()))
