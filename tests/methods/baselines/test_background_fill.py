"""``background_fill``: a trivial prediction that erases every object, kept as a reference row.

On moving-shapes its fill is exactly each clip's background; through the pipeline it scores a higher
SSIM than copy_last (the paired pixel metrics reward erasing small objects), and the leaderboard shows
it for scale without ever marking it best."""

from __future__ import annotations

import csv

import numpy as np
import torch

from benchmark.methods import Conditioning
from benchmark.paths import RESULTS, run_dir
from benchmark.registry import METHODS
from benchmark.run import run_benchmark
from benchmark.stages.spec import data_spec
from benchmark.utils import read_json
from tests.conftest import SMALL_SPLITS


def test_the_fill_is_each_clips_background(small_dataset):
    test = small_dataset.load_split("test")
    clips = torch.from_numpy(np.array(test.videos[:6])).float() / 255  # (6, 20, 3, 64, 64)
    method = METHODS.get("background_fill").from_profile("smoke", data_spec(small_dataset, ["prediction"]))
    out = method.sample("prediction", Conditioning(batch_size=6, num_frames=3, context=clips[:, :5]), seed=0)
    assert out.shape == (6, 1, 3, 3, 64, 64)
    backgrounds = torch.tensor([m["background"] for m in test.meta[:6]]).float() / 255  # (6, 3)
    torch.testing.assert_close(out, backgrounds[:, None, None, :, None, None].expand_as(out))


def test_it_outscores_copy_last_on_ssim_and_is_shown_but_never_ranked(small_data_root, tmp_path):
    code = run_benchmark("copy_last,background_fill", "moving-shapes", profile="cpu", out=tmp_path,
                         data_root=small_data_root, progress=False, metrics=["ssim"],
                         dataset_options={"split_sizes": SMALL_SPLITS})
    assert code == 0
    res = {m: read_json(run_dir(tmp_path, "moving-shapes", m, "cpu", 0) / RESULTS) for m in
           ("copy_last", "background_fill")}
    assert res["background_fill"]["reference"] == "trivial fill" and "reference" not in res["copy_last"]
    ssim = {m: r["tasks"]["prediction"]["metrics"]["ssim_best"]["value"] for m, r in res.items()}
    assert ssim["background_fill"] > ssim["copy_last"]
    rows = list(csv.DictReader(open(tmp_path / "reports" / "moving-shapes" / "leaderboard.csv")))
    fill = next(r for r in rows if r["method"].startswith("background_fill"))
    assert fill["method"] == "background_fill (trivial fill)" and fill["reference"] == "True"
    assert fill["ssim_best_best"] == "False"  # the highest SSIM, never marked best
    html = (tmp_path / "reports" / "moving-shapes" / "index.html").read_text()
    assert "trivial predictor (trivial fill)" in html
