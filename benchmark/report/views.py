"""View models: what each part of the leaderboard page shows, built from the runs (no HTML here).

One section per (task, protocol): rows of runs with formatted cells, the best cell per column (by
the metric class's ``best_rule``), metric protocols, curves and galleries; then training losses and
crowd studies.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from benchmark.metrics import facts
from benchmark.report.format import (comparable_with, describe_protocol, finite, format_metric, metric_direction,
                                     metric_order, settings_rows, settings_text, slug, sort_key)
from benchmark.report.plots import plot_curves, plot_train_log
from benchmark.report.runs import Run, read_train_log, run_file
from benchmark.seeds import mean_std


@dataclass
class Assets:
    """Copies files into the (temporary) assets folder and returns page-relative links."""

    root: Path  # the temporary folder that becomes out_dir/assets
    copied: dict[Path, str] = field(default_factory=dict)

    def copy(self, src: Path, name: str) -> str:
        src = src.resolve()
        if src not in self.copied:
            dst = self.root / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            self.copied[src] = f"assets/{name}"
        return self.copied[src]

    def path(self, name: str) -> tuple[Path, str]:
        dst = self.root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        return dst, f"assets/{name}"


def run_links(run: Run, assets: Assets) -> dict[str, Any]:
    links: dict[str, Any] = {"results": assets.copy(run.path, f"{run.slug}/results.json")}
    man = run_file(run, run.data.get("manifest"))
    if man is not None and man.is_file():
        links["manifest"] = assets.copy(man, f"{run.slug}/{man.name}")
    else:
        links["manifest_missing"] = str(run.data.get("manifest") or "no manifest recorded")
    return links


#: the profile whose rows are a pipeline check (seconds of training), never a comparison
SMOKE_PROFILE = "smoke"
#: metric-protocol fields that are not settings (sample counts, where the real bound's sides came
#: from): rows differing only there still compete
NOT_SETTINGS = frozenset({"n", "n_real", "n_fake", "num_videos", "samples", "real_bound_sides"})
#: what the real row shows for a set metric scored against the same clips (0 by construction)
SAME_SET = "n/a (same set)"
#: result-protocol fields that say how a run sampled, not what it was scored on: a deterministic method
#: draws one sample per context (its k samples would be identical copies; a best-of-k, mean or worst over
#: copies is that one value). Rows differing only there share the table's protocol. Set metrics (FVD) then
#: see n distinct videos instead of k*n: the Fréchet estimator's small-sample bias counts against the
#: deterministic row, never for it.
RUN_ONLY_PROTOCOL_FIELDS = frozenset({"samples_per_context_used"})
#: the trivial prediction every trained predictor must beat: a prediction row no better than it on the
#: table's Fréchet distance is not ranked on any column (it may still win SSIM by fading or deleting the
#: objects, which a per-frame score rewards; see metric docs)
TRIVIAL_COPY = "copy_last"


def repeats_note(entries: Iterable[dict[str, Any]]) -> str:
    """What a row's generated set repeats: ``"102 of 128"`` (one per seed, joined by ``", "``) when a
    task without context frames (synthesis) generated exact copies of its own clips, else ``""`` (every
    clip distinct, a run older than the count, or prediction: the k samples of one context are judged by
    the diversity columns). A set metric such as a Fréchet distance counts each copy as another sample.

    >>> e = {"protocol": {"context_frames": 0}, "sampling": {"videos": 128, "distinct_videos": 102}}
    >>> repeats_note([e]), repeats_note([{**e, "sampling": {"videos": 128, "distinct_videos": 128}}])
    ('102 of 128', '')
    >>> repeats_note([{**e, "protocol": {"context_frames": 5}}])
    ''
    """
    notes = []
    for entry in entries:
        sampling = entry.get("sampling") or {}
        distinct, videos = sampling.get("distinct_videos"), sampling.get("videos")
        if ((entry.get("protocol") or {}).get("context_frames") or 0) == 0 and isinstance(distinct, int) \
                and isinstance(videos, int) and distinct < videos:
            notes.append(f"{distinct} of {videos}")
    return ", ".join(notes)


def protocol_key(protocol: dict[str, Any]) -> str:
    """A result's protocol as the string rows are compared by (run-only fields left out).

    >>> protocol_key({"name": "p", "samples_per_context_used": 1}) == protocol_key({"name": "p"})
    True
    """
    return json.dumps({k: v for k, v in protocol.items() if k not in RUN_ONLY_PROTOCOL_FIELDS},
                      sort_keys=True, default=str)


def protocol_diff(table_protocol: dict[str, Any], protocol: dict[str, Any]) -> list[str]:
    """The compared protocol fields where ``protocol`` differs from the table's."""
    def canon(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=str)
    return sorted(k for k in set(table_protocol) | set(protocol)
                  if k not in RUN_ONLY_PROTOCOL_FIELDS and canon(table_protocol.get(k)) != canon(protocol.get(k)))


