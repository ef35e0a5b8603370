"""The leaderboard as tables to paste into a paper or a README: LaTeX, Markdown, CSV.

``benchmark report --dataset D --format latex|markdown|csv`` prints one table per (task, protocol)
and writes ``reports/<D>/leaderboard.{tex,md,csv}`` (the HTML report writes and links all three).

* One row per method and profile; its seeds (one ``results.json`` each) are pooled: with several
  seeds a cell is the mean ± sample std (ddof 1) over seeds, with one seed the value ± the half-width
  of its 95% CI. The ``seeds`` column says which.
* Best per column in bold: the HTML report's own rule (:func:`benchmark.report.views.mark_best`,
  which reads each metric's ``best_rule`` and direction from :mod:`benchmark.metrics.facts`), applied
  to the seed means: rows that are not comparable (random/unpinned weights, marked †), smoke
  profiles, another protocol or other metric settings never get a best.
* The real-data bound is the first row when there is one; reference rows (an untrained network,
  ``vgan (untrained)``, or a trivial fill, ``background_fill (trivial fill)``) follow the methods and are never ranked, as on the page.

>>> rows = [{"method": "a_b", "cells": [{"text": "1.0 ± 0.1", "best": True}]}]
>>> print(markdown_rows(["psnr_best"], [True], rows))
| method | psnr_best ↑ |
|:--|--:|
| a_b | **1.0 ± 0.1** |
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.report.format import describe_protocol, finite, format_metric, metric_direction, metric_order
from benchmark.report.runs import Run, load_runs
from benchmark.report.views import TRIVIAL_COPY, mark_best, protocol_diff, repeats_note, table_protocol
from benchmark.seeds import mean_std
from benchmark.utils import UserError, write_text_atomic

#: ``--format`` name -> file suffix of ``leaderboard.<suffix>``
FORMATS = {"latex": "tex", "markdown": "md", "csv": "csv"}
TASK_ORDER = ("synthesis", "prediction")
NOT_COMPARABLE_MARK = "†"
NOT_RANKED_MARK = "‡"
HAND_AID_MARK = "§"
REPEATS_MARK = "¶"


@dataclass
class LeaderboardTable:
    """One (task, protocol) table: ``rows`` of ``{"method", "profile", "seeds", "is_real", "nc",
    "cells": [{"mean", "spread", "n_seeds", "text", "best"}]}`` in ``metrics`` column order."""

    dataset: str
    task: str
    protocol_name: str
    protocol: dict[str, Any]
    metrics: list[str]
    higher: list[bool | None]
    rows: list[dict[str, Any]]

    def caption(self) -> str:
        parts = ", ".join(describe_protocol(self.protocol))
        gate = next((row["gate_metric"] for row in self.rows if row.get("below_trivial")), "")
        below = f"; {NOT_RANKED_MARK} not ranked: no better than {TRIVIAL_COPY} on {gate}" if gate else ""
        aids = sorted({f"{row['base']}: {row['hand_aid']}" for row in self.rows if row.get("hand_aid")})
        if aids:
            below += (f"; {HAND_AID_MARK} the profile adds a hand-written aid, not learned and not in the paper "
                      f"({'; '.join(aids)})")
        repeats = [f"{row['base']}: {row['repeats']}" for row in self.rows if row.get("repeats")]
        if repeats:
            below += (f"; {REPEATS_MARK} the generated set repeats clips exactly, and set metrics such as a "
                      f"Fréchet distance count each copy as another sample (distinct clips: {'; '.join(repeats)})")
        return (f"{self.dataset}, {self.task} ({self.protocol_name}: {parts}). Mean ± std over seeds for rows "
                f"with several seeds, else value ± 95% CI half-width; best per column in bold (reference "
                f"rows never ranked){below}; {NOT_COMPARABLE_MARK} not comparable (unpinned or random feature "
                "weights).")


def _sections(runs: list[Run]) -> dict[tuple[str, str], list[tuple[Run, dict[str, Any]]]]:
    grouped: dict[tuple[str, str], list[tuple[Run, dict[str, Any]]]] = {}
    for r in runs:
        for task, t in (r.data.get("tasks") or {}).items():
            if not isinstance(t, dict) or not isinstance(t.get("protocol"), dict):
                raise UserError(f"{r.path}: task {task!r} has no protocol record")
            grouped.setdefault((task, str(t["protocol"].get("name") or task)), []).append((r, t))
    order = sorted(grouped, key=lambda k: (TASK_ORDER.index(k[0]) if k[0] in TASK_ORDER else 99, k))
    return {k: grouped[k] for k in order}


def _pool(values: list[dict[str, Any]]) -> tuple[float | None, float | None, str]:
    """(mean, spread, text) of one metric over seeds: mean ± sample std with several finite values,
    else the one value ± its CI half-width."""
    xs = [float(v["value"]) for v in values if finite(v.get("value"))]
    if not xs:
        return None, None, "—"
    if len(xs) > 1:
        mean, std = mean_std(xs)
        f = format_metric(mean, mean - std, mean + std)
        return mean, std, f"{f['value']} {f['ci']}".strip()
    v = values[[finite(v.get("value")) for v in values].index(True)]
    f = format_metric(xs[0], v.get("ci_low"), v.get("ci_high"))
    half = (v["ci_high"] - v["ci_low"]) / 2 if finite(v.get("ci_low")) and finite(v.get("ci_high")) else None
    return xs[0], half, f"{f['value']} {f['ci']}".strip()


def build_tables(dataset: str, runs: list[Run]) -> list[LeaderboardTable]:
    """One :class:`LeaderboardTable` per (task, protocol) of ``runs`` (seeds of a method pooled)."""
    tables = []
    for (task, pname), members in _sections(runs).items():
        protocol = table_protocol(members)

        directions: dict[str, bool | None] = {}
        for _, t in members:
            for m, mv in (t.get("metrics") or {}).items():
                declared = mv.get("higher_is_better") if isinstance(mv, dict) else None
                if directions.get(m) is None:
                    directions[m] = metric_direction(m, declared)
        names = sorted(directions, key=metric_order)

        groups: dict[tuple[str, str], list[tuple[Run, dict[str, Any]]]] = {}
        for r, t in members:
            groups.setdefault((r.method, r.profile), []).append((r, t))
        several_profiles = Counter(method for method, _ in groups)
        rows = []
        for (method, profile), seeds in groups.items():
            first_run, first_entry = seeds[0]
            is_real = first_run.is_real
            label = first_run.base_label  # "real data", "vgan (untrained)" for a reference row, the method
            if several_profiles[method] > 1:
                label += f" ({profile or 'no profile'})"
            diff = sorted({k for _, t in seeds for k in protocol_diff(protocol, t["protocol"])})
            cells = []
            for m in names:
                values = [t["metrics"][m] for _, t in seeds if isinstance((t.get("metrics") or {}).get(m), dict)]
                mean, spread, text = _pool(values)
                nc = any(not r.value_comparable(t["metrics"][m]) for r, t in seeds
                         if isinstance((t.get("metrics") or {}).get(m), dict))
                cells.append({"raw": mean, "mean": mean, "spread": spread, "n_seeds": len(values), "text": text,
                              "nc": nc, "best": False, "title": ""})
            seed_list = sorted({s for r, _ in seeds for s in (r.data.get("seeds") or [])})
            rows.append({"method": label, "profile": profile, "seeds": seed_list, "is_real": is_real,
                         "is_reference": first_run.is_reference, "reference_kind": first_run.reference_kind,
                         "hand_aid": first_run.hand_aid, "repeats": repeats_note(t for _, t in seeds),
                         "placeholder": False, "slug": f"{method}__{profile}", "base": first_run.base_method,
                         "protocol_diff": diff,
                         "nc": any(not r.comparable for r, _ in seeds) or any(c["nc"] for c in cells),
                         "cells": cells, "entry": first_entry})
        # the HTML report's best rule, on the seed means (members: the metric settings of each row)
        mark_best(names, directions, rows, {row["slug"]: row["entry"] for row in rows})
        rows.sort(key=lambda row: (not row["is_real"], row["is_reference"], row["nc"], row["method"]))
        tables.append(LeaderboardTable(dataset, task, pname, protocol, names, [directions[m] for m in names], rows))
    return tables


# --------------------------------------------------------------------------------- writers ---

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "±": r"$\pm$", "—": "--", "×": r"$\times$", "→": r"$\to$", "†": r"$^\dagger$", "‡": r"$^\ddagger$", "§": r"$^\S$",
                 "¶": r"$^\P$"}


def latex_escape(text: str) -> str:
    r"""Text for LaTeX (``_`` -> ``\_``, ``±`` -> ``$\pm$``).

    >>> latex_escape("psnr_best 1.0 ± 0.1")
    'psnr\\_best 1.0 $\\pm$ 0.1'
    """
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def _arrow(higher: bool | None, up: str, down: str) -> str:
    return "" if higher is None else (up if higher else down)


def _label(row: dict[str, Any]) -> str:
    return (row["method"] + (NOT_COMPARABLE_MARK if row["nc"] and not row["is_real"] else "")
            + (NOT_RANKED_MARK if row.get("below_trivial") else "") + (HAND_AID_MARK if row.get("hand_aid") else "")
            + (REPEATS_MARK if row.get("repeats") else ""))


def _seeds(row: dict[str, Any]) -> str:
    return ", ".join(str(s) for s in row["seeds"]) or "—"


def latex_table(table: LeaderboardTable) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    head = ["method", "seeds"] + [latex_escape(m) + _arrow(h, r" $\uparrow$", r" $\downarrow$")
                                  for m, h in zip(table.metrics, table.higher)]
    lines = [r"\begin{table}[t]", r"\centering", r"\caption{" + latex_escape(table.caption()) + "}",
             r"\begin{tabular}{ll" + "r" * len(table.metrics) + "}", r"\toprule", " & ".join(head) + r" \\",
             r"\midrule"]
    for i, row in enumerate(table.rows):
        cells = [(r"\textbf{" + latex_escape(c["text"]) + "}") if c["best"] else latex_escape(c["text"])
                 for c in row["cells"]]
        lines.append(" & ".join([latex_escape(_label(row)), latex_escape(_seeds(row))] + cells) + r" \\")
        if row["is_real"] and i + 1 < len(table.rows):
            lines.append(r"\midrule")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def markdown_rows(metrics: list[str], higher: list[bool | None], rows: list[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table; ``rows``: ``{"method", "cells": [{"text", "best"}]}``."""
    head = ["method"] + (["seeds"] if rows and "seeds" in rows[0] else []) + \
        [m + _arrow(h, " ↑", " ↓") for m, h in zip(metrics, higher)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":--"] * (len(head) - len(metrics))
                                                             + ["--:"] * len(metrics)) + "|"]
    for row in rows:
        cells = [f"**{c['text']}**" if c["best"] else c["text"] for c in row["cells"]]
        first = [_label(row) if "nc" in row else row["method"]] + ([_seeds(row)] if "seeds" in row else [])
        lines.append("| " + " | ".join(s.replace("|", r"\|") for s in first + cells) + " |")
    return "\n".join(lines)


