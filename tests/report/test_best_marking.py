"""Which leaderboard cell is "best": exactly one per column (all of them on a tie), none with fewer
than two competing rows, min for lower-is-better columns, closest to the real-data value for scores
bounded by real data (FCS, MCS, IS), and only among rows with the table's protocol and metric
settings, comparable weights and a profile that compares (smoke rows are a pipeline check)."""

from __future__ import annotations

import pytest

from benchmark.metrics import facts
from benchmark.report.runs import Run
from benchmark.report.views import Assets, build_section
from benchmark.results import REAL

PROTOCOL = {"name": "synthesis-16", "task": "synthesis", "split": "test", "context_frames": 0,
            "future_frames": 16, "resolution": [32, 32], "channels": 3, "num_videos": 64}
SETTINGS = {"fvd": {"extractor": "i3d_400", "resize": 224}, "psnr": {"data_range": 1.0},
            "fcs": {"window": 11}}


def run(method, values, profile="cpu", comparable=True, settings=None, protocol=None, nc_metrics=()):
    metrics = {}
    for name, v in values.items():
        mv = {"value": v, "ci_low": None, "ci_high": None, "n": 64}
        if name in nc_metrics:
            mv["extra"] = {"comparable": False}
        metrics[name] = mv
    task = {"protocol": {**PROTOCOL, **(protocol or {})}, "metrics": metrics,
            "metric_protocols": {**SETTINGS, **(settings or {})}, "samples": None, "gallery": None}
    data = {"method": method, "dataset": "moving-shapes", "profile": "data" if method == REAL else profile,
            "seeds": [0], "comparable": comparable, "tasks": {"synthesis": task}}
    return Run(path=None, data=data, slug=f"{method}-{profile}"), task  # type: ignore[arg-type]


def best(tmp_path, *members):
    """``{metric: [row labels marked best]}`` of one section built from ``members``."""
    members = list(members)
    s = build_section("synthesis", "synthesis-16", members, Assets(tmp_path),
                      {r.slug: {} for r, _ in members})
    names = [m["name"] for m in s["metrics"]]
    return {m: sorted(row["method"] for row in s["rows"] if row["cells"][j]["best"]) for j, m in enumerate(names)}


def test_exactly_one_best_per_column_by_direction(tmp_path):
    b = best(tmp_path, run("a", {"psnr_best": 20.0, "fvd": 300.0}), run("b", {"psnr_best": 25.0, "fvd": 350.0}),
             run("c", {"psnr_best": 22.0, "fvd": 200.0}))
    assert b == {"psnr_best": ["b"], "fvd": ["c"]}  # higher-is-better max, lower-is-better min


def test_lower_is_better_column_marks_the_minimum(tmp_path):
    b = best(tmp_path, run("a", {"fvd": 100.0}), run("b", {"fvd": 900.0}))
    assert b["fvd"] == ["a"]


def test_ties_mark_every_tied_row_and_nothing_else(tmp_path):
    b = best(tmp_path, run("a", {"psnr_best": 25.0}), run("b", {"psnr_best": 25.0}),
             run("c", {"psnr_best": 24.0}))
    assert b["psnr_best"] == ["a", "b"]


def test_no_best_with_fewer_than_two_comparable_rows(tmp_path):
    b = best(tmp_path, run("a", {"psnr_best": 20.0, "fvd": 300.0}),
             run("b", {"psnr_best": 25.0, "fvd": 100.0}, comparable=False),
             run("c", {"psnr_best": 30.0, "fvd": 50.0}, nc_metrics=("psnr_best", "fvd")),
             run(REAL, {"fvd": 10.0}))
    assert b == {"psnr_best": [], "fvd": []}
    assert best(tmp_path, run("a", {"psnr_best": 20.0})) == {"psnr_best": []}


