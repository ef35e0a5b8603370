"""The drift check over seeds: a baseline of several seeds stores the mean and each seed's value, the
check compares both; baselines of one seed (the committed CI baseline) read exactly as before."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark import drift
from benchmark.cli import main
from benchmark.results import COLUMNS, SCHEMA
from benchmark.utils import repo_root, write_json_atomic

DATASET, PROFILE = "moving-shapes", "smoke"
PSNR = ("copy_last", "prediction", "10->10", "psnr_best")   # band 0.5 dB (the metric class's)
FVD = ("svg_lp", "synthesis", "16f", "fvd")                  # band max(1, 5%)
# seed -> key -> value: psnr 21, 22, 23 (mean 22); fvd 800, 810, 830 (mean 813.33...)
SEEDS = {0: {PSNR: 21.0, FVD: 800.0}, 1: {PSNR: 22.0, FVD: 810.0}, 2: {PSNR: 23.0, FVD: 830.0}}


def rows_of(seed, values, comparable=True):
    return [{"method": m, "dataset": DATASET, "task": t, "protocol": p, "metric": k, "value": v,
             "ci_low": None, "ci_high": None, "n": 8, "seeds": str(seed), "profile": PROFILE,
             "comparable": comparable} for (m, t, p, k), v in values.items()]


def table(seeds=SEEDS):
    return pd.DataFrame([r for s, vals in seeds.items() for r in rows_of(s, vals)], columns=list(COLUMNS))


def shifted(key, by, seeds=(0, 1, 2)):
    """SEEDS with ``key`` moved by ``by`` in each of ``seeds``."""
    return {s: {k: v + (by if (k == key and s in seeds) else 0.0) for k, v in vals.items()}
            for s, vals in SEEDS.items()}


@pytest.fixture
def baseline():
    return drift.make_baseline(table(), DATASET, PROFILE)


def rows(report, key):
    return {r.seed: r for r in report.rows if r.key == key}


def test_baseline_of_several_seeds_stores_the_mean_and_each_seed(baseline):
    entries = {tuple(e[k] for k in drift.KEY_FIELDS): e for e in baseline["entries"]}
    assert entries[PSNR]["value"] == 22.0 and entries[PSNR]["seeds"] == "0 1 2"
    assert entries[PSNR]["per_seed"] == {"0": 21.0, "1": 22.0, "2": 23.0}
    assert entries[FVD]["value"] == pytest.approx(2440 / 3, rel=1e-15)  # float64 mean, closed form
    drift.validate_baseline(json.loads(json.dumps(baseline)))  # strict JSON round trip


def test_the_same_seeds_pass_with_a_row_for_the_mean_and_each_seed(baseline):
    report = drift.check(table(), baseline)
    assert report.exit_code == 0
    assert set(rows(report, PSNR)) == {"mean", "0", "1", "2"}
    assert report.n_checked == 2 * 4


def test_one_seed_drifting_fails_even_when_the_mean_stays_in_band(baseline):
    report = drift.check(table(shifted(PSNR, 0.6, seeds=(1,))), baseline)   # mean moves by 0.2 only
    r = rows(report, PSNR)
    assert r["mean"].status == "ok" and r["0"].status == "ok" and r["2"].status == "ok"
    assert r["1"].status == "drift" and r["1"].new == pytest.approx(22.6) and report.exit_code == 1
    text = drift.format_report(report)
    assert "seed" in text.splitlines()[0] and "DRIFT" in text


def test_the_mean_is_checked_too(baseline):
    report = drift.check(table(shifted(PSNR, 0.6)), baseline)
    assert {s: r.status for s, r in rows(report, PSNR).items()} == {
        "mean": "drift", "0": "drift", "1": "drift", "2": "drift"}
    assert rows(report, PSNR)["mean"].new == pytest.approx(22.6)
    # a baseline of several seeds without per-seed values (written before them): only the mean is checked
    for e in baseline["entries"]:
        e.pop("per_seed")
    assert drift.check(table(shifted(PSNR, 0.4)), baseline).exit_code == 0
    report = drift.check(table(shifted(PSNR, 0.6)), baseline)
    assert [(r.seed, r.status) for r in report.rows if r.key == PSNR] == [("mean", "drift")]


def test_a_baseline_seed_missing_from_the_fresh_results_fails(baseline):
    report = drift.check(table({0: SEEDS[0]}), baseline)
    r = rows(report, PSNR)
    assert r["mean"].status == "not-comparable" and "seeds 0 1 2 -> 0" in r["mean"].note
    assert r["0"].status == "ok" and r["1"].status == r["2"].status == "missing"
    assert report.exit_code == 1


def test_one_non_comparable_seed_fails_its_row_and_the_mean(baseline):
    t = pd.DataFrame(rows_of(0, SEEDS[0]) + rows_of(1, SEEDS[1], comparable=False) + rows_of(2, SEEDS[2]),
                     columns=list(COLUMNS))
    r = rows(drift.check(t, baseline), PSNR)
    assert r["mean"].status == r["1"].status == "not-comparable" and r["0"].status == "ok"


def test_single_seed_baselines_read_as_before():
    """A one-seed entry holds no per_seed; a rerun with more seeds compares seed 0 with it."""
    base = drift.make_baseline(table({0: SEEDS[0]}), DATASET, PROFILE)
    assert all("per_seed" not in e for e in base["entries"])
    same = drift.check(table({0: SEEDS[0]}), base)
    assert same.exit_code == 0 and [r.seed for r in same.rows] == ["", ""]
    assert "seed" not in drift.format_report(same, show_all=True).splitlines()[0].split()
    more = drift.check(table(), base)   # seeds 0 1 2 against a seed-0 baseline: seed 0's value is checked
    assert more.exit_code == 0 and rows(more, PSNR)[""].new == 21.0
    assert "fresh seed(s) 1 2 not in the baseline" in rows(more, PSNR)[""].note
    assert drift.check(table(shifted(PSNR, 0.6, seeds=(0,))), base).exit_code == 1
    other = drift.check(table({1: SEEDS[1]}), base)   # another seed: not comparable, as before
    assert rows(other, PSNR)[""].status == "not-comparable" and other.exit_code == 1


def test_the_committed_ci_baseline_passes_unchanged_for_seed_0_and_with_more_seeds():
    """reports/baseline/moving-shapes.json is of one seed: its own numbers as fresh seed-0 results pass,
    with or without extra seeds beside them; one of its numbers moved out of band fails."""
    base = drift.load_baseline(repo_root() / "reports" / "baseline" / "moving-shapes.json")
    assert {e.get("seeds") for e in base["entries"]} == {"0"} and not any("per_seed" in e for e in base["entries"])
    values = {tuple(e[k] for k in drift.KEY_FIELDS): drift.to_float(e["value"]) for e in base["entries"]}
    seed0 = pd.DataFrame(rows_of(0, values), columns=list(COLUMNS))
    report = drift.check(seed0, base)
    assert report.exit_code == 0 and report.n_checked == len(base["entries"]) and report.count("ok") == len(values)
    other = {k: v + 1e6 for k, v in values.items()}  # other seeds' numbers do not enter seed 0's check
    three = pd.concat([seed0, pd.DataFrame(rows_of(1, other) + rows_of(2, other), columns=list(COLUMNS))])
    assert drift.check(three, base).exit_code == 0
    key = next(k for k in values if k[3] == "psnr_best")
    moved = pd.DataFrame(rows_of(0, {**values, key: values[key] + 0.6}), columns=list(COLUMNS))
    assert drift.check(moved, base).exit_code == 1


def test_bad_per_seed_is_a_clear_error(baseline):
    baseline["entries"][0]["per_seed"] = {"zero": 1.0}
    with pytest.raises(Exception, match="per_seed"):
        drift.validate_baseline(baseline)


def test_check_cli_over_seed_folders(tmp_path, capsys):
    runs, base = tmp_path / "runs", tmp_path / "baseline.json"
    for seed, values in SEEDS.items():
        for method in ("copy_last", "svg_lp"):
            res = {"schema": SCHEMA, "method": method, "dataset": DATASET, "profile": PROFILE, "seeds": [seed],
                   "comparable": True, "tasks": {}, "train_log": None, "manifest": "manifest.json"}
            for (m, task, proto, metric), v in values.items():
                if m == method:
                    t = res["tasks"].setdefault(task, {"protocol": {"name": proto}, "metrics": {}})
                    t["metrics"][metric] = {"value": v, "ci_low": None, "ci_high": None, "n": 8}
            write_json_atomic(runs / DATASET / method / PROFILE / f"seed{seed}" / "results.json", res)
    args = ["check", "--baseline", str(base), "--runs", str(runs)]
    assert main(args + ["--update-baseline", "--dataset", DATASET]) == 0
    assert json.loads(base.read_text())["entries"][0]["per_seed"]
    capsys.readouterr()
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checked"] == 8 and {r["seed"] for r in out["rows"]} == {"mean", "0", "1", "2"}
