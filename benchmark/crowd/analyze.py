"""Aggregate a study's judgements: attention-check filtering, preference rates with 95% intervals,
ties, Bradley–Terry scores, rater agreement, and the tables of Vondrick et al. 2016 and Walker et al. 2021 Table 1.

>>> wilson_interval(8, 10)  # doctest: +ELLIPSIS
(0.49016..., 0.94331...)
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.crowd import ANALYSIS_SCHEMA
from benchmark.utils import UserError, write_json_atomic, write_text_atomic

Z95 = 1.959963984540054


# ------------------------------------------------------------------------------ intervals ---

def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` (``(nan, nan)`` when ``n == 0``)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def clopper_pearson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of ``k / n`` from Beta quantiles."""
    if n <= 0:
        return (math.nan, math.nan)
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)


INTERVALS = {"wilson": wilson_interval, "clopper-pearson": clopper_pearson_interval}


def proportion(k: int, n: int, method: str = "wilson") -> dict[str, Any]:
    lo, hi = INTERVALS[method](k, n)
    return {"k": int(k), "n": int(n), "rate": (k / n) if n else math.nan, "ci_low": lo, "ci_high": hi}


# ------------------------------------------------------------------------- Bradley–Terry ---

def bradley_terry(wins: np.ndarray, prior: float = 0.0, max_iter: int = 10000,
                  tol: float = 1e-10) -> dict[str, Any]:
    """Maximum-likelihood Bradley–Terry strengths from a win matrix (``wins[i, j]`` = i beat j).

    P(i beats j) = p_i / (p_i + p_j). Fitted with the MM algorithm (Hunter, 2004); ``prior`` adds
    that many pseudo-wins each way to every compared pair (needed when a system wins or loses all
    its comparisons, where the MLE does not exist). Scores are log-strengths centred to mean 0;
    standard errors come from the inverse Fisher information under that constraint.

    Returns:
        ``{"scores", "se", "ci_low", "ci_high", "iterations", "converged", "prior"}`` (lists).

    >>> w = np.array([[0, 2], [1, 0]])
    >>> round(bradley_terry(w)["scores"][0] - bradley_terry(w)["scores"][1], 6) == round(math.log(2), 6)
    True
    """
    w = np.asarray(wins, dtype=float).copy()
    m = w.shape[0]
    games = w + w.T
    if prior:
        w = w + prior * (games > 0)
        games = w + w.T
    total_wins = w.sum(1)
    p = np.ones(m)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        denom = (games / (p[:, None] + p[None, :])).sum(1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1), p)
        new = np.maximum(new, 1e-300)
        new /= np.exp(np.mean(np.log(new)))
        delta = np.max(np.abs(np.log(new) - np.log(p)))
        p = new
        if delta < tol:
            converged = True
            break
    s = np.log(p)
    s -= s.mean()
    # Fisher information of the log-strengths: I_ii = sum_j n_ij q_ij (1-q_ij), I_ij = -n_ij q_ij (1-q_ij).
    q = p[:, None] / (p[:, None] + p[None, :])
    v = games * q * (1 - q)
    info = np.diag(v.sum(1)) - v
    cov = np.linalg.pinv(info)  # the pseudo-inverse is the covariance under sum(s) = 0
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    finite = converged and np.all(np.isfinite(se)) and np.all(total_wins > 0) and np.all(total_wins < games.sum(1))
    return {"scores": s.tolist(), "se": se.tolist(), "ci_low": (s - Z95 * se).tolist(),
            "ci_high": (s + Z95 * se).tolist(), "iterations": it, "converged": bool(finite), "prior": prior}


# ----------------------------------------------------------------------------- agreement ---

def krippendorff_alpha_nominal(units: list[list[str]]) -> float:
    """Krippendorff's alpha for nominal labels; ``units`` = the labels each item received.

    Items with fewer than two labels carry no information and are ignored. 1 = perfect agreement,
    0 = agreement at chance level. NaN when there is nothing to compare or no variation at all.
    """
    coincidence: Counter[tuple[str, str]] = Counter()
    for labels in units:
        mu = len(labels)
        if mu < 2:
            continue
        counts = Counter(labels)
        for a in counts:
            for b in counts:
                pairs = counts[a] * (counts[b] - (a == b))
                if pairs:
                    coincidence[(a, b)] += pairs / (mu - 1)
    n = sum(coincidence.values())
    if n <= 1:
        return math.nan
    marg: Counter[str] = Counter()
    for (a, _), c in coincidence.items():
        marg[a] += c
    observed = sum(c for (a, b), c in coincidence.items() if a != b) / n
    expected = sum(marg[a] * marg[b] for a in marg for b in marg if a != b) / (n * (n - 1))
    if expected == 0:
        return math.nan
    return 1 - observed / expected