def test_rows_with_other_metric_settings_do_not_compete(tmp_path):
    b = best(tmp_path, run("a", {"fvd": 300.0, "psnr_best": 20.0}), run("b", {"fvd": 250.0, "psnr_best": 21.0}),
             run("c", {"fvd": 10.0, "psnr_best": 22.0}, settings={"fvd": {"extractor": "i3d_400", "resize": 112}}))
    # c's FVD was made with another resize: not ranked; its PSNR settings are the table's: ranked
    assert b == {"fvd": ["b"], "psnr_best": ["c"]}


def test_sample_counts_are_not_settings(tmp_path):
    b = best(tmp_path, run("a", {"fvd": 300.0}, settings={"fvd": {**SETTINGS["fvd"], "n_fake": 64}}),
             run("b", {"fvd": 250.0}, settings={"fvd": {**SETTINGS["fvd"], "n_fake": 60}}))
    assert b["fvd"] == ["b"]


def test_rows_with_another_protocol_do_not_compete(tmp_path):
    b = best(tmp_path, run("a", {"psnr_best": 20.0}), run("b", {"psnr_best": 21.0}),
             run("c", {"psnr_best": 30.0}, protocol={"num_videos": 8}))
    assert b["psnr_best"] == ["b"]


def test_bounded_score_best_is_closest_to_real(tmp_path):
    """A blank grey video has FCS 1.0; real clips score 0.78: the row nearest 0.78 is best."""
    grey, near, far = run("grey", {"fcs": 1.0}), run("near", {"fcs": 0.74}), run("far", {"fcs": 0.5})
    assert best(tmp_path, grey, near, far, run(REAL, {"fcs": 0.78}))["fcs"] == ["near"]
    assert best(tmp_path, grey, near, far)["fcs"] == []  # no real-data value: no target, no best
    assert best(tmp_path, grey, near, far, run(REAL, {"fcs": 0.78}, nc_metrics=("fcs",)))["fcs"] == []


@pytest.mark.parametrize("metric", ["fcs", "mcs", "is_frame", "is_video"])
def test_scores_bounded_by_real_data_use_the_closest_rule(metric):
    assert facts.best_rule(metric) == "closest_to_real"


@pytest.mark.parametrize("metric", ["psnr_best", "ssim_mean", "lpips_best", "fvd"])
def test_other_scores_use_their_direction(metric):
    assert facts.best_rule(metric) == "direction"


def test_smoke_rows_get_no_best_and_a_banner(tmp_path):
    members = [run("a", {"psnr_best": 20.0}, profile="smoke"), run("b", {"psnr_best": 25.0}, profile="smoke")]
    s = build_section("synthesis", "synthesis-16", members, Assets(tmp_path), {r.slug: {} for r, _ in members})
    assert not any(c["best"] for row in s["rows"] for c in row["cells"])
    assert sorted(s["smoke_rows"]) == ["a", "b"]
    # beside two rows that compare, the smoke row (best raw number) is not ranked
    assert best(tmp_path, run("a", {"psnr_best": 20.0}), run("b", {"psnr_best": 21.0}),
                run("s", {"psnr_best": 40.0}, profile="smoke"))["psnr_best"] == ["b"]


def test_smoke_banner_on_the_page(tmp_path, monkeypatch):
    from benchmark.report import render_report

    try:
        import tests.report_fixtures as fx
    except ImportError:
        import report_fixtures as fx
    monkeypatch.setattr(fx, "PROFILE", "smoke")
    fx.build_run_root(tmp_path / "runs")
    page = render_report(fx.DATASET, tmp_path / "runs", tmp_path / "out").read_text()
    assert "Pipeline check, not a comparison." in page and "pipeline check</span>" in page
    assert 'class="num best' not in page


def test_a_metric_whose_rule_is_none_never_has_a_best():
    from benchmark.report.views import best_indices

    assert best_indices("diversity_l1", True, [0.1, 0.3, 0.2], real=[0.2]) == []
    assert best_indices("diversity", True, [0.1, 0.3]) == []
    assert best_indices("psnr_best", True, [0.1, 0.3]) == [1]  # a direction metric still has one