def markdown_table(table: LeaderboardTable) -> str:
    return (f"**{table.task} · {table.protocol_name}**: {table.caption()}\n\n"
            + markdown_rows(table.metrics, table.higher, table.rows))


def csv_text(tables: list[LeaderboardTable]) -> str:
    """One wide CSV of every table: a row per (task, protocol, method), whether it is comparable,
    whether it is a reference row, why it is not ranked (empty if it is), what its profile adds by hand
    and, for a generated set that repeats clips exactly, its distinct count per seed (``repeats``:
    "102 of 128"); per metric its mean, spread (std over seeds, or the CI half-width with one seed),
    number of seeds and best flag."""
    import pandas as pd

    records = []
    for t in tables:
        for row in t.rows:
            rec: dict[str, Any] = {"dataset": t.dataset, "task": t.task, "protocol": t.protocol_name,
                                   "method": row["method"], "profile": row["profile"], "seeds": _seeds(row),
                                   "comparable": not row["nc"], "reference": row["is_reference"],
                                   "not_ranked": row.get("below_trivial", ""), "hand_aid": row.get("hand_aid", ""),
                                   "repeats": row.get("repeats", "")}
            for m, c in zip(t.metrics, row["cells"]):
                rec[m] = c["mean"]
                rec[f"{m}_spread"] = c["spread"]
                rec[f"{m}_n_seeds"] = c["n_seeds"]
                rec[f"{m}_best"] = c["best"]
            records.append(rec)
    return pd.DataFrame.from_records(records).to_csv(index=False, float_format="%.10g", lineterminator="\n")


