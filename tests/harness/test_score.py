"""`benchmark score`: score_sets, format_table and run_score on real files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmark.registry import UnknownNameError
from benchmark.score import ScoreError, UnknownMetricError, format_table, run_score, score_sets
from benchmark.utils import UserError
from benchmark.video import save_npz, write_video


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (5, 4, 3, 16, 16), dtype=np.uint8)
    noise = rng.integers(-20, 21, real.shape)
    fake = np.clip(real.astype(int) + noise, 0, 255).astype(np.uint8)
    return real, fake


def test_identical_sets(sets):
    real, _ = sets
    r = score_sets(real, real.copy(), ["psnr", "ssim", "fcs"], batch_size=2)
    m = r["metrics"]
    assert set(m) == {"psnr_best", "psnr_mean", "psnr_worst", "ssim_best", "ssim_mean", "ssim_worst",
                      "fcs", "fcs_real"}
    assert m["ssim_best"]["value"] == pytest.approx(1.0, abs=1e-12)
    assert m["psnr_mean"]["value"] == pytest.approx(100.0)  # the MSE floor
    assert m["fcs"]["value"] == pytest.approx(m["fcs_real"]["value"], abs=1e-12)
    assert m["fcs_real"]["extra"]["set"] == "real"
    assert all(v["n"] == 5 for v in m.values())
    assert r["kinds"] == {"psnr": "paired", "ssim": "paired", "fcs": "intrinsic"}
    assert r["protocols"]["ssim"]["window_size"] == 11 and r["protocols"]["fcs"]["include_first_frame"] is True
    assert r["real"]["shape"] == [5, 4, 3, 16, 16]
    json.dumps(r, allow_nan=False)  # strict JSON


def test_different_sets_and_batch_invariance(sets):
    real, fake = sets
    a = score_sets(real, fake, ["psnr", "ssim"], batch_size=5)["metrics"]
    b = score_sets(real, fake, ["ssim", "psnr"], batch_size=2)["metrics"]
    assert 0 < a["ssim_mean"]["value"] < 0.99 and 15 < a["psnr_mean"]["value"] < 40
    for key in a:
        assert a[key]["value"] == pytest.approx(b[key]["value"], abs=1e-12)
        assert a[key]["ci_high"] == pytest.approx(b[key]["ci_high"], rel=1e-9)  # sum-of-squares CI
    assert a["psnr_best"]["value"] == a["psnr_worst"]["value"]  # k = 1


def test_shape_mismatch_and_unknown_metric(sets):
    real, fake = sets
    with pytest.raises(ScoreError, match=r"\(5, 4, 3, 16, 16\).*\(3, 4, 3, 16, 16\)"):
        score_sets(real, fake[:3], ["psnr"])
    # intrinsic metrics do not pair videos: different N is fine
    r = score_sets(real, fake[:3], ["fcs"])
    assert r["metrics"]["fcs"]["n"] == 3 and r["metrics"]["fcs_real"]["n"] == 5
    with pytest.raises(UnknownMetricError, match="valid metrics: .*psnr") as e:
        score_sets(real, fake, ["psnr", "nope"])
    assert isinstance(e.value, UserError) and isinstance(e.value, UnknownNameError)
    with pytest.raises(ScoreError, match="uint8"):
        score_sets(real.astype(np.float32), fake, ["psnr"])
    with pytest.raises(ScoreError, match="SSIM window"):
        score_sets(real[:, :, :, :8, :8], fake[:, :, :, :8, :8], ["ssim"])


def test_single_video_gives_null_ci_and_table(sets):
    real, fake = sets
    r = score_sets(real[:1], fake[:1], ["psnr", "fcs"])
    assert r["metrics"]["psnr_mean"]["n"] == 1 and r["metrics"]["psnr_mean"]["ci_low"] is None
    json.dumps(r, allow_nan=False)
    table = format_table(r)
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "value", "95%", "CI", "n"]
    row = next(line for line in lines if line.startswith("psnr_mean"))
    assert f"{r['metrics']['psnr_mean']['value']:.4f}" in row and row.split()[-2:] == ["-", "1"]
    assert any(line.startswith("fcs_real") for line in lines)


def test_run_score_end_to_end(tmp_path, sets, capsys):
    real, fake = sets
    save_npz(tmp_path / "real.npz", real)
    for i, v in enumerate(fake):
        write_video(tmp_path / "fake" / f"{i:03d}.mp4", v)
    out = tmp_path / "out" / "score.json"
    assert run_score(tmp_path / "real.npz", tmp_path / "fake", "psnr,ssim,fcs", str(out)) == 0
    printed = capsys.readouterr().out
    assert "ssim_mean" in printed and str(out) in printed
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    direct = score_sets(real, fake, ["psnr", "ssim", "fcs"])
    assert data["metrics"]["ssim_mean"]["value"] == pytest.approx(direct["metrics"]["ssim_mean"]["value"],
                                                                  abs=1e-12)  # mp4 is lossless
    assert len(data["inputs"]["real"]["sha256"]) == 64
    assert not list(out.parent.glob(".*tmp*"))  # atomic write left nothing behind
    with pytest.raises(UnknownMetricError, match="valid metrics"):
        run_score(tmp_path / "real.npz", tmp_path / "fake", "psnr,bogus", None)
    assert not math.isnan(data["metrics"]["fcs"]["value"])
