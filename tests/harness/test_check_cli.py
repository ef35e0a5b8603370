"""`benchmark check` through the CLI (the CI gate): exit codes 0 / 1 / 2, ``--strict``,
``--update-baseline`` and the "comparable" rule over several seed folders."""

from __future__ import annotations

import json

import pytest

from benchmark.cli import main
from benchmark.results import SCHEMA
from benchmark.utils import write_json_atomic

DATASET, PROFILE = "moving-shapes", "smoke"
VALUES = {("copy_last", "prediction", "10->10", "psnr_best"): 21.5,
          ("copy_last", "prediction", "10->10", "ssim_best"): 0.71,
          ("tgan", "synthesis", "16f", "fcs"): 0.8}


def write_run(root, method, seed=0, values=None, comparable=True, value_comparable=True):
    """One results.json at ``root/<dataset>/<method>/<profile>/seed<seed>/``."""
    values = VALUES if values is None else values
    res = {"schema": SCHEMA, "method": method, "dataset": DATASET, "profile": PROFILE, "seeds": [seed],
           "comparable": comparable, "tasks": {}, "train_log": None, "manifest": "manifest.json"}
    for (m, task, proto, metric), v in values.items():
        if m != method:
            continue
        t = res["tasks"].setdefault(task, {"protocol": {"name": proto}, "metric_protocols": {}, "metrics": {}})
        mv = {"value": v, "ci_low": None, "ci_high": None, "n": 8}
        if not value_comparable:
            mv["extra"] = {"comparable": False}
        t["metrics"][metric] = mv
    write_json_atomic(root / DATASET / method / PROFILE / f"seed{seed}" / "results.json", res)


def write_all(root, values=None, seeds=(0,), **kw):
    for seed in seeds:
        for method in sorted({k[0] for k in (values or VALUES)}):
            write_run(root, method, seed, values, **kw)


def check(*args):
    return main(["check", *map(str, args)])


@pytest.fixture
def gate(tmp_path, capsys):
    """A run root and a baseline written through ``benchmark check --update-baseline``."""
    runs, base = tmp_path / "runs", tmp_path / "baseline.json"
    write_all(runs)
    assert check("--baseline", base, "--runs", runs, "--update-baseline", "--dataset", DATASET) == 0
    assert "wrote" in capsys.readouterr().out and base.is_file()
    return runs, base


def test_update_baseline_then_check_passes(gate, capsys):
    runs, base = gate
    assert len(json.loads(base.read_text())["entries"]) == len(VALUES)
    assert check("--baseline", base, "--runs", runs) == 0
    assert "3 metrics checked, 0 drifted" in capsys.readouterr().out


def test_drift_exits_1(gate, capsys):
    runs, base = gate
    write_all(runs, {**VALUES, ("copy_last", "prediction", "10->10", "psnr_best"): 30.0})
    assert check("--baseline", base, "--runs", runs) == 1
    out = capsys.readouterr().out
    assert "psnr_best" in out and "DRIFT" in out


def test_json_report_has_every_row_with_its_band_and_status(gate, capsys):
    runs, base = gate
    write_all(runs, {**VALUES, ("copy_last", "prediction", "10->10", "psnr_best"): 30.0})
    capsys.readouterr()
    assert check("--baseline", base, "--runs", runs, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["passed"], report["exit_code"], report["checked"]) == (False, 1, 3)
    rows = {r["metric"]: r for r in report["rows"]}
    assert rows["psnr_best"]["status"] == "drift" and rows["psnr_best"]["failed"]
    assert (rows["psnr_best"]["old"], rows["psnr_best"]["new"]) == (21.5, 30.0)
    assert rows["psnr_best"]["band"] == {"abs": 0.5, "rel": 0.0} and rows["ssim_best"]["status"] == "ok"


def test_missing_metric_exits_1(gate, capsys):
    runs, base = gate
    write_all(runs, {k: v for k, v in VALUES.items() if k[3] != "fcs"})
    (runs / DATASET / "tgan").rename(runs / "gone")  # the tgan run disappeared
    assert check("--baseline", base, "--runs", runs) == 1
    assert "MISSING" in capsys.readouterr().out


def test_new_metric_fails_only_with_strict(gate):
    runs, base = gate
    write_all(runs, {**VALUES, ("copy_last", "prediction", "10->10", "psnr_mean"): 20.0})
    assert check("--baseline", base, "--runs", runs) == 0
    assert check("--baseline", base, "--runs", runs, "--strict") == 1


def test_update_baseline_adopts_the_new_value(gate):
    runs, base = gate
    write_all(runs, {**VALUES, ("copy_last", "prediction", "10->10", "psnr_best"): 30.0})
    assert check("--baseline", base, "--runs", runs) == 1
    assert check("--baseline", base, "--runs", runs, "--update-baseline") == 0
    assert check("--baseline", base, "--runs", runs) == 0


def test_cannot_check_exits_2(tmp_path, gate, capsys):
    runs, base = gate
    assert check("--baseline", tmp_path / "nope.json", "--runs", runs) == 2
    assert check("--baseline", base, "--runs", tmp_path / "empty") == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert check("--baseline", bad, "--runs", runs) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["run", "value"])
def test_one_non_comparable_seed_makes_the_number_non_comparable(tmp_path, capsys, where):
    """The comparable rule over duplicates: a mean over seeds is comparable only if ALL are (a number
    averaged with a random-weight one must never pass for a real one)."""
    runs, base = tmp_path / "runs", tmp_path / "baseline.json"
    write_all(runs, seeds=(0, 1))
    assert check("--baseline", base, "--runs", runs, "--update-baseline", "--dataset", DATASET) == 0
    assert check("--baseline", base, "--runs", runs) == 0
    kw = {"comparable": False} if where == "run" else {"value_comparable": False}
    write_run(runs, "tgan", seed=1, **kw)  # same values, but seed 1 now says "not comparable"
    assert check("--baseline", base, "--runs", runs) == 1
    out = capsys.readouterr().out
    assert "NOT-COMPARABLE" in out and "fcs" in out
    # and such a set of runs cannot become a baseline
    assert check("--baseline", tmp_path / "b2.json", "--runs", runs, "--update-baseline", "--dataset", DATASET) == 2