def render_tables(tables: list[LeaderboardTable], fmt: str) -> str:
    """All ``tables`` in one ``fmt`` (``latex``, ``markdown`` or ``csv``)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown table format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return csv_text(tables)
    if fmt == "latex":
        head = f"% vidbench leaderboard of {tables[0].dataset if tables else ''} (needs \\usepackage{{booktabs}})\n"
        return head + "\n\n".join(latex_table(t) for t in tables) + "\n"
    return "\n\n".join(markdown_table(t) for t in tables) + "\n"


# ------------------------------------------------------------ a recipe: ours vs paper-reported ---

RECIPE_COLUMNS = ("row", "metric", "ours", "setting (ours)", "paper-reported", "setting (paper)", "source",
                  "same setting?")


def recipe_cells(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """The cells of a recipe table (:func:`benchmark.report.recipe.recipe_rows`, the HTML page's model):
    ours beside the paper-reported number, and whether they share a setting."""
    out = []
    for r in rows:
        ours = r.get("ours")
        ours_text = (f"{ours['value']} {ours['ci']}".strip() + (f" {NOT_COMPARABLE_MARK}" if r.get("ours_nc") else "")
                     if ours else f"— {r.get('ours_missing', '')}".strip())
        rep = r.get("reported")
        same = "yes" if r.get("same_setting") else (f"no: {r['why_not_same']}" if r.get("why_not_same") else "—")
        source = (r.get("source") or "") + (f" ({r['note']})" if r.get("note") else "")
        out.append((r["row"], r["metric"], ours_text, r.get("ours_setting", "") if ours else "",
                    f"{rep['value']} {rep['ci']}".strip() if rep else "—", r.get("reported_setting", "") if rep else "",
                    source if rep else "", same))
    return out


def recipe_markdown(title: str, rows: list[dict[str, Any]]) -> str:
    """A recipe's ours-vs-paper table in Markdown (what the recipe page shows)."""
    lines = [f"**{title}** ({NOT_COMPARABLE_MARK} not comparable)", "",
             "| " + " | ".join(RECIPE_COLUMNS) + " |", "|" + "|".join(":--" for _ in RECIPE_COLUMNS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |" for cells in recipe_cells(rows)]
    return "\n".join(lines) + "\n"


def recipe_latex(title: str, rows: list[dict[str, Any]]) -> str:
    """A recipe's ours-vs-paper table as a booktabs ``table``."""
    lines = [r"\begin{table}[t]", r"\centering", r"\caption{" + latex_escape(f"{title}. Ours beside the "
             f"paper-reported numbers; {NOT_COMPARABLE_MARK} not comparable.") + "}",
             r"\begin{tabular}{llrlrlll}", r"\toprule", " & ".join(RECIPE_COLUMNS) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(c) for c in cells) + r" \\" for cells in recipe_cells(rows)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_recipe_tables(recipe: Any, ctx: Any, outcome: Any, page: Path) -> dict[str, Path]:
    """``<page>.md`` and ``<page>.tex`` beside a recipe's HTML page (the same rows)."""
    from benchmark.report.recipe import recipe_rows

    rows = recipe_rows(recipe, ctx, outcome)
    title = f"{recipe.reproduces}: {recipe.title} ({ctx.profile} profile on {ctx.dataset}, seed {ctx.seed})"
    page = Path(page)
    return {"markdown": write_text_atomic(page.with_suffix(".md"), recipe_markdown(title, rows)),
            "latex": write_text_atomic(page.with_suffix(".tex"), recipe_latex(title, rows))}


def write_tables(dataset: str, runs: list[Run], out_dir: Path, formats: tuple[str, ...] = tuple(FORMATS)
                 ) -> dict[str, Path]:
    """Write ``out_dir/leaderboard.<suffix>`` for each format (atomically); returns format -> path."""
    tables = build_tables(dataset, runs)
    return {fmt: write_text_atomic(Path(out_dir) / f"leaderboard.{FORMATS[fmt]}", render_tables(tables, fmt))
            for fmt in formats}


def export_report(dataset: str, run_root: Path, out_dir: Path, fmt: str, profile: str | None = None
                  ) -> tuple[Path, str]:
    """The ``benchmark report --format FMT`` verb: (path written, its text)."""
    runs = load_runs(dataset, Path(run_root), profile)
    if not runs:
        raise UserError(f"no results.json under {Path(run_root) / dataset}"
                        + (f" for profile {profile!r}" if profile else "")
                        + "; run `benchmark evaluate` (or `benchmark run`) first")
    path = write_tables(dataset, runs, out_dir, (fmt,))[fmt]
    return path, path.read_text()
