"""Crowd-study statistics against hand-computed values: intervals, Bradley–Terry, agreement, filtering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.crowd.analyze import (analyze, bradley_terry, clopper_pearson_interval, krippendorff_alpha_nominal,
                                     markdown, pairwise_agreement, wilson_interval)


def test_wilson_hand_computed():
    # 8/10: p = .8, z^2 = 3.84146; centre = (.8 + .192073) / 1.384146 = .716740;
    # half = 1.959964 * sqrt(.016 + .0096037) / 1.384146 = .226578
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.490162, abs=2e-6) and hi == pytest.approx(0.943318, abs=2e-6)
    # 0/10: upper = (z^2/n) / (1 + z^2/n)
    z2n = 1.959963984540054 ** 2 / 10
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2n / (1 + z2n)))
    # symmetric: k/n and (n-k)/n mirror each other
    lo2, hi2 = wilson_interval(2, 10)
    assert (lo2, hi2) == pytest.approx((1 - hi, 1 - lo))
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_clopper_pearson_closed_forms():
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n)
    assert clopper_pearson_interval(0, 10) == pytest.approx((0.0, 1 - 0.025 ** 0.1))
    assert clopper_pearson_interval(10, 10) == pytest.approx((0.025 ** 0.1, 1.0))
    # 5/10 (exact binomial tables): [0.187086, 0.812914]
    assert clopper_pearson_interval(5, 10) == pytest.approx((0.187086, 0.812914), abs=1e-6)
    # exact interval is wider than Wilson
    w, c = wilson_interval(7, 20), clopper_pearson_interval(7, 20)
    assert c[0] < w[0] and c[1] > w[1]


def test_bradley_terry_recovers_known_strengths():
    # Counts exactly equal to their expectations under strengths 1 : 2 : 4 (30 games per pair),
    # so the MLE is exactly those strengths: scores = log(1, 2, 4) - mean = log 2 * (-1, 0, 1).
    wins = np.array([[0, 10, 6],
                     [20, 0, 10],
                     [24, 20, 0]])
    fit = bradley_terry(wins)
    assert fit["converged"]
    assert fit["scores"] == pytest.approx([-math.log(2), 0.0, math.log(2)], abs=1e-7)
    assert all(lo < s < hi for s, lo, hi in zip(fit["scores"], fit["ci_low"], fit["ci_high"]))


def test_bradley_terry_two_systems_closed_form():
    # 2 systems: score difference = log(w/l); var(difference) = 1 / (n q (1-q)), each score carries half.
    fit = bradley_terry(np.array([[0, 30], [10, 0]]))
    d = fit["scores"][0] - fit["scores"][1]
    assert d == pytest.approx(math.log(3), abs=1e-8)
    q = 0.75
    assert fit["se"][0] == pytest.approx(0.5 * math.sqrt(1 / (40 * q * (1 - q))), rel=1e-6)


def test_bradley_terry_perfect_separation_is_flagged():
    fit = bradley_terry(np.array([[0, 5], [0, 0]]))
    assert not fit["converged"]
    reg = bradley_terry(np.array([[0, 5], [0, 0]]), prior=0.5)
    assert reg["converged"] and reg["scores"][0] - reg["scores"][1] == pytest.approx(math.log(5.5 / 0.5), abs=1e-6)


def test_krippendorff_alpha_and_pairwise_agreement():
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    # coincidences: (a,a)=2, (a,b)=(b,a)=1; n=4; Do = .5, De = (3*1+1*3)/(4*3) = .5 -> alpha = 0
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "b"]]) == pytest.approx(0.0)
    assert math.isnan(krippendorff_alpha_nominal([["a"], ["b"]]))
    agree, n = pairwise_agreement([["a", "a", "b"], ["b", "b"]])
    assert n == 4 and agree == pytest.approx(2 / 4)


def _study(answers=("left", "right", "same")):
    def v(system, check=None):
        return {"system": system, "clip": 0, "sample": 0, "check": check}

    videos = {"v1": v("real"), "v2": v("m"), "v3": v("real"), "v4": v("m"), "v5": v("real"),
              "v6": v("real", "noise")}
    trials = [
        {"id": "t1", "pair": ["real", "m"], "videos": ["v1", "v2"], "a_left": True, "check": None},
        {"id": "t2", "pair": ["real", "m"], "videos": ["v3", "v4"], "a_left": False, "check": None},
        {"id": "c1", "pair": ["real", "real:noise"], "videos": ["v5", "v6"], "a_left": True, "check": "noise"},
    ]
    return {"name": "s", "hash": "h" * 64, "dataset": "d", "task": "prediction", "question": "Q?",
            "answers": list(answers), "systems": ["real", "m"], "pairs": [["real", "m"]], "trials": trials,
            "videos": videos, "frames": 8, "config": {"fps": 8}}


def _j(rater, trial, answer, source="lab", study=None):
    t = next(t for t in (study or _study())["trials"] if t["id"] == trial)
    left, right = t["videos"] if t["a_left"] else t["videos"][::-1]
    return {"rater_id": rater, "trial_id": trial, "answer": answer, "rater_source": source,
            "left_video": left, "right_video": right}


def test_analyze_filters_raters_counts_ties_and_orientation():
    js = [
        # rater 1 passes the check: prefers real in t1 (left=real) and in t2 (right=real)
        _j(1, "c1", "left"), _j(1, "t1", "left"), _j(1, "t2", "right"),
        # rater 2 passes: prefers m in t1, tie in t2
        _j(2, "c1", "left"), _j(2, "t1", "right"), _j(2, "t2", "same"),
        # rater 3 fails the check (chose the broken video): all of their answers are dropped
        _j(3, "c1", "right"), _j(3, "t1", "right"), _j(3, "t2", "left"),
        # rater 4 did not answer the check every rater could take: incomplete, dropped
        _j(4, "t1", "left"),
    ]
    r = analyze(_study(), js)
    assert {k: r["raters"][k] for k in ("total", "kept", "passed", "failed", "incomplete", "unchecked")} == \
        {"total": 4, "kept": 2, "passed": 2, "failed": 1, "incomplete": 1, "unchecked": 0}
    assert r["raters"]["by_source"] == {"lab": 2}
    (p,) = r["pairs"]
    assert (p["n"], p["ties"], p["n_total"]) == (3, 1, 4)
    assert p["prefer_a"]["k"] == 2 and p["prefer_a"]["rate"] == pytest.approx(2 / 3)
    assert (p["prefer_a"]["ci_low"], p["prefer_a"]["ci_high"]) == pytest.approx(wilson_interval(2, 3))
    assert p["share_ties"]["k"] == 1 and p["share_b"]["k"] == 1
    cells = r["table_002"]["cells"]
    assert cells[0][1]["rate"] == pytest.approx(2 / 3) and cells[1][0]["rate"] == pytest.approx(1 / 3)
    assert cells[0][0] is None
    assert r["bradley_terry"] is None  # two systems: the preference rate says it all
    # a lab rater assigned no check is "unchecked": dropped unless keep_unchecked
    assigned = {1: ["c1", "t1", "t2"], 2: ["c1", "t1", "t2"], 3: ["c1", "t1", "t2"], 4: ["t1"]}
    assert analyze(_study(), js, assigned=assigned)["raters"]["unchecked"] == 1
    kept = analyze(_study(), js, assigned=assigned, keep_unchecked=True)
    assert kept["raters"]["kept"] == 3 and kept["pairs"][0]["n"] == 4
    assert "Vondrick et al. 2016" in markdown(r) and "Walker et al. 2021" in markdown(r)
    cp = analyze(_study(), js, interval="clopper-pearson")
    assert cp["pairs"][0]["prefer_a"]["ci_low"] == pytest.approx(clopper_pearson_interval(2, 3)[0])


def test_analyze_reads_the_side_each_rater_saw():
    """The same trial shown the other way round to another rater: the chosen *video* decides."""
    study = _study()
    flipped = {**_j(5, "t1", "right"), "left_video": "v2", "right_video": "v1"}  # real on the right: real wins
    r = analyze(study, [_j(5, "c1", "left"), flipped])
    assert r["pairs"][0]["prefer_a"]["k"] == 1  # real (a) preferred
    check_flipped = {**_j(6, "c1", "right"), "left_video": "v6", "right_video": "v5"}
    assert analyze(study, [check_flipped])["rater_details"][0]["checks_correct"] == 1


def test_analyze_fits_bradley_terry_for_three_systems():
    study = _study(("left", "right"))
    study["systems"] = ["real", "m", "n"]
    study["pairs"] = [["real", "m"], ["real", "n"], ["m", "n"]]
    study["videos"].update({"a": {"system": "real", "check": None}, "b": {"system": "n", "check": None},
                            "c": {"system": "m", "check": None}, "d": {"system": "n", "check": None}})
    study["trials"] += [
        {"id": "t3", "pair": ["real", "n"], "videos": ["a", "b"], "a_left": True, "check": None},
        {"id": "t4", "pair": ["m", "n"], "videos": ["c", "d"], "a_left": False, "check": None},
    ]
    js = []
    for rater in range(1, 7):
        js += [_j(rater, "c1", "left", study=study), _j(rater, "t1", "left" if rater <= 4 else "right", study=study),
               _j(rater, "t2", "right" if rater <= 4 else "left", study=study),
               _j(rater, "t3", "left" if rater <= 5 else "right", study=study),
               _j(rater, "t4", "right" if rater <= 3 else "left", study=study)]
    r = analyze(study, js)
    bt = r["bradley_terry"]
    assert bt["converged"] and bt["systems"] == ["real", "m", "n"]
    assert bt["scores"][0] > bt["scores"][1] and bt["scores"][0] > bt["scores"][2]
    assert sum(bt["scores"]) == pytest.approx(0.0, abs=1e-9)
    assert r["agreement"]["items_with_2plus"] == 4
