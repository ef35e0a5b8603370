"""Seeds as an axis: ``--seeds`` parsing, ``benchmark run`` once per (method, seed) into its own
cached run folder, one results row per seed, and the float64 mean ± std over seeds."""

from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

from benchmark import cli
from benchmark.pipeline import Stages
from benchmark.run import run_benchmark
from benchmark.seeds import mean_std, parse_seeds, seeds_text
from benchmark.utils import UserError, read_json
from tests.conftest import tiny_options

DATASET = "moving-shapes"


@pytest.mark.parametrize("text,seeds", [("0,1,2", [0, 1, 2]), ("3", [0, 1, 2]), ("1", [0]), (" 5, 7 ", [5, 7]),
                                        ("7,", [7]), ("2,0", [2, 0]), ("10", list(range(10)))])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "0", "-1", "1,-2", "a", "1.5", "1,,2", "0,1,0", "3 4"])
def test_parse_seeds_rejects_with_the_fix(text):
    with pytest.raises(UserError, match="--seeds"):
        parse_seeds(text)


def test_mean_std_closed_form_in_float64():
    # n values a, a+d, ..., a+(n-1)d: mean a + (n-1)d/2, sample variance d^2 n(n+1)/12
    a, d, n = 1e8, 0.1, 7
    mean, std = mean_std(a + i * d for i in range(n))
    assert mean == pytest.approx(a + (n - 1) * d / 2, rel=1e-15)
    assert std == pytest.approx(d * math.sqrt(n * (n + 1) / 12), rel=1e-7)  # ~1e-9 abs in a 1e8 offset
    assert mean_std([27.0, 28.0]) == (27.5, math.sqrt(0.5))
    xs = [0.3, 0.1, 0.7, 0.2]
    assert mean_std(xs) == pytest.approx((statistics.fmean(xs), statistics.stdev(xs)), rel=1e-15)
    assert mean_std([3.0])[0] == 3.0 and math.isnan(mean_std([3.0])[1])
    assert math.isnan(mean_std([1.0, float("nan")])[0]) and mean_std([1.0, math.inf])[0] == math.inf
    assert all(math.isnan(x) for x in mean_std([]))
    assert seeds_text([2, 0, 1]) == "0 1 2"


def test_seed_and_seeds_are_mutually_exclusive(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--dataset", DATASET, "--seed", "1", "--seeds", "2"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert cli.main(["run", "--methods", "copy_last", "--dataset", DATASET, "--seeds", "0,0"]) == 2
    assert "repeats seed(s) 0" in capsys.readouterr().err


def test_seeds_reach_run_benchmark(monkeypatch):
    got = {}
    monkeypatch.setattr("benchmark.run.run_benchmark", lambda *a, **kw: got.update(kw) or 0)
    assert cli.main(["run", "--methods", "copy_last", "--dataset", DATASET, "--seeds", "3"]) == 0
    assert got["seeds"] == [0, 1, 2]
    assert cli.main(["run", "--methods", "copy_last", "--dataset", DATASET, "--seed", "4"]) == 0
    assert got["seeds"] == [4]


def test_run_once_per_seed_one_row_per_seed_cached_per_seed(tiny_data_root, tmp_path):
    def run(methods="conv_lstm", **kw):
        return run_benchmark(methods, DATASET, seeds=[0, 1], out=tmp_path, data_root=tiny_data_root,
                             dataset_options=tiny_options(), metrics=["psnr", "ssim"], progress=False,
                             untrained_references=False, **kw)

    assert run(overrides={"train.steps": "2"}) == 0
    runs = tmp_path / "runs" / DATASET
    for method in ("conv_lstm",):
        for seed in (0, 1):
            res = read_json(runs / method / "smoke" / f"seed{seed}" / "results.json")
            assert res["seeds"] == [seed] and res["method"] == method
    psnr = lambda m, s: read_json(runs / m / "smoke" / f"seed{s}" / "results.json")[  # noqa: E731
        "tasks"]["prediction"]["metrics"]["psnr_best"]["value"]
    assert psnr("conv_lstm", 0) != psnr("conv_lstm", 1)  # the seed reaches training
    assert sorted(p.name for p in (runs / "real").glob("*/seed*")) == ["seed0"]  # the bound: scored once

    table = pd.read_csv(tmp_path / "reports" / DATASET / "results.csv", dtype={"seeds": str})
    conv = table[(table.method == "conv_lstm") & (table.metric == "psnr_best")]
    assert sorted(conv.seeds) == ["0", "1"]  # one row per seed
    page = (tmp_path / "reports" / DATASET / "index.html").read_text()
    mean, std = mean_std([psnr("conv_lstm", 0), psnr("conv_lstm", 1)])
    assert "(2 seeds)" in page and f'data-value="{mean!r}"' in page

    # a second run reuses every (method, seed) folder: no stage is redone, each seed keeps its own key
    def records():
        return {(seed, f.relative_to(runs).as_posix()): f.stat().st_mtime_ns
                for seed in (0, 1) for f in (runs / "conv_lstm" / "smoke" / f"seed{seed}").rglob("stage*.json")}

    before = records()
    assert len(before) >= 2 * 3  # train, sample, evaluate per seed
    keys = {seed: Stages(runs / "conv_lstm" / "smoke" / f"seed{seed}").get("train")["key"] for seed in (0, 1)}
    assert keys[0] != keys[1]
    assert run(overrides={"train.steps": "2"}) == 0
    assert records() == before


@pytest.mark.slow  # two spawned worker processes: about a minute on a loaded 2-core machine
def test_seeds_with_parallel_jobs_give_the_results_of_one_after_another(tiny_data_root, tmp_path):
    """``--seeds 0,1 --jobs 2``: the two seeds of a method run in two worker processes, each into its
    own folder, with the numbers of the sequential run."""
    kw = dict(seeds=[0, 1], data_root=tiny_data_root, dataset_options=tiny_options(), metrics=["psnr"],
              progress=False, report=False, untrained_references=False, overrides={"train.steps": "2"})
    assert run_benchmark("conv_lstm", DATASET, out=tmp_path / "seq", jobs=1, **kw) == 0
    assert run_benchmark("conv_lstm", DATASET, out=tmp_path / "par", jobs=2, **kw) == 0

    def values(out):
        return {seed: read_json(out / "runs" / DATASET / "conv_lstm" / "smoke" / f"seed{seed}" / "results.json")[
            "tasks"]["prediction"]["metrics"]["psnr_best"]["value"] for seed in (0, 1)}

    seq = values(tmp_path / "seq")
    assert seq == values(tmp_path / "par") and seq[0] != seq[1]
