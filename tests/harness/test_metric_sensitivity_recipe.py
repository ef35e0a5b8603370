"""`benchmark reproduce metric_sensitivity`: end to end on the small moving-shapes (2 distortions x 2
levels, 8 clips), the metric selection (what is left out without weights, and why) and the plot."""

from __future__ import annotations

import csv
import json

import pytest

from benchmark.cli import main
from tests.conftest import SMALL_SPLITS

OPTIONS = {"distortions": "blur,frame_rate", "levels": "0,4", "clips": "8"}


@pytest.fixture(scope="module")
def study(small_data_root, tmp_path_factory):
    from benchmark.reproduce import run_recipe

    out = tmp_path_factory.mktemp("sensitivity")
    page = run_recipe("metric_sensitivity", out=out, data_root=small_data_root, progress=False,
                      overrides=dict(OPTIONS), dataset_options={"split_sizes": SMALL_SPLITS})
    return out, page


def test_table_has_a_row_per_metric_distortion_level_and_fvd_shapes_grows_with_blur(study):
    out, page = study
    folder = out / "recipes" / "metric_sensitivity"
    with open(folder / "sensitivity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    record = json.loads((folder / "sensitivity.json").read_text())
    metrics = set(record["metrics"])
    assert {"fvd_shapes", "is_shapes", "fcs", "psnr", "ssim"} <= metrics
    assert "fvd" not in metrics and "i3d_kinetics400" in record["left_out"]["fvd"]  # no I3D weights here
    plotted = record["plotted"]
    cells = [(r["metric"], r["distortion"], int(r["level"])) for r in rows if r["key"] == plotted[r["metric"]]]
    assert sorted(cells) == sorted((m, d, lv) for m in metrics for d in ("blur", "frame_rate") for lv in (0, 4))

    def value(key, dist, level):
        return next(float(r["value"]) for r in rows if r["key"] == key and r["distortion"] == dist
                    and int(r["level"]) == level)

    assert value("fvd_shapes", "blur", 4) > 1.2 * value("fvd_shapes", "blur", 0)
    assert value("fvd_shapes", "frame_rate", 4) > 1.2 * value("fvd_shapes", "frame_rate", 0)
    assert value("psnr_mean", "blur", 4) < value("psnr_mean", "blur", 0)
    assert value("ssim_mean", "blur", 4) < 0.95
    # the page, plot and manifest
    html = page.read_text()
    assert "fvd left out" in html and "sensitivity.png" in html and "blur level 4" in html
    png = folder / "sensitivity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"sensitivity.csv", "sensitivity.json", "sensitivity.png"}
    assert manifest["left_out"]["fvd"] and not list(folder.glob("*.tmp*"))


def test_metric_selection_and_bad_options(tmp_path):
    from benchmark.recipes.metric_sensitivity import available_metrics
    from benchmark.utils import UserError

    chosen, left_out = available_metrics("bair")
    assert "fvd_shapes" not in chosen and "moving-shapes" in left_out["fvd_shapes"] and "psnr" in chosen
    chosen, left_out = available_metrics("moving-shapes", weights="random")
    assert "fvd" in chosen and "fvd" not in left_out
    assert main(["reproduce", "list", "--json"]) == 0
    from benchmark.reproduce import run_recipe

    with pytest.raises(UserError, match="unknown distortion"):
        run_recipe("metric_sensitivity", out=tmp_path, overrides={"distortions": "wobble"})
    with pytest.raises(UserError, match="levels"):
        run_recipe("metric_sensitivity", out=tmp_path, overrides={"levels": "0,7"})
