"""Issue 13, item 5: who counts as a rater — every assigned check answered, answers no faster than
one play of the clip, no always-the-same-side raters, a validated threshold, and the chance that
random clicking passes the configured checks. (The page's one-full-play rule: test_rater_page.py.)"""

from __future__ import annotations

import math

import pytest

from benchmark.crowd.analyze import analyze, markdown
from benchmark.utils import UserError

CHECKS = ("c1", "c2", "c3", "c4")


def _study(answers=("left", "right")) -> dict:
    """Real vs method ``m``: 6 regular trials, 4 checks; 8 frames at 8 fps (one play = 1 s).

    Trials carry both the design's fields and the shown order (``left``/``right``/``expected``) so
    the same study works with the analysis before and after per-rater sides.
    """
    videos, trials = {}, []
    for i in range(6):
        videos[f"r{i}"] = {"system": "real", "check": None}
        videos[f"m{i}"] = {"system": "m", "check": None}
        a_left = i % 2 == 0
        left, right = (f"r{i}", f"m{i}") if a_left else (f"m{i}", f"r{i}")
        trials.append({"id": f"t{i}", "pair": ["real", "m"], "videos": [f"r{i}", f"m{i}"], "a_left": a_left,
                       "left": left, "right": right, "left_system": "real" if a_left else "m", "check": None})
    for i, c in enumerate(CHECKS):
        videos[f"{c}r"] = {"system": "real", "check": None}
        videos[f"{c}x"] = {"system": "real", "check": "noise"}
        a_left = i % 2 == 0
        left, right = (f"{c}r", f"{c}x") if a_left else (f"{c}x", f"{c}r")
        trials.append({"id": c, "pair": ["real", "real:noise"], "videos": [f"{c}r", f"{c}x"], "a_left": a_left,
                       "left": left, "right": right, "left_system": "real" if a_left else "real:noise",
                       "check": "noise", "expected": "left" if a_left else "right"})
    return {"name": "q", "hash": "h" * 64, "dataset": "d", "task": "prediction", "question": "Q?",
            "answers": list(answers), "systems": ["real", "m"], "pairs": [["real", "m"]], "trials": trials,
            "videos": videos, "frames": 8, "config": {"fps": 8}}


def _j(study: dict, rater: int, trial: str, answer: str, seconds: float = 5.0, source: str = "lab") -> dict:
    t = next(t for t in study["trials"] if t["id"] == trial)
    return {"rater_id": rater, "trial_id": trial, "answer": answer, "rater_source": source, "source": source,
            "left_video": t["left"], "right_video": t["right"], "served_at": 1000.0,
            "answered_at": 1000.0 + seconds, "client_ms": seconds * 1000}


def _right(study: dict, trial: str) -> str:
    """The correct answer of a check (the side of the intact clip)."""
    return next(t for t in study["trials"] if t["id"] == trial)["expected"]


def _rater(study: dict, rater: int, checks=CHECKS, regular="alternate", seconds: float = 5.0) -> list[dict]:
    js = [_j(study, rater, c, _right(study, c), seconds) for c in checks]
    for i in range(6):
        answer = regular if regular in ("left", "right") else ("left", "right")[i % 2]
        js.append(_j(study, rater, f"t{i}", answer, seconds))
    return js


def test_a_rater_must_answer_every_assigned_check():
    """Today one correct check out of four assigned counts as passed."""
    study = _study()
    js = _rater(study, 1) + _rater(study, 2, checks=CHECKS[:1])  # rater 2 skipped three checks
    r = analyze(study, js)
    status = {row["rater"]: row["status"] for row in r["rater_details"]}
    assert status == {1: "passed", 2: "incomplete"}
    assert r["raters"]["kept"] == 1 and r["judgements"]["used"] == 6
    # a stated minimum instead of "all": one answered check is then enough
    assert analyze(study, js, min_checks=1)["raters"]["kept"] == 2
    # lab raters are held to the checks they were assigned (from the database)
    assigned = {1: list(CHECKS) + [f"t{i}" for i in range(6)], 2: ["c1"] + [f"t{i}" for i in range(6)]}
    assert analyze(study, js, assigned=assigned)["raters"]["kept"] == 2


def test_answers_faster_than_one_play_are_flagged_from_server_times():
    study = _study()
    js = _rater(study, 1) + _rater(study, 2, seconds=0.4)  # one play lasts 8 / 8 fps = 1 s
    r = analyze(study, js)
    fast = {row["rater"]: row.get("fast") for row in r["rater_details"]}
    assert fast == {1: 0, 2: 10} and r["judgements"]["fast"] == 10
    assert "faster than one play" in markdown(r)
    dropped = analyze(study, js, drop_fast=True)
    assert dropped["judgements"]["used"] == 6  # rater 2's six regular answers are left out


def test_raters_who_always_pick_one_side_are_flagged_and_dropped():
    """All checks with the intact clip on the left: an always-left rater 'passes' them."""
    study = _study()
    for t in study["trials"]:
        if t["check"]:
            t["a_left"], t["left"], t["right"], t["expected"] = True, t["videos"][0], t["videos"][1], "left"
            t["left_system"] = "real"
    js = _rater(study, 1) + _rater(study, 2, regular="left")
    r = analyze(study, js)
    rows = {row["rater"]: row for row in r["rater_details"]}
    assert rows[2]["status"] == "one-sided" and rows[2]["one_sided"] and not rows[1]["one_sided"]
    assert r["raters"]["kept"] == 1 and r["raters"]["one_sided"] == 1


@pytest.mark.parametrize("bad", [math.nan, -0.1, 1.5, "0.75", None])
def test_the_check_threshold_is_validated(bad):
    with pytest.raises(UserError, match="0..1"):
        analyze(_study(), _rater(_study(), 1), min_check_accuracy=bad)


def test_cli_refuses_a_nan_threshold(tmp_path, capsys):
    from benchmark.cli import main

    assert main(["crowd", "analyze", str(tmp_path), "--min-check-accuracy", "nan"]) == 2
    assert "0..1" in capsys.readouterr().err


def test_the_chance_that_random_clicking_passes_is_reported():
    from benchmark.crowd.analyze import chance_pass_probability

    # 4 checks, >= 75% right: 3 or 4 of 4. Two answers: (4 + 1) / 16. Three answers (a random
    # "no preference" is a miss): 4 (1/3)^3 (2/3) + (1/3)^4 = 9/81.
    assert chance_pass_probability(4, 4, 0.75, 2) == pytest.approx(5 / 16)
    assert chance_pass_probability(4, 4, 0.75, 3) == pytest.approx(1 / 9)
    assert chance_pass_probability(0, 0, 0.75, 2) == 1.0
    r = analyze(_study(), _rater(_study(), 1))
    assert r["checks"] == {"per_rater": 4, "required": 4, "chance_pass": pytest.approx(5 / 16)}
    assert "random passes with probability 31.2%" in markdown(r)