def table_protocol(members: list[tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    """The protocol a section's rows share: the most common among methods (real only if alone)."""
    votes = Counter(protocol_key(t["protocol"]) for r, t in members if not r.is_real) or \
        Counter(protocol_key(t["protocol"]) for r, t in members)
    return json.loads(votes.most_common(1)[0][0])


def settings_key(settings: Any) -> str:
    """The metric settings of one row as a comparable string (sample counts left out)."""
    if isinstance(settings, dict):
        settings = {k: v for k, v in settings.items() if k not in NOT_SETTINGS}
    return json.dumps(settings, sort_keys=True, default=str)


def best_indices(metric: str, higher: bool | None, values: list[Any], real: list[Any] = ()) -> list[int]:
    """Positions of the best of a column's competing values (all of them on a tie; none with fewer
    than two finite values, or without a rule): max/min by direction, or, for a metric whose class
    says ``best_rule = "closest_to_real"``, nearest the real-data row's value (none without one);
    ``best_rule = "none"``: never a best.

    >>> best_indices("psnr_best", True, [20.0, 25.0, float("nan"), 25.0]), best_indices("fvd", False, [300.0, 200.0])
    ([1, 3], [1])
    >>> best_indices("fcs", True, [1.0, 0.8, 0.5], real=[0.78]), best_indices("fcs", True, [1.0, 0.8])
    ([1], [])
    """
    finite_at = [i for i, v in enumerate(values) if finite(v)]
    if len(finite_at) < 2:
        return []
    if facts.best_rule(metric) == "none":  # e.g. diversity: more is not better, and there is no target
        return []
    if facts.best_rule(metric) == "closest_to_real":
        target = next((v for v in real if finite(v)), None)
        if target is None:
            return []
        score = {i: abs(values[i] - target) for i in finite_at}
    elif higher is None:
        return []
    else:
        score = {i: (-values[i] if higher else values[i]) for i in finite_at}
    top = min(score.values())
    return [i for i in finite_at if score[i] == top]


def best_value(metric: str, higher: bool | None, values: list[Any], real: list[Any] = ()) -> float | None:
    """The best of a column's comparable values (see :func:`best_indices`), or None.

    >>> best_value("psnr_best", True, [20.0, 25.0, float("nan")]), best_value("fvd", False, [300.0, 200.0])
    (25.0, 200.0)
    """
    idx = best_indices(metric, higher, values, real)
    return values[idx[0]] if idx else None


def not_ranked_reason(row: dict[str, Any], cell: dict[str, Any], same_settings: bool) -> str:
    """Why a cell does not compete for "best" ("" if it does)."""
    if row["is_real"] or row.get("placeholder"):
        return "the real-data bound"
    if row.get("is_reference"):
        return f"a reference row ({row.get('reference_kind') or 'untrained network'}), shown for scale"
    if cell["raw"] is None:
        return "not reported"
    if cell["nc"]:
        return "not comparable (unpinned/random weights)"
    if row.get("profile") == SMOKE_PROFILE:
        return "smoke profile: a pipeline check, not a comparison"
    if row["protocol_diff"]:
        return "protocol differs from the table's"
    if row.get("below_trivial"):
        return row["below_trivial"]
    if not same_settings:
        return "metric settings differ from the table's"
    return ""


def mark_best(names: list[str], directions: dict[str, bool | None], rows: list[dict[str, Any]],
              members: dict[str, dict[str, Any]]) -> None:
    """Set ``cell["best"]`` per column. Only rows with the table's protocol, the column's most common
    metric settings, comparable weights and a non-smoke profile compete; the rule is the metric
    class's ``best_rule`` (:func:`best_indices`); a prediction row no better than ``copy_last`` on the
    table's Fréchet distance competes nowhere (:func:`mark_below_trivial`). ``members``: row slug -> the
    run's task entry."""
    mark_below_trivial(names, rows)
    for j, m in enumerate(names):
        cls = facts.metric_facts(m)
        family = cls.name if cls is not None else m.partition("_")[0]

        def settings(row: dict[str, Any]) -> str:
            entry = members.get(row.get("slug", ""), {})
            return settings_key((entry.get("metric_protocols") or {}).get(family))

        eligible = [row for row in rows if not not_ranked_reason(row, row["cells"][j], True)]
        votes = Counter(settings(row) for row in eligible)
        ref = votes.most_common(1)[0][0] if votes else None
        competing = []
        for row in rows:
            c = row["cells"][j]
            why = not_ranked_reason(row, c, settings(row) == ref)
            if not why:
                competing.append(row)
            elif not row["is_real"] and c["raw"] is not None:
                c["title"] += f"; not ranked: {why}"
        real = [row["cells"][j]["raw"] for row in rows
                if row["is_real"] and not row.get("placeholder") and not row["cells"][j]["nc"]
                and settings(row) == ref]
        for i in best_indices(m, directions[m], [row["cells"][j]["raw"] for row in competing], real):
            competing[i]["cells"][j]["best"] = True


def trivial_copy_gate(names: list[str], rows: list[dict[str, Any]]) -> tuple[int, float] | None:
    """The column trained rows must beat the trivial copy on and ``copy_last``'s value there: the first
    lower-is-better set metric (FVD, ``fvd_shapes``) where the ``copy_last`` row has a comparable
    finite value; None without one."""
    copy = next((row for row in rows if row.get("base") == TRIVIAL_COPY and not row.get("is_reference")
                 and not row["is_real"] and not row.get("placeholder")), None)
    if copy is None:
        return None
    for j, m in enumerate(names):
        cls = facts.metric_facts(m)
        cell = copy["cells"][j]
        if (cls is not None and cls.kind == "set" and not cls.higher_is_better and finite(cell["raw"])
                and not cell["nc"]):
            return j, cell["raw"]
    return None


def mark_below_trivial(names: list[str], rows: list[dict[str, Any]]) -> None:
    """Set ``row["below_trivial"]`` (why it is not ranked) on every non-reference row whose value in
    the :func:`trivial_copy_gate` column is not lower than ``copy_last``'s: such a prediction is no
    more like real video, to the evaluator, than repeating the last context frame, whatever its
    per-frame scores."""
    gate = trivial_copy_gate(names, rows)
    if gate is None:
        return
    j, copy_value = gate
    for row in rows:
        cell = row["cells"][j]
        if (row["is_real"] or row.get("placeholder") or row.get("is_reference") or row.get("base") == TRIVIAL_COPY
                or not finite(cell["raw"]) or cell["nc"]):
            continue
        if cell["raw"] >= copy_value:
            row["gate_metric"] = names[j]
            row["below_trivial"] = (f"no better than {TRIVIAL_COPY} on {names[j]} ({cell['raw']:.4g} vs "
                                    f"{copy_value:.4g}): no more like real video than a copy of the last "
                                    "context frame")


def run_cell(r: Run, m: str, mv: Any) -> dict[str, Any]:
    """The cell of metric ``m`` of one run: its value ± 95% CI half-width (n), and a tooltip."""
    if not isinstance(mv, dict):
        return {"value": "—", "ci": "", "n": "", "sort": "", "title": "not reported",
                "nc": False, "best": False, "raw": None}
    text = format_metric(mv.get("value"), mv.get("ci_low"), mv.get("ci_high"), mv.get("n"))
    nc = not r.value_comparable(mv)
    title = f"{m} = {mv.get('value')}"
    extra = mv.get("extra") or {}
    if r.is_real and extra.get("same_set"):  # a set against itself: 0 by construction, no bound
        return {"value": SAME_SET, "ci": "", "n": "", "sort": "", "nc": False, "best": False,
                "raw": None, "title": f"{m}: the real set was scored against itself "
                                      f"({(extra.get('real_bound_sides') or {}).get('how', '')}); "
                                      f"{m} = {mv.get('value')} by construction, not a bound"}
    sides = extra.get("real_bound_sides")
    if r.is_real and isinstance(sides, dict):
        title += f"; real bound: {sides.get('how')}"
    if finite(mv.get("ci_low")) and finite(mv.get("ci_high")):
        title += f"; 95% CI [{mv['ci_low']:.6g}, {mv['ci_high']:.6g}]"
    if mv.get("n"):
        title += f"; n = {mv['n']}"
    if mv.get("extra"):
        title += f"; {settings_text(mv['extra'])}"
    if nc:
        title += "; NOT COMPARABLE"
    return {**text, "sort": sort_key(mv.get("value")), "title": title, "nc": nc,
            "best": False, "raw": mv.get("value")}


def seed_group_key(run: Run, entry: dict[str, Any]) -> str:
    """Runs that pool into one leaderboard row: the same method and profile, task protocol and metric
    settings (sample counts aside); only their seeds differ. A seed scored under another protocol
    keeps a row of its own (flagged), rather than moving a mean."""
    settings = {fam: settings_key(st) for fam, st in (entry.get("metric_protocols") or {}).items()}
    return json.dumps([run.method, run.profile, entry.get("protocol"), settings], sort_keys=True, default=str)


def _number(x: Any) -> float:
    """A metric value as a float: None (no finite value) is NaN."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def pooled_cell(m: str, seeds: list[str], cells: list[dict[str, Any]], values: list[Any]) -> dict[str, Any]:
    """One metric over several seeds: mean ± sample std over seeds (n seeds)
    (:func:`benchmark.seeds.mean_std`), each seed's own value ± 95% CI listed beside it.

    ``cells``: the per-seed cells (:func:`run_cell`), ``values``: the seeds' MetricValue dicts (or None).
    A seed without the metric is left out (the count says how many made it); one NaN seed makes the
    mean NaN, shown as "—", so a broken seed is seen rather than averaged away."""
    have = [(s, c, v) for s, c, v in zip(seeds, cells, values) if isinstance(v, dict)]
    if not have:
        return cells[0]
    if any(c["value"] == SAME_SET for _, c, _ in have):  # the real bound's same-set note stands
        return next(c for _, c, _ in have if c["value"] == SAME_SET)
    mean, std = mean_std(_number(v.get("value")) for _, _, v in have)
    k = len(have)
    text = format_metric(mean, mean - std, mean + std) if finite(std) else format_metric(mean)
    per_seed = [{"seed": s, "value": c["value"], "ci": c["ci"]} for s, c, _ in have]
    nc = any(c["nc"] for _, c, _ in have)
    title = (f"{m}: mean ± std over {k} seeds = {mean:.6g} ± {std:.6g}; "
             + "; ".join(f"seed {s}: {v.get('value')}" + (f" (95% CI [{v['ci_low']:.6g}, {v['ci_high']:.6g}])"
                                                          if finite(v.get("ci_low")) and finite(v.get("ci_high"))
                                                          else "") for s, _, v in have)
             + ("; NOT COMPARABLE" if nc else ""))
    return {"value": text["value"], "ci": text["ci"], "n": f"({k} seeds)", "sort": sort_key(mean),
            "title": title, "nc": nc, "best": False, "raw": None if math.isnan(mean) else mean,
            "per_seed": per_seed, "std": std, "n_seeds": k}


def pool_seeds(run_rows: list[dict[str, Any]], entries: list[dict[str, Any]], names: list[str],
               links: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a section: runs that differ only in their seed (:func:`seed_group_key`) become one
    row of mean ± std over seeds; a run alone keeps its row as it was (value ± CI)."""
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for row, entry in zip(run_rows, entries):
        groups.setdefault(seed_group_key(row["run"], entry), []).append((row, entry))
    per_method_profile = Counter((g[0][0]["run"].method, g[0][0]["run"].profile) for g in groups.values())
    profiles = {}
    for g in groups.values():
        profiles.setdefault(g[0][0]["run"].method, set()).add(g[0][0]["run"].profile)
    out = []
    for g in groups.values():
        if len(g) == 1:
            out.append(g[0][0])
            continue
        runs = sorted((row["run"] for row, _ in g), key=lambda r: (r.data.get("seeds") or [0], r.slug))
        by_slug = {row["run"].slug: (row, entry) for row, entry in g}
        first = runs[0]
        extra = []
        if len(profiles[first.method]) > 1:
            extra.append(first.profile or "no profile")
        if per_method_profile[(first.method, first.profile)] > 1:
            extra.append(f"seeds {' '.join(r.seeds for r in runs)}")
        label = first.base_label + (f" ({', '.join(extra)})" if extra else "")
        cells = []
        for j, m in enumerate(names):
            ms = [by_slug[r.slug][1].get("metrics") or {} for r in runs]
            cells.append(pooled_cell(m, [r.seeds for r in runs], [by_slug[r.slug][0]["cells"][j] for r in runs],
                                     [x.get(m) for x in ms]))
        head = by_slug[first.slug][0]
        out.append({**head, "runs": runs, "method": label, "comparable": all(r.comparable for r in runs),
                    "repeats": repeats_note(by_slug[r.slug][1] for r in runs),
                    "note": next((r.note for r in runs if r.note), ""),
                    "seeds": " ".join(r.seeds for r in runs), "cells": cells,
                    "seed_links": [{"seed": r.seeds, **links[r.slug]} for r in runs]})
    return out


def build_section(task: str, pname: str, members: list[tuple[Run, dict[str, Any]]], assets: Assets,
                 links: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything one (task, protocol) section shows."""
    protocol = table_protocol(members)

    metrics: dict[str, bool | None] = {}
    for _, t in members:
        for m, mv in (t.get("metrics") or {}).items():
            declared = mv.get("higher_is_better") if isinstance(mv, dict) else None
            if m not in metrics or metrics[m] is None:
                metrics[m] = metric_direction(m, declared)
    names = sorted(metrics, key=metric_order)

    # Metric protocols: a name / value / meaning table per metric, one per distinct setting, and who used it.
    mp: dict[str, dict[str, tuple[Any, list[str]]]] = {}
    for r, t in members:
        for fam, settings in (t.get("metric_protocols") or {}).items():
            entry = mp.setdefault(fam, {}).setdefault(settings_key(settings), (settings, []))
            entry[1].append(r.label())
    metric_protocols = []
    for fam, variants in sorted(mp.items()):
        cls = facts.metric_facts(fam)
        meanings = getattr(cls, "setting_meanings", None) if cls is not None else None
        metric_protocols.append({"name": fam, "variants": [
            {"text": settings_text(st) or "(defaults)", "rows": settings_rows(st, meanings), "methods": who}
            for st, who in variants.values()]})

    run_rows = []
    for r, t in members:
        ms = t.get("metrics") or {}
        diff = protocol_diff(protocol, t["protocol"])
        cells = [run_cell(r, m, ms.get(m)) for m in names]
        run_rows.append({"run": r, "runs": [r], "method": r.label(), "base": r.base_method, "is_real": r.is_real,
                         "is_reference": r.is_reference, "reference_kind": r.reference_kind, "comparable": r.comparable,
                         "hand_aid": r.hand_aid, "repeats": repeats_note([t]),
                         "note": r.note, "profile": r.profile, "seeds": r.seeds, "slug": r.slug,
                         "links": links[r.slug], "protocol_diff": diff, "cells": cells, "placeholder": False})
    rows = pool_seeds(run_rows, [t for _, t in members], names, links)

    mark_best(names, metrics, rows, {r.slug: t for r, t in members})
    smoke_rows = [row["method"] for row in rows if not row["is_real"] and row["profile"] == SMOKE_PROFILE]

    # Initial order: real bound pinned first; comparable rows best-first on the first ranked
    # metric; not-comparable rows after them (never ranked).
    key_col = next((j for j, m in enumerate(names) if metrics[m] is not None), None)

    def order(row: dict[str, Any]) -> tuple:
        if key_col is None:
            v = 0.0
        else:
            raw = row["cells"][key_col]["raw"]
            v = (-raw if metrics[names[key_col]] else raw) if finite(raw) else math.inf
        return (not row["is_real"], bool(row.get("is_reference")), not row["comparable"], v, row["method"])

    rows.sort(key=order)
    if not any(row["is_real"] for row in rows):
        rows.insert(0, {"method": "real data", "is_real": True, "placeholder": True, "comparable": True,
                        "note": "", "protocol_diff": [],
                        "cells": [{"value": "—", "ci": "", "n": "", "sort": "", "title": "no real-data run",
                                   "nc": False, "best": False} for _ in names]})

    # Curves: *_best metrics, and curve metrics without a *_best sibling.
    plots = []
    with_curves = [m for m in names if any(isinstance(t.get("metrics", {}).get(m), dict)
                                           and t["metrics"][m].get("curve") for _, t in members)]
    for m in with_curves:
        family = m.rsplit("_", 1)[0] if "_" in m else m
        if not m.endswith("_best") and f"{family}_best" in with_curves:
            continue
        entries = [(r, t["metrics"][m]) for r, t in members if isinstance(t.get("metrics", {}).get(m), dict)]
        entries.sort(key=lambda e: (not e[0].is_real, e[0].method))
        dst, href = assets.path(f"plots/{slug(task)}-{slug(pname)}-{slug(m)}.png")
        if plot_curves(m, entries, protocol, metrics[m], dst):
            plots.append({"metric": m, "src": href})

    # Galleries: real first, then table order.
    galleries = []
    for row, r in [(row, r) for row in rows if not row["placeholder"] for r in row["runs"]]:
        t = r.data["tasks"][task]
        src = run_file(r, t.get("gallery"))
        label = row["method"] + (f" · seed {r.seeds}" if len(row["runs"]) > 1 else "")
        item = {"method": label, "caption": f"{r.profile or '—'} · seed {r.seeds or '—'}",
                "is_real": r.is_real, "nc": not r.comparable}
        if src is None:
            item["missing"] = "no gallery recorded"
        elif not src.is_file():
            item["missing"] = f"gallery not found: {t.get('gallery')}"
        else:
            item["src"] = assets.copy(src, f"{r.slug}/{slug(task)}-gallery{src.suffix.lower()}")
            item["video"] = src.suffix.lower() not in (".gif", ".png", ".webp", ".jpg", ".jpeg")
            if not item["video"]:
                try:
                    from PIL import Image

                    with Image.open(src) as im:
                        w, h = im.size
                    scale = max(1, min(4, 360 // max(w, 1)))
                    item["width"], item["height"] = w * scale, h * scale
                except Exception:  # a broken image still gets its link
                    pass
        item["extras"] = extra_galleries(r, t, task, assets)
        galleries.append(item)

    return {"task": task, "protocol_name": pname, "anchor": slug(f"{task}-{pname}"),
            "protocol_parts": describe_protocol(protocol), "protocol": protocol,
            "comparable_with": comparable_with(protocol, next((r.data.get("dataset", "") for r, _ in members), "")),
            "metric_protocols": metric_protocols,
            "metrics": [{"name": m, "higher": metrics[m]} for m in names],
            "rows": rows, "plots": plots, "galleries": galleries, "smoke_rows": smoke_rows,
            "seed_pooled": any(len(row.get("runs") or ()) > 1 for row in rows),
            "n_comparable": sum(1 for row in rows if not row["is_real"] and row["comparable"]
                                and row["profile"] != SMOKE_PROFILE)}


def image_size(src: Path) -> tuple[int, int] | None:
    """Display size of a GIF/PNG gallery (scaled up to ~360 px wide), or None if unreadable."""
    try:
        from PIL import Image

        with Image.open(src) as im:
            w, h = im.size
    except Exception:
        return None
    scale = max(1, min(4, 360 // max(w, 1)))
    return w * scale, h * scale


def extra_galleries(run: Run, entry: dict[str, Any], task: str, assets: Assets) -> list[dict[str, Any]]:
    """A task entry's ``extra_galleries`` (name -> GIF path relative to the run folder, written by the
    pipeline from ``Method.visualize``, e.g. VGAN's background / foreground / mask streams)."""
    extras = entry.get("extra_galleries") or {}
    out: list[dict[str, Any]] = []
    if not isinstance(extras, dict):
        return out
    for name, rel in extras.items():
        item: dict[str, Any] = {"name": str(name)}
        src = run_file(run, rel)
        if src is None or not src.is_file():
            item["missing"] = f"not found: {rel}"
        else:
            item["src"] = assets.copy(src, f"{run.slug}/{slug(task)}-{slug(str(name))}{src.suffix.lower()}")
            size = image_size(src)
            if size:
                item["width"], item["height"] = size
        out.append(item)
    return out


def build_training(runs: list[Run], assets: Assets) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        # multi-stage methods: one log per training stage ("train_logs"); others: "train_log"
        logs = r.data.get("train_logs") or ({"": r.data["train_log"]} if r.data.get("train_log") else {})
        if r.is_real:
            continue
        for stage, rel in logs.items():
            label = f"{r.label()} · {stage}" if stage else r.label()
            item: dict[str, Any] = {"method": label, "caption": f"{r.profile or '—'} · seed {r.seeds or '—'}",
                                    "nc": not r.comparable}
            src = run_file(r, rel)
            suffix = f"-{slug(stage)}" if stage else ""
            if src is None or not src.is_file():
                item["missing"] = f"training log not found: {rel}"
            else:
                item["log"] = assets.copy(src, f"{r.slug}/{src.stem}{suffix}{src.suffix}")
                series = read_train_log(src)
                dst, href = assets.path(f"{r.slug}/train-loss{suffix}.png")
                if plot_train_log(series, f"{label} — training loss", dst):
                    item["src"] = href
                else:
                    item["missing"] = "training log holds no loss values"
            out.append(item)
    return out


def crowd_studies(out_dir: Path, dataset: str, sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Human-study tables (``out_dir/crowd/*.json``): attached to the section of their task; returns all."""
    from benchmark.report.crowd import load_crowd_studies

    studies = load_crowd_studies(out_dir, dataset)
    for st in studies:
        st["json"] = st["json"].relative_to(out_dir).as_posix()
    tasks = {s["task"] for s in sections}
    for s in sections:
        s["crowd"] = [st for st in studies if st["task"] == s["task"]]
    for st in studies:
        st["in_section"] = st["task"] in tasks
    return studies