def test_an_untrained_reference_row_never_ranks_even_with_the_best_number(tmp_path):
    ref, task = run("a@init", {"fvd": 50.0})
    ref.data.update(reference="untrained", base_method="a")
    b = best(tmp_path, (ref, task), run("a", {"fvd": 100.0}), run("b", {"fvd": 900.0}))
    assert b["fvd"] == ["a"]
    assert ref.label() == "a (untrained)"


def test_a_deterministic_row_shares_the_protocol_of_best_of_k_rows(tmp_path):
    """A deterministic method samples once per context (its k samples would be copies): the run's
    ``samples_per_context_used`` 1 is how it sampled, not another protocol, so it competes."""
    k5 = {"samples_per_context": 5, "samples_per_context_used": 5}
    members = [run("sto", {"ssim_best": 0.78}, protocol=k5), run("sto2", {"ssim_best": 0.77}, protocol=k5),
               run("det", {"ssim_best": 0.80}, protocol={**k5, "samples_per_context_used": 1})]
    assert best(tmp_path, *members)["ssim_best"] == ["det"]
    s = build_section("synthesis", "synthesis-16", members, Assets(tmp_path), {r.slug: {} for r, _ in members})
    assert all(row["protocol_diff"] == [] for row in s["rows"])
    # a protocol field that is compared still separates rows
    assert best(tmp_path, *members[:2], run("other", {"ssim_best": 0.9}, protocol={**k5, "samples_per_context": 3}))[
        "ssim_best"] == ["sto"]


def test_a_prediction_no_better_than_copy_last_on_the_frechet_distance_is_not_ranked(tmp_path):
    """Deleting the objects can win a per-frame score (SSIM on a flat background) while the clips look
    less like video than the trivial copy: such a row competes on no column."""
    members = [run("copy_last", {"ssim_best": 0.76, "fvd": 185.0}),
               run("fader", {"ssim_best": 0.801, "fvd": 256.0}),
               run("tie", {"ssim_best": 0.762, "fvd": 185.0}),
               run("mover", {"ssim_best": 0.79, "fvd": 90.0})]
    assert best(tmp_path, *members) == {"ssim_best": ["mover"], "fvd": ["mover"]}
    s = build_section("synthesis", "synthesis-16", members, Assets(tmp_path), {r.slug: {} for r, _ in members})
    rows = {row["method"]: row for row in s["rows"]}
    assert "no better than copy_last on fvd (256 vs 185)" in rows["fader"]["below_trivial"]
    assert "not ranked: no better than copy_last" in rows["fader"]["cells"][0]["title"]
    assert "below_trivial" in rows["tie"] and "below_trivial" not in rows["copy_last"]
    # the trivial copy itself competes
    assert best(tmp_path, run("copy_last", {"ssim_best": 0.9, "fvd": 185.0}), *members[1:])["ssim_best"] == ["copy_last"]


def test_no_gate_without_a_comparable_copy_last_value(tmp_path):
    fader, mover = run("fader", {"ssim_best": 0.801, "fvd": 256.0}), run("mover", {"ssim_best": 0.79, "fvd": 90.0})
    assert best(tmp_path, fader, mover)["ssim_best"] == ["fader"]            # no copy_last row
    copy_nc = run("copy_last", {"ssim_best": 0.76, "fvd": 185.0}, nc_metrics=("fvd",))
    assert best(tmp_path, copy_nc, fader, mover)["ssim_best"] == ["fader"]   # its FVD has random weights
    copy_ref, task = run("copy_last", {"ssim_best": 0.76, "fvd": 185.0})
    copy_ref.data.update(reference="untrained", base_method="copy_last")
    assert best(tmp_path, (copy_ref, task), fader, mover)["ssim_best"] == ["fader"]  # a reference row is no gate