def pairwise_agreement(units: list[list[str]]) -> tuple[float, int]:
    """Fraction of agreeing pairs of labels among raters of the same item, and the number of pairs."""
    agree = total = 0
    for labels in units:
        counts = Counter(labels)
        mu = len(labels)
        total += mu * (mu - 1) // 2
        agree += sum(c * (c - 1) // 2 for c in counts.values())
    return (agree / total if total else math.nan), total


# ------------------------------------------------------------------------------ analysis ---

ONE_SIDED_MIN = 5  # a rater whose >= this many left/right answers are all on one side is flagged


def chance_pass_probability(checks: int, required: int, min_accuracy: float, answers: int) -> float:
    """How often a rater who clicks at random passes: P(Binomial(checks, 1/answers) >= needed correct).

    The random clicker answers all ``checks`` (so ``required`` <= ``checks`` is met) and needs
    ``ceil(min_accuracy * checks)`` of them right; with no checks everyone passes.
    """
    if checks <= 0:
        return 1.0
    if required > checks:
        return 0.0
    need = math.ceil(min_accuracy * checks - 1e-9)
    p = 1.0 / answers
    return float(sum(math.comb(checks, k) * p ** k * (1 - p) ** (checks - k) for k in range(need, checks + 1)))


def _validate_options(interval: str, min_check_accuracy: Any, min_checks: Any) -> None:
    if interval not in INTERVALS:
        raise UserError(f"interval must be one of {sorted(INTERVALS)}")
    if (not isinstance(min_check_accuracy, (int, float)) or isinstance(min_check_accuracy, bool)
            or not 0 <= min_check_accuracy <= 1):  # also refuses NaN
        raise UserError(f"the minimum attention-check accuracy must be a number in 0..1, got {min_check_accuracy!r}")
    if min_checks is not None and (not isinstance(min_checks, int) or isinstance(min_checks, bool) or min_checks < 0):
        raise UserError(f"the minimum number of answered checks must be an integer >= 0, got {min_checks!r}")


def analyze(study: dict[str, Any], judgements: list[dict[str, Any]], *, interval: str = "wilson",
            min_check_accuracy: float = 0.75, keep_unchecked: bool = False,
            assigned: dict[int, list[str]] | None = None, min_checks: int | None = None,
            drop_fast: bool = False, skips: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the study's tables need, from its judgement rows (as :meth:`JudgementDB.judgements`).

    Each row names the two study videos in the order shown (``left_video``, ``right_video``), so
    the chosen system is read from the study's video table, whatever side each rater saw it on.

    A rater *passes* when they answered every attention check assigned to them (``assigned``:
    rater id -> trial ids, from the database for lab raters; a platform worker could take every
    task, so all of the study's checks count) — or at least ``min_checks`` of them — and chose
    the real clip in at least ``min_check_accuracy`` of those answered ("no preference" counts as
    a miss). Otherwise the status is ``incomplete`` or ``failed``; a rater with no checks assigned
    is ``unchecked`` (dropped unless ``keep_unchecked``). A rater whose answers (at least
    ONE_SIDED_MIN of left/right) all pick one side is ``one-sided`` and dropped. Answers faster than
    one full play of the clip (server time from showing the pair to storing the answer; a
    platform's work time for imports) are flagged, and left out with ``drop_fast``. Preference rates
    exclude ties, which are reported separately (as counts and as a share of all judgements of the pair).
    """
    _validate_options(interval, min_check_accuracy, min_checks)
    trials = {t["id"]: t for t in study["trials"]}
    videos = study["videos"]
    systems = list(study["systems"])
    loop_s = study["frames"] / study["config"]["fps"]
    study_checks = [t["id"] for t in study["trials"] if t["check"]]
    by_rater: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for j in judgements:
        if j["trial_id"] in trials and j["left_video"] in videos and j["right_video"] in videos:
            by_rater[j["rater_id"]].append(j)

    def chosen(j: dict[str, Any]) -> dict[str, Any] | None:
        if j["answer"] == "left":
            return videos[j["left_video"]]
        if j["answer"] == "right":
            return videos[j["right_video"]]
        return None

    def elapsed(j: dict[str, Any]) -> float | None:
        if j.get("served_at") is not None and j.get("answered_at") is not None:
            return j["answered_at"] - j["served_at"]
        if j.get("source", "lab") != "lab" and j.get("client_ms") is not None:
            return j["client_ms"] / 1000
        return None

    def is_fast(j: dict[str, Any]) -> bool:
        e = elapsed(j)
        return e is not None and e < loop_s

    skipped = Counter(s["rater_id"] for s in skips or [])
    rater_rows = []
    kept: set[int] = set()
    for rid, js in sorted(by_rater.items()):
        source = js[0].get("rater_source", "")
        if assigned is not None and rid in assigned:
            n_assigned = sum(1 for t in assigned[rid] if t in trials and trials[t]["check"])
        else:
            n_assigned = len(study_checks)
        checks = [j for j in js if trials[j["trial_id"]]["check"]]
        correct = sum(1 for j in checks if (c := chosen(j)) is not None and c["check"] is None)
        acc = correct / len(checks) if checks else math.nan
        required = n_assigned if min_checks is None else min(min_checks, n_assigned)
        sides = Counter(j["answer"] for j in js if j["answer"] in ("left", "right"))
        decided = sides["left"] + sides["right"]
        one_sided = decided >= ONE_SIDED_MIN and min(sides["left"], sides["right"]) == 0
        fast = sum(1 for j in js if is_fast(j))
        if n_assigned == 0:
            status = "unchecked"
        elif len(checks) < required:
            status = "incomplete"
        elif not checks or acc < min_check_accuracy - 1e-12:
            status = "failed"
        else:
            status = "passed"
        if one_sided and status in ("passed", "unchecked"):
            status = "one-sided"
        if status == "passed" or (status == "unchecked" and keep_unchecked):
            kept.add(rid)
        rater_rows.append({"rater": rid, "source": source, "judgements": len(js), "checks_assigned": n_assigned,
                           "checks": len(checks), "checks_correct": correct, "check_accuracy": acc,
                           "left": sides["left"], "right": sides["right"], "one_sided": one_sided,
                           "fast": fast, "skipped": skipped.get(rid, 0),
                           "revoked": js[0].get("rater_revoked") is not None, "status": status})
    status_counts = Counter(r["status"] for r in rater_rows)
    used = [j for rid in sorted(kept) for j in by_rater[rid]
            if not trials[j["trial_id"]]["check"] and not (drop_fast and is_fast(j))]

    index = {s: i for i, s in enumerate(systems)}
    wins = np.zeros((len(systems), len(systems)), dtype=int)
    ties = np.zeros_like(wins)
    for j in used:
        a, b = trials[j["trial_id"]]["pair"]
        c = chosen(j)
        if c is None:
            ties[index[a], index[b]] += 1
            ties[index[b], index[a]] += 1
        else:
            w = c["system"]
            loser = b if w == a else a
            wins[index[w], index[loser]] += 1

    pairs = []
    for a, b in study["pairs"]:
        i, k = index[a], index[b]
        n_dec = int(wins[i, k] + wins[k, i])
        n_all = n_dec + int(ties[i, k])
        pairs.append({"a": a, "b": b, "n": n_dec, "n_total": n_all, "ties": int(ties[i, k]),
                      "prefer_a": proportion(int(wins[i, k]), n_dec, interval),
                      "share_a": proportion(int(wins[i, k]), n_all, interval),
                      "share_b": proportion(int(wins[k, i]), n_all, interval),
                      "share_ties": proportion(int(ties[i, k]), n_all, interval)})

    # Vondrick et al. 2016 Table 1: % of trials preferring the row system over the column system.
    matrix = []
    for a in systems:
        row = []
        for b in systems:
            i, k = index[a], index[b]
            n_dec = int(wins[i, k] + wins[k, i])
            row.append(None if a == b or n_dec + ties[i, k] == 0 else
                       {**proportion(int(wins[i, k]), n_dec, interval), "ties": int(ties[i, k])})
        matrix.append(row)

    bt = None
    if len(systems) > 2:
        compared = wins + wins.T
        if (compared > 0).sum() == 0:
            bt = {"error": "no decided comparisons"}
        else:
            fit = bradley_terry(wins)
            if not fit["converged"]:
                fit = bradley_terry(wins, prior=0.5)
                fit["note"] = ("MLE does not exist (a system won or lost all its comparisons); "
                               "fitted with 0.5 pseudo-wins each way per compared pair")
            bt = {"systems": systems, **fit}

    units: dict[str, list[str]] = defaultdict(list)
    for j in used:
        units[j["trial_id"]].append(j["answer"])
    unit_lists = list(units.values())
    alpha = krippendorff_alpha_nominal(unit_lists)
    agree, n_pairs = pairwise_agreement(unit_lists)

    check_js = [j for js in by_rater.values() for j in js if trials[j["trial_id"]]["check"]]
    all_js = [j for js in by_rater.values() for j in js]
    required = len(study_checks) if min_checks is None else min(min_checks, len(study_checks))
    return {
        "schema": ANALYSIS_SCHEMA, "study": study["name"], "study_hash": study["hash"],
        "dataset": study["dataset"], "task": study["task"], "question": study["question"],
        "answers": study["answers"], "systems": systems, "interval": interval, "confidence": 0.95,
        "filter": {"min_check_accuracy": min_check_accuracy, "keep_unchecked": keep_unchecked,
                   "min_checks": min_checks, "drop_fast": drop_fast, "one_sided_min": ONE_SIDED_MIN,
                   "loop_seconds": loop_s},
        "checks": {"per_rater": len(study_checks), "required": required,
                   "chance_pass": chance_pass_probability(len(study_checks), required, min_check_accuracy,
                                                          len(study["answers"]))},
        "raters": {"total": len(rater_rows), "kept": len(kept), "passed": status_counts.get("passed", 0),
                   "failed": status_counts.get("failed", 0), "incomplete": status_counts.get("incomplete", 0),
                   "one_sided": status_counts.get("one-sided", 0), "unchecked": status_counts.get("unchecked", 0),
                   "with_fast_answers": sum(1 for r in rater_rows if r["fast"]),
                   "revoked": sum(1 for r in rater_rows if r["revoked"]),
                   "by_source": dict(Counter(r["source"] for r in rater_rows if r["rater"] in kept))},
        "judgements": {"total": len(all_js), "used": len(used), "checks": len(check_js),
                       "checks_correct": sum(1 for j in check_js if (c := chosen(j)) is not None and c["check"] is None),
                       "fast": sum(1 for j in all_js if is_fast(j)), "skipped": len(skips or [])},
        "pairs": pairs,
        "table_002": {"rows": systems, "cols": systems, "cells": matrix},
        "bradley_terry": bt,
        "agreement": {"krippendorff_alpha": alpha, "pairwise": agree, "label_pairs": n_pairs,
                      "items_with_2plus": sum(1 for u in unit_lists if len(u) >= 2)},
        "rater_details": rater_rows,
    }


# ---------------------------------------------------------------------------- formatting ---

def _f3(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) and math.isfinite(x) else "—"


def _pct(p: dict[str, Any] | None) -> str:
    if not p or not p["n"] or p["rate"] is None:
        return "—"
    return f"{100 * p['rate']:.1f}% [{100 * p['ci_low']:.1f}, {100 * p['ci_high']:.1f}] (n={p['n']})"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown table content: HTML escaped, Markdown punctuation backslashed, one line."""
    s = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def markdown(result: dict[str, Any]) -> str:
    """The tables as Markdown (Vondrick et al. 2016 Table 1, Walker et al. 2021 Table 1, Bradley–Terry, raters).

    Names and the question come from users (run folders, options): they are escaped.
    """
    r = result
    e = md_escape
    rs = r["raters"]
    lines = [f"# Human study {e(r['study'])} — {e(r['dataset'])} {e(r['task'])}", "",
             f"study hash `{r['study_hash']}` · question: “{e(r['question'])}” · answers: "
             f"{', '.join(e(a) for a in r['answers'])}",
             f"raters: {rs['kept']} kept of {rs['total']} ({rs['failed']} failed attention checks, "
             f"{rs.get('incomplete', 0)} did not answer enough checks, {rs.get('one_sided', 0)} always picked one "
             f"side, {rs['unchecked']} without checks) · judgements used: "
             f"{r['judgements']['used']} · 95% {r['interval']} intervals"]
    ch = r.get("checks")
    if ch:
        rule = "all" if ch["required"] == ch["per_rater"] else f"at least {ch['required']}"
        lines.append(f"attention checks: {ch['per_rater']} per rater; a rater must answer {rule} and choose the "
                     f"intact clip in ≥ {100 * r['filter']['min_check_accuracy']:.0f}% of them · a rater clicking "
                     f"at random passes with probability {100 * ch['chance_pass']:.1f}%")
    if r["judgements"].get("fast"):
        lines.append(f"{r['judgements']['fast']} answers came faster than one play of the clip "
                     f"({r['filter']['loop_seconds']:.2f} s), from {rs.get('with_fast_answers', 0)} raters"
                     + (" (left out)" if r["filter"].get("drop_fast") else " (flagged, kept)"))
    lines += ["", "## Preference matrix (Vondrick et al. 2016 Table 1): % of trials preferring the row over the column", "",
              "| | " + " | ".join(e(c) for c in r["table_002"]["cols"]) + " |",
              "|---|" + "---|" * len(r["table_002"]["cols"])]
    for name, row in zip(r["table_002"]["rows"], r["table_002"]["cells"]):
        lines.append(f"| {e(name)} | " + " | ".join(_pct(c) if c else "—" for c in row) + " |")
    lines += ["", "## Per pair (Walker et al. 2021 Table 1): prefer A / prefer B / no preference", "",
              "| A | B | prefer A | prefer B | no preference | n |", "|---|---|---|---|---|---|"]
    for p in r["pairs"]:
        lines.append(f"| {e(p['a'])} | {e(p['b'])} | {_pct(p['share_a'])} | {_pct(p['share_b'])} | "
                     f"{_pct(p['share_ties'])} | {p['n_total']} |")
    bt = r.get("bradley_terry")
    if bt and "scores" in bt:
        lines += ["", "## Bradley–Terry scores (log-strength, mean 0)", "", "| system | score | 95% CI |",
                  "|---|---|---|"]
        for s, v, lo, hi in zip(bt["systems"], bt["scores"], bt["ci_low"], bt["ci_high"]):
            lines.append(f"| {e(s)} | {_f3(v)} | [{_f3(lo)}, {_f3(hi)}] |")
        if bt.get("note"):
            lines.append(f"\n{bt['note']}")
    ag = r["agreement"]
    lines += ["", f"Rater agreement: Krippendorff's α = {_f3(ag['krippendorff_alpha'])}, pairwise "
              f"{_f3(ag['pairwise'])} over {ag['label_pairs']} label pairs "
              f"({ag['items_with_2plus']} items with ≥ 2 judgements)", ""]
    return "\n".join(lines)


def _clean(obj: Any) -> Any:
    """NaN -> None, for strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def analyze_study(study_path: str | Path, db_path: str | Path | None = None, out: str | Path | None = None,
                  **options: Any) -> tuple[dict[str, Any], Path]:
    """Analyze a study's database and write ``<out>.json`` and ``<out>.md``.

    ``out`` defaults to ``reports/<dataset>/crowd/<study name>`` (where the leaderboard finds it).
    """
    from benchmark.crowd.db import JudgementDB
    from benchmark.crowd.design import load_study

    _validate_options(options.get("interval", "wilson"), options.get("min_check_accuracy", 0.75),
                      options.get("min_checks"))
    study, folder = load_study(study_path)
    db_file = Path(db_path) if db_path else folder / "judgements.sqlite"
    if not db_file.is_file():
        raise UserError(f"{db_file}: no judgement database (serve the study or import results first)")
    db = JudgementDB(db_file, study["hash"])
    try:
        result = _clean(analyze(study, db.judgements(), assigned=db.assignments(), skips=db.skips(), **options))
        result["rejections"] = db.rejection_counts()
        result["closed"] = db.closed() is not None
    finally:
        db.close()
    out = Path(out) if out else Path("reports") / study["dataset"] / "crowd" / study["name"]
    out = out.with_suffix("") if out.suffix == ".json" else out
    json_path = write_json_atomic(out.with_name(out.name + ".json"), result)
    write_text_atomic(out.with_name(out.name + ".md"), markdown(result))
    return result, json_path
