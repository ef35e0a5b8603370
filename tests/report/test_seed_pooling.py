"""Seeds on the HTML leaderboard: a method run with several seeds is one row of mean ± std over seeds
"(n seeds)", each seed's value ± 95% CI beside it; best marks go by the mean; one seed looks as before.

Hand-made results, checkable on paper:

* ``alpha``: seeds 0, 1, 2 with psnr_best 27, 28, 30 -> mean 85/3 = 28.33, sample std
  sqrt(((-4/3)^2 + (-1/3)^2 + (5/3)^2) / 2) = sqrt(7/3) = 1.528; fvd 300, 310, 320 -> 310 ± 10.
* ``beta_net``: one seed, psnr_best 28.5 ± 0.5, fvd 315 ± 5.

By the mean, beta_net has the best psnr_best (28.5 > 28.33, although alpha's seed 2 scored 30) and
alpha the best fvd (310 < 315, although alpha's seed 2 scored 320).
"""

from __future__ import annotations

import math

import pytest

from benchmark.report import render_report
from benchmark.results import SCHEMA, find_results, load_table
from benchmark.utils import write_json_atomic
from tests.report.test_report import _parse

DATASET = "moving-shapes"
PROTOCOL = {"name": "prediction-2to4", "task": "prediction", "split": "test", "context_frames": 2,
            "future_frames": 4, "resolution": [32, 32], "channels": 1, "num_videos": 64, "samples_per_context": 1}
METRIC_PROTOCOLS = {"psnr": {"data_range": 1.0}, "fvd": {"extractor": "i3d_400"}}
HIGHER = {"psnr_best": True, "fvd": False}
VALUES = {  # method -> seed -> {metric: (value, ci half-width)}
    "real": {0: {"fvd": (40.0, 2.0)}},
    "alpha": {0: {"psnr_best": (27.0, 0.4), "fvd": (300.0, 12.0)},
              1: {"psnr_best": (28.0, 0.4), "fvd": (310.0, 12.0)},
              2: {"psnr_best": (30.0, 0.4), "fvd": (320.0, 12.0)}},
    "beta_net": {0: {"psnr_best": (28.5, 0.5), "fvd": (315.0, 5.0)}},
    "alpha@init": {0: {"psnr_best": (31.0, 0.3), "fvd": (100.0, 9.0)},   # a reference row: never ranked
                   1: {"psnr_best": (33.0, 0.3), "fvd": (90.0, 9.0)}},
}


def build(root, values=VALUES):
    for method, seeds in values.items():
        for seed, metrics in seeds.items():
            write_json_atomic(root / DATASET / method / "cpu" / f"seed{seed}" / "results.json", {
                "schema": SCHEMA, "method": method, "dataset": DATASET, "profile": "cpu", "seeds": [seed],
                "comparable": True, "manifest": "manifest.json", "train_log": None,
                **({"reference": "untrained", "base_method": "alpha"} if method.endswith("@init") else {}),
                "tasks": {"prediction": {
                    "protocol": PROTOCOL, "metric_protocols": METRIC_PROTOCOLS,
                    "metrics": {m: {"value": v, "ci_low": v - h, "ci_high": v + h, "n": 64,
                                    "higher_is_better": HIGHER[m]} for m, (v, h) in metrics.items()}}}})
    return root


def leaderboard(tmp_path, values=VALUES):
    page = render_report(DATASET, build(tmp_path / "runs", values), tmp_path / "out").read_text()
    (table,) = _parse(page).tables
    names = [c["text"].split(" ")[0] for c in table["head"]]
    rows = {}
    for r in table["rows"]:
        cells = dict(zip(names[1:], r["cells"][1:]))
        rows[r["attrs"]["data-method"]] = {name: {"text": c["text"], "best": "best" in c["attrs"].get("class", ""),
                                                  "value": c["attrs"].get("data-value")}
                                           for name, c in cells.items()}
    return page, rows


def test_several_seeds_are_one_row_of_mean_and_std_with_the_per_seed_intervals(tmp_path):
    page, rows = leaderboard(tmp_path)
    assert set(rows) == {"real data", "alpha", "beta_net", "alpha (untrained)"}  # no per-seed rows
    psnr = rows["alpha"]["psnr_best"]
    mean, std = 85 / 3, math.sqrt(7 / 3)
    assert float(psnr["value"]) == pytest.approx(mean, rel=1e-12)  # the sort key is the mean
    assert psnr["text"].startswith(f"{mean:.1f} ± {std:.1f} (3 seeds)")  # 1.528 -> 2 significant digits
    for seed, value in ((0, "27.00 ± 0.40"), (1, "28.00 ± 0.40"), (2, "30.00 ± 0.40")):
        assert f"seed {seed}: {value}" in psnr["text"]
    assert rows["alpha"]["fvd"]["text"].startswith("310 ± 10 (3 seeds)")
    # one seed: as before, value ± CI half-width (n clips), no seed count
    assert rows["beta_net"]["psnr_best"]["text"] == "28.50 ± 0.50 (n=64)"
    # the reference row pools too and stays unranked
    assert rows["alpha (untrained)"]["psnr_best"]["text"].startswith("32.0 ± 1.4 (2 seeds)")
    assert "seeds 0 1 2" in page


def test_best_marks_use_the_mean_over_seeds(tmp_path):
    _, rows = leaderboard(tmp_path)
    assert [m for m, r in rows.items() if r["psnr_best"]["best"]] == ["beta_net"]  # 28.5 > 28.33 (seed 2: 30)
    assert [m for m, r in rows.items() if r["fvd"]["best"]] == ["alpha"]            # 310 < 315 (seed 2: 320)


def test_one_seed_each_looks_as_before(tmp_path):
    one = {m: {0: seeds[0]} for m, seeds in VALUES.items()}
    page, rows = leaderboard(tmp_path, one)
    assert rows["alpha"]["psnr_best"]["text"] == "27.00 ± 0.40 (n=64)"
    assert "seeds)" not in page and 'class="per-seed"' not in page and "mean ± std over" not in page


def test_results_csv_keeps_one_row_per_seed(tmp_path):
    build(tmp_path / "runs")
    table = load_table(find_results(tmp_path / "runs", DATASET))
    alpha = table[(table.method == "alpha") & (table.metric == "psnr_best")]
    assert sorted(alpha["seeds"]) == ["0", "1", "2"] and sorted(alpha["value"]) == [27.0, 28.0, 30.0]
