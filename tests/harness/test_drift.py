"""The metric drift check (`benchmark check`): band rule, statuses, inputs, baseline files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from benchmark import drift
from benchmark.results import COLUMNS, SCHEMA, load_table
from benchmark.utils import UserError, write_json_atomic

DATASET, PROFILE = "moving-shapes", "smoke"

# (method, task, protocol, metric) -> value
VALUES = {
    ("copy_last", "prediction", "10->10", "psnr_best"): 21.5,
    ("copy_last", "prediction", "10->10", "ssim_best"): 0.71,
    ("svg_lp", "prediction", "10->10", "psnr_best"): 23.25,
    ("svg_lp", "synthesis", "16f", "fvd"): 812.0,
}


def make_table(values=VALUES, comparable=True, seeds="0", dataset=DATASET, profile=PROFILE):
    rows = [{"method": m, "dataset": dataset, "task": t, "protocol": p, "metric": k, "value": v,
             "ci_low": None, "ci_high": None, "n": 8, "seeds": seeds, "profile": profile,
             "comparable": comparable} for (m, t, p, k), v in values.items()]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def with_value(key, value, values=VALUES):
    return {**values, key: value}


PSNR = ("copy_last", "prediction", "10->10", "psnr_best")
SSIM = ("copy_last", "prediction", "10->10", "ssim_best")
FVD = ("svg_lp", "synthesis", "16f", "fvd")


@pytest.fixture
def baseline():
    return drift.make_baseline(make_table(), DATASET, PROFILE)


def status_of(report, key):
    (row,) = [r for r in report.rows if r.key == key]
    return row.status


# ---------------------------------------------------------------- the band rule

@pytest.mark.parametrize("old,new,a,r,ok", [
    (10.0, 10.5, 0.5, 0.0, True),      # on the abs edge
    (10.0, 10.51, 0.5, 0.0, False),
    (10.0, 9.49, 0.5, 0.0, False),     # symmetric
    (1000.0, 1049.0, 1.0, 0.05, True),   # rel band (50) is wider than abs
    (1000.0, 1051.0, 1.0, 0.05, False),
    (0.0, 0.0009, 1e-3, 0.5, True),    # near zero only the abs floor counts
    (0.0, 0.0011, 1e-3, 0.5, False),
    (-200.0, -209.0, 0.0, 0.05, True),  # rel uses |old|
    (-200.0, -211.0, 0.0, 0.05, False),
    (5.0, 5.0, 0.0, 0.0, True),        # zero band: only exact equality
    (5.0, 5.0 + 1e-12, 0.0, 0.0, False),
])
def test_within_band_abs_and_rel(old, new, a, r, ok):
    assert drift.within_band(old, new, a, r) is ok


@pytest.mark.parametrize("old,new,ok", [
    (math.nan, math.nan, True),
    (None, math.nan, True),          # None counts as NaN
    (1.0, math.nan, False),          # NaN where a number was
    (math.nan, 1.0, False),          # a number where NaN was
    (math.inf, math.inf, True),
    (-math.inf, -math.inf, True),
    (math.inf, -math.inf, False),
    (1e308, math.inf, False),
    (math.inf, math.nan, False),
])
def test_within_band_non_finite(old, new, ok):
    assert drift.within_band(old, new, 1e9, 1e9) is ok


def test_within_band_rejects_negative_tolerance():
    with pytest.raises(ValueError):
        drift.within_band(1.0, 1.0, -1.0, 0.0)


def test_band_for_family_exact_pattern_and_default():
    default = {"abs": 1e-3, "rel": 1e-2}
    per = {"psnr": {"abs": 0.5}, "psnr_worst": {"abs": 2.0, "rel": 0.0}, "fv*": {"rel": 0.1}}
    assert drift.band_for("psnr_best", per, default) == {"abs": 0.5, "rel": 1e-2}
    assert drift.band_for("psnr_worst", per, default) == {"abs": 2.0, "rel": 0.0}
    assert drift.band_for("fvd", per, default) == {"abs": 1e-3, "rel": 0.1}
    assert drift.band_for("bpd", per, default) == default


# ---------------------------------------------------------------- making baselines

def test_make_baseline_uses_family_bands(baseline):
    entries = {tuple(e[k] for k in drift.KEY_FIELDS): e for e in baseline["entries"]}
    assert baseline["schema"] == drift.SCHEMA
    assert (baseline["dataset"], baseline["profile"]) == (DATASET, PROFILE)
    assert entries[PSNR]["value"] == 21.5 and entries[PSNR]["abs"] == 0.5
    assert entries[SSIM]["abs"] == 0.02
    assert entries[FVD]["rel"] == 0.05
    assert entries[PSNR]["seeds"] == "0"
    assert len(entries) == len(VALUES)


def test_make_baseline_ignores_other_datasets_and_profiles():
    table = pd.concat([make_table(), make_table(dataset="kth"), make_table(profile="paper")])
    b = drift.make_baseline(table, DATASET, PROFILE)
    assert len(b["entries"]) == len(VALUES)


def test_non_comparable_rows_are_refused():
    table = pd.concat([make_table(), make_table({("svg_lp", "synthesis", "16f", "is"): 3.0},
                                                comparable=False)])
    with pytest.raises(UserError, match=r"(?s)comparable=false.*svg_lp/synthesis/16f/is"):
        drift.make_baseline(table, DATASET, PROFILE)
    b = drift.make_baseline(table, DATASET, PROFILE, skip_incomparable=True)
    assert {e["metric"] for e in b["entries"]} == {"psnr_best", "ssim_best", "fvd"}


def test_make_baseline_with_no_rows_is_an_error():
    with pytest.raises(UserError, match="no results"):
        drift.make_baseline(make_table(), "kth", PROFILE)


# ---------------------------------------------------------------- check()

def test_identical_results_pass(baseline):
    report = drift.check(make_table(), baseline)
    assert report.exit_code == 0
    assert {r.status for r in report.rows} == {"ok"}
    assert report.n_checked == len(VALUES)
    assert drift.format_report(report).splitlines()[-1].startswith("4 metrics checked, 0 drifted")


def test_perturbation_inside_band_passes(baseline):
    report = drift.check(make_table(with_value(PSNR, 21.5 + 0.4)), baseline)
    assert report.exit_code == 0 and status_of(report, PSNR) == "ok"


def test_perturbation_outside_band_fails_and_is_reported(baseline):
    report = drift.check(make_table(with_value(PSNR, 21.5 + 0.7)), baseline)
    assert report.exit_code == 1
    assert status_of(report, PSNR) == "drift"
    assert status_of(report, SSIM) == "ok"
    text = drift.format_report(report)
    (line,) = [ln for ln in text.splitlines() if "psnr_best" in ln]
    assert "copy_last" in line and "21.5" in line and "22.2" in line and "±0.5" in line
    assert "DRIFT" in line
    assert "ssim_best" not in text  # ok rows are hidden by default
    assert "4 metrics checked, 1 drifted" in text
    assert "ssim_best" in drift.format_report(report, show_all=True)


def test_relative_band_scales_with_value(baseline):
    # fvd band = max(1.0, 0.05 * 812) = 40.6
    assert drift.check(make_table(with_value(FVD, 812.0 + 40.0)), baseline).exit_code == 0
    report = drift.check(make_table(with_value(FVD, 812.0 + 41.0)), baseline)
    assert status_of(report, FVD) == "drift"
    assert "±40.6" in drift.format_report(report)


def test_missing_metric_fails(baseline):
    values = {k: v for k, v in VALUES.items() if k != SSIM}
    report = drift.check(make_table(values), baseline)
    assert report.exit_code == 1
    assert status_of(report, SSIM) == "missing"
    assert "missing" in drift.format_report(report)


def test_new_metric_passes_unless_strict(baseline):
    extra = ("svg_lp", "prediction", "10->10", "lpips_best")
    table = make_table(with_value(extra, 0.2))
    report = drift.check(table, baseline)
    assert report.exit_code == 0 and status_of(report, extra) == "new"
    assert "lpips_best" in drift.format_report(report)
    strict = drift.check(table, baseline, strict=True)
    assert strict.exit_code == 1 and status_of(strict, extra) == "new"


def test_nan_handling():
    values = with_value(PSNR, math.nan)
    b = drift.make_baseline(make_table(values), DATASET, PROFILE)
    (entry,) = [e for e in b["entries"] if e["metric"] == "psnr_best" and e["method"] == "copy_last"]
    assert entry["value"] is None
    assert drift.check(make_table(values), b).exit_code == 0                      # NaN == NaN
    assert status_of(drift.check(make_table(), b), PSNR) == "drift"               # number where NaN was
    report = drift.check(make_table(with_value(SSIM, math.nan)), drift.make_baseline(
        make_table(), DATASET, PROFILE))
    assert report.exit_code == 1 and status_of(report, SSIM) == "drift"        # NaN where number was
    assert "nan" in drift.format_report(report)


def test_inf_round_trips_through_the_file(tmp_path):
    values = with_value(FVD, math.inf)
    path = drift.write_baseline(tmp_path / "b.json", drift.make_baseline(make_table(values), DATASET, PROFILE))
    text = path.read_text()
    assert '"Infinity"' in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON token {c}"))
    b = drift.load_baseline(path)
    assert drift.check(make_table(values), b).exit_code == 0
    assert status_of(drift.check(make_table(), b), FVD) == "drift"


def test_non_comparable_fresh_value_fails_where_baseline_has_it(baseline):
    table = make_table(comparable=False)
    report = drift.check(table, baseline)
    assert report.exit_code == 1
    assert {r.status for r in report.rows} == {"not-comparable"}
    # an unpinned-weights metric the baseline does not hold is shown, but fails only when strict
    extra = make_table({("svg_lp", "synthesis", "16f", "is"): 3.0}, comparable=False)
    table = pd.concat([make_table(), extra])
    report = drift.check(table, baseline)
    assert report.exit_code == 0
    assert "not-comparable" in drift.format_report(report)
    assert drift.check(table, baseline, strict=True).exit_code == 1


def test_other_seeds_are_not_comparable(baseline):
    report = drift.check(make_table(seeds="1"), baseline)
    assert report.exit_code == 1 and status_of(report, PSNR) == "not-comparable"
    assert "seeds 0 -> 1" in drift.format_report(report)


def test_duplicate_rows_are_averaged(baseline):
    # two seed folders: 21.0 and 22.0 average to 21.5, the baseline value; seeds "0" + "1" != "0"
    t = pd.concat([make_table(with_value(PSNR, 21.0), seeds="0"), make_table(with_value(PSNR, 22.0), seeds="1")])
    b = drift.make_baseline(t, DATASET, PROFILE)
    (entry,) = [e for e in b["entries"] if tuple(e[k] for k in drift.KEY_FIELDS) == PSNR]
    assert entry["value"] == 21.5 and entry["seeds"] == "0 1"
    assert drift.check(t, b).exit_code == 0


def test_entry_without_band_uses_default_band(baseline):
    for e in baseline["entries"]:
        del e["abs"], e["rel"]
    baseline["default_band"] = {"abs": 0.1, "rel": 0.0}
    assert drift.check(make_table(with_value(PSNR, 21.59)), baseline).exit_code == 0
    assert drift.check(make_table(with_value(PSNR, 21.61)), baseline).exit_code == 1


# ---------------------------------------------------------------- files and entry points

def write_runs(root, values=VALUES, comparable=True, profile=PROFILE, seed=0):
    """results.json files following benchmark/results.py, one per (method)."""
    by_method: dict[str, dict] = {}
    for (m, task, proto, metric), v in values.items():
        res = by_method.setdefault(m, {
            "schema": SCHEMA, "method": m, "dataset": DATASET, "profile": profile, "seeds": [seed],
            "comparable": comparable, "tasks": {}, "train_log": None, "manifest": "manifest.json"})
        t = res["tasks"].setdefault(task, {"protocol": {"name": proto}, "metric_protocols": {},
                                           "metrics": {}, "samples": None, "gallery": None})
        t["metrics"][metric] = {"value": v, "ci_low": None, "ci_high": None, "n": 8}
    for m, res in by_method.items():
        write_json_atomic(root / DATASET / m / profile / f"seed{seed}" / "results.json", res)


def test_run_check_from_run_root(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_runs(runs)
    bpath = tmp_path / "baseline.json"
    assert drift.run_update_baseline(bpath, run_root=runs, dataset=DATASET, profile=PROFILE) == 0
    assert drift.run_check(bpath, run_root=runs) == 0
    assert "4 metrics checked, 0 drifted" in capsys.readouterr().out

    write_runs(runs, with_value(PSNR, 25.0))
    assert drift.run_check(bpath, run_root=runs) == 1
    out = capsys.readouterr().out
    assert "psnr_best" in out and "25" in out and "1 drifted" in out


def test_run_check_ignores_runs_of_other_profiles(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_runs(runs)
    bpath = tmp_path / "baseline.json"
    assert drift.run_update_baseline(bpath, run_root=runs) == 0  # dataset inferred, profile smoke
    write_runs(runs, with_value(PSNR, 99.0), profile="paper")
    assert drift.run_check(bpath, run_root=runs) == 0


def test_run_check_from_csv(tmp_path, capsys):
    csv = tmp_path / "results.csv"
    table = load_table([])  # the real column order
    make_table().to_csv(csv, index=False)
    assert list(pd.read_csv(csv).columns) == list(table.columns)
    bpath = tmp_path / "baseline.json"
    assert drift.run_update_baseline(bpath, results=csv) == 0
    assert drift.run_check(bpath, results=csv) == 0
    make_table(with_value(SSIM, 0.5)).to_csv(csv, index=False)
    assert drift.run_check(bpath, results=csv) == 1
    out = capsys.readouterr().out
    assert "ssim_best" in out and "0.71" in out and "0.5" in out and "±0.02" in out


def test_csv_and_run_root_agree(tmp_path):
    runs = tmp_path / "runs"
    write_runs(runs)
    csv = tmp_path / "results.csv"
    drift.load_fresh(run_root=runs, dataset=DATASET, profile=PROFILE).to_csv(csv, index=False)
    b = drift.make_baseline(drift.load_fresh(results=csv), DATASET, PROFILE)
    assert drift.check(drift.load_fresh(run_root=runs, dataset=DATASET, profile=PROFILE), b).exit_code == 0


def test_missing_or_invalid_baseline_exits_2(tmp_path, capsys):
    csv = tmp_path / "results.csv"
    make_table().to_csv(csv, index=False)
    assert drift.run_check(tmp_path / "nope.json", results=csv) == 2
    assert "--update-baseline" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert drift.run_check(bad, results=csv) == 2
    bad.write_text(json.dumps({"schema": "something/else", "entries": []}))
    assert drift.run_check(bad, results=csv) == 2
    assert "schema" in capsys.readouterr().err


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b["entries"][0].pop("value"), "lacks"),
    (lambda b: b["entries"][0].update(abs=-1), "abs"),
    (lambda b: b["entries"].append(dict(b["entries"][0])), "duplicates"),
    (lambda b: b.pop("dataset"), "dataset"),
])
def test_validate_baseline_names_the_problem(baseline, mutate, match):
    mutate(baseline)
    with pytest.raises(UserError, match=match):
        drift.validate_baseline(baseline)


def test_no_results_exits_2(tmp_path, capsys, baseline):
    bpath = drift.write_baseline(tmp_path / "b.json", baseline)
    assert drift.run_check(bpath, run_root=tmp_path / "empty") == 2
    assert "no results.json" in capsys.readouterr().err
    csv = tmp_path / "r.csv"
    make_table(dataset="kth").to_csv(csv, index=False)
    assert drift.run_check(bpath, results=csv) == 2
    assert "kth" in capsys.readouterr().err


def test_update_refuses_non_comparable(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_runs(runs, comparable=False)
    bpath = tmp_path / "baseline.json"
    assert drift.run_update_baseline(bpath, run_root=runs) == 2
    assert "comparable=false" in capsys.readouterr().err
    assert not bpath.exists()


def test_update_keeps_per_entry_bands(tmp_path):
    csv = tmp_path / "results.csv"
    make_table().to_csv(csv, index=False)
    bpath = tmp_path / "baseline.json"
    assert drift.run_update_baseline(bpath, results=csv) == 0
    b = json.loads(bpath.read_text())
    for e in b["entries"]:
        if (e["method"], e["metric"]) == ("copy_last", "psnr_best"):
            e["abs"], e["rel"] = 3.0, 0.25  # hand-edited band
    bpath.write_text(json.dumps(b))

    extra = ("svg_lp", "prediction", "10->10", "ssim_best")
    make_table({**with_value(PSNR, 22.0), extra: 0.8}).to_csv(csv, index=False)
    assert drift.run_update_baseline(bpath, results=csv, abs_tol=0.3, rel_tol=0.0) == 0
    b2 = drift.load_baseline(bpath)
    entries = {tuple(e[k] for k in drift.KEY_FIELDS): e for e in b2["entries"]}
    assert (entries[PSNR]["abs"], entries[PSNR]["rel"], entries[PSNR]["value"]) == (3.0, 0.25, 22.0)
    assert entries[SSIM]["abs"] == 0.02                                  # existing family band kept
    assert (entries[extra]["abs"], entries[extra]["rel"]) == (0.3, 0.0)  # explicit band for new ones
    assert b2["default_band"] == {"abs": 0.3, "rel": 0.0}
    assert drift.run_check(bpath, results=csv) == 0


def test_write_then_load_round_trip(tmp_path, baseline):
    baseline["entries"][0]["abs"] = 7.0
    path = drift.write_baseline(tmp_path / "sub" / "b.json", baseline)
    loaded = drift.load_baseline(path)
    assert loaded["entries"] == baseline["entries"]
    assert loaded["default_band"] == baseline["default_band"]
    assert loaded["metric_bands"]["psnr"] == {"abs": 0.5, "rel": 0.0}
    assert not list(path.parent.glob(".*.tmp*"))  # atomic write leaves no temp file


def test_metrics_with_underscored_names_get_their_class_band_not_the_default():
    """factors_shapes_static's family is "factors", which no class is called: the 1e-3 default band it
    fell back to failed CI on one flipped clip (1/320) across machines."""
    bands = drift.metric_class_bands()
    default = {"abs": drift.DEFAULT_ABS, "rel": drift.DEFAULT_REL}
    assert drift.band_for("factors_shapes_static", bands, default) == {"abs": 0.02, "rel": 0.0}
    assert drift.band_for("diversity_l1", bands, default) == {"abs": 0.02, "rel": 0.0}
    assert drift.band_for("bits_per_dim", bands, default) == {"abs": 0.01, "rel": 0.0}


def test_update_of_an_old_file_gives_new_metrics_their_class_band():
    import pandas as pd

    rows = [{"method": "m", "dataset": DATASET, "task": "prediction", "protocol": "p", "metric": metric,
             "value": 0.5, "profile": PROFILE, "comparable": True}
            for metric in ("psnr_best", "factors_shapes_static")]
    old = {"schema": drift.SCHEMA, "dataset": DATASET, "profile": PROFILE,
           "default_band": {"abs": 1e-3, "rel": 1e-2}, "metric_bands": {"psnr": {"abs": 0.7, "rel": 0.0}},
           "entries": []}
    new = drift.update_baseline(pd.DataFrame(rows), old, DATASET, PROFILE)
    bands = {e["metric"]: (e["abs"], e["rel"]) for e in new["entries"]}
    assert bands == {"psnr_best": (0.7, 0.0), "factors_shapes_static": (0.02, 0.0)}


def test_trained_methods_get_a_wider_band_on_the_cpu_profile_only():
    import pandas as pd

    rows = [{"method": m, "dataset": DATASET, "task": "prediction", "protocol": "p", "metric": "ssim_best",
             "value": 0.5, "profile": prof, "comparable": True}
            for m in ("svg_lp", "copy_last", "vgan@init") for prof in ("cpu", "smoke")]
    for profile, trained in (("cpu", 0.06), ("smoke", 0.02)):
        b = drift.make_baseline(pd.DataFrame(rows), DATASET, profile)
        bands = {e["method"]: e["abs"] for e in b["entries"]}
        assert bands == {"svg_lp": pytest.approx(trained), "copy_last": 0.02, "vgan@init": 0.02}, profile
        assert b["trained_band_scale"] == drift.TRAINED_BAND_SCALE[profile]
