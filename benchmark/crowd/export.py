"""Crowd-platform round trip: task CSV + HTML question template out, results CSV in.

``export_tasks`` writes, for a platform such as Amazon Mechanical Turk:

* ``tasks.csv`` — one row per task (trial): ``task_id, video_left_url, video_right_url``; the URLs
  are ``<base_url>/<opaque token>.mp4``, so upload ``<study>/media/`` to ``base_url`` as is. Each
  task has its own two copies (no file appears in two tasks), all files have one size, and each
  pair of systems and each check kind is shown as often on the left as on the right;
* ``question.html`` — the task template, with ``${task_id}``, ``${video_left_url}``,
  ``${video_right_url}`` placeholders and one radio field ``choice`` (the study's answer set).

``import_results`` reads the platform's results CSV (MTurk column names ``WorkerId``,
``AssignmentId``, ``Input.task_id``, ``Input.video_left_url``, ``Input.video_right_url``,
``Answer.choice``, optional ``WorkTimeInSeconds``, ``AssignmentStatus``; or the plain names
``worker_id``, ``assignment_id``, ``task_id``, ``video_left_url``, ``video_right_url``, ``answer``)
and validates every row before anything is written: a known task, the URLs of that task in the
order shown, an answer from the set, a sane worker id (never one a spreadsheet would run as a
formula: ``=``, ``+``, ``-``, ``@`` first), no repeated (worker, task) or assignment. The valid rows
are then stored in one transaction: an import that is interrupted leaves nothing behind.
"""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path
from typing import Any

from benchmark.crowd.db import JudgementDB
from benchmark.crowd.design import load_study, shown_order
from benchmark.utils import UserError, write_text_atomic

WORKER_RE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.:@-]{0,63}")  # never =, +, -, @ first (spreadsheet formulas)
ALIASES = {
    "worker": ("WorkerId", "worker_id"),
    "assignment": ("AssignmentId", "assignment_id"),
    "task": ("Input.task_id", "task_id"),
    "left": ("Input.video_left_url", "video_left_url"),
    "right": ("Input.video_right_url", "video_right_url"),
    "answer": ("Answer.choice", "answer", "choice"),
    "seconds": ("WorkTimeInSeconds", "work_time_seconds"),
    "status": ("AssignmentStatus", "status"),
}
REQUIRED = ("worker", "task", "left", "right", "answer")

QUESTION_TEMPLATE = """<!-- vidbench crowd task template: one pair per task. Placeholders are filled from tasks.csv. -->
<meta charset="utf-8">
<style>
  .pair {{ display: flex; gap: 12px; justify-content: center; }}
  .pair figure {{ margin: 0; flex: 0 1 320px; min-width: 0; }}
  .pair video {{ width: 100%; height: auto; aspect-ratio: auto 1 / 1; background: #000; image-rendering: pixelated; }}
  .answers {{ text-align: center; font-size: 1.1em; margin-top: 12px; }}
</style>
<h2 style="text-align:center">{question}</h2>
<input type="hidden" name="task_id" value="${{task_id}}">
<div class="pair">
  <figure><video src="${{video_left_url}}" autoplay loop muted playsinline></video>
    <figcaption>Left</figcaption></figure>
  <figure><video src="${{video_right_url}}" autoplay loop muted playsinline></video>
    <figcaption>Right</figcaption></figure>
</div>
<div class="answers">
{answers}
</div>
"""


def _media_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/{token}.mp4"


def export_tasks(study_path: str | Path, base_url: str, out: str | Path) -> dict[str, Path]:
    """Write ``tasks.csv`` and ``question.html`` for a crowd platform into ``out``."""
    if not re.match(r"^https?://[^\s\"'<>]+$", base_url):
        raise UserError(f"base URL must be http(s) without spaces or quotes, got {base_url!r}")
    study, folder = load_study(study_path)
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["task_id", "video_left_url", "video_right_url"])
    for t in study["trials"]:  # the design's (shuffled) order; checks are indistinguishable rows
        left, right = shown_order(t, t["a_left"])
        w.writerow([t["id"], _media_url(base_url, left), _media_url(base_url, right)])
    answers = "\n".join(
        f'  <label><input type="radio" name="choice" value="{html.escape(a)}" required> '
        f'{html.escape(study["answer_labels"][a])}</label>' for a in study["answers"])
    files = {"tasks": write_text_atomic(out / "tasks.csv", buf.getvalue()),
             "question": write_text_atomic(out / "question.html", QUESTION_TEMPLATE.format(
                 question=html.escape(study["question"]), answers=answers))}
    files["media"] = folder / "media"
    return files


def _column(header: list[str], field: str) -> str | None:
    for name in ALIASES[field]:
        if name in header:
            return name
    return None


def import_results(study_path: str | Path, results_csv: str | Path, db_path: str | Path | None = None,
                   skip_invalid: bool = False, source: str = "import") -> dict[str, Any]:
    """Validate every row of a platform results CSV and store the judgements.

    All-or-nothing by default: if any row is invalid nothing is imported and the report lists the
    problems (``skip_invalid=True`` imports the valid rows). Rows whose assignment the platform
    marked ``Rejected`` are skipped. Returns ``{"imported", "skipped", "errors": [(line, msg)]}``.
    """
    study, folder = load_study(study_path)
    trials = {t["id"]: t for t in study["trials"]}
    answers = set(study["answers"])
    try:
        text = Path(results_csv).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{results_csv}: cannot read ({e})") from e
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or []
    except csv.Error as e:
        raise UserError(f"{results_csv}:1: not a readable CSV header ({e})") from e
    cols = {f: _column(header, f) for f in ALIASES}
    missing = [f"{ALIASES[f][0]} (or {ALIASES[f][1]})" for f in REQUIRED if cols[f] is None]
    if missing:
        raise UserError(f"{results_csv}: missing columns {missing}")

    db = JudgementDB(db_path or folder / "judgements.sqlite", study["hash"])
    errors: list[tuple[int, str]] = []
    rows: list[dict[str, Any]] = []
    skipped = 0
    seen_pairs: set[tuple[str, str]] = set()
    seen_assign: set[str] = set()
    try:
        if db.closed() is not None:
            raise UserError(f"{db.path}: the study is closed to new judgements "
                            f"(`benchmark crowd close --reopen` opens it again)")
        existing = {(j["rater_external"], j["trial_id"]) for j in db.judgements() if j["source"] == source}
        existing_assign = {j["external_ref"] for j in db.judgements() if j["source"] == source and j["external_ref"]}
        line = 1
        rows_iter = enumerate(reader, start=2)
        while True:
            try:
                line, row = next(rows_iter)
            except StopIteration:
                break
            except csv.Error as e:  # e.g. a field over the csv module's size limit
                raise UserError(f"{results_csv}:{line + 1}: unreadable CSV ({e}); nothing was imported") from e

            def get(f: str) -> str:
                c = cols[f]
                v = row.get(c) if c else None
                return v.strip() if isinstance(v, str) else ""

            if get("status").lower() == "rejected":
                skipped += 1
                continue
            worker, task, answer = get("worker"), get("task"), get("answer").lower()
            assignment = get("assignment")
            problem = None
            if not WORKER_RE.fullmatch(worker):
                problem = f"bad worker id {worker[:40]!r} (letters, digits, _ . : @ -, not starting with = + - @)"
            elif task not in trials:
                problem = f"unknown task {task[:40]!r}"
            elif answer not in answers:
                problem = f"answer {answer[:40]!r} not in {sorted(answers)}"
            else:
                t = trials[task]
                lt, rt = (re.search(r"([0-9a-f]{24})\.mp4$", get(s)) for s in ("left", "right"))
                if not lt or not rt or (lt[1], rt[1]) != shown_order(t, t["a_left"]):
                    problem = "video URLs do not match the task's (edited or swapped row)"
                elif (worker, task) in seen_pairs or (worker, task) in existing:
                    problem = f"worker {worker} already answered task {task}"
                elif assignment and (assignment in seen_assign or assignment in existing_assign):
                    problem = f"assignment {assignment[:40]} appears twice"
            seconds = None
            if problem is None and get("seconds"):
                try:
                    seconds = float(get("seconds"))
                    if not 0 <= seconds < 1e7:
                        raise ValueError
                except ValueError:
                    problem = f"bad work time {get('seconds')[:20]!r}"
            if problem:
                errors.append((line, problem))
                db.reject("import-row", None, f"{Path(results_csv).name}:{line}: {problem}")
                continue
            seen_pairs.add((worker, task))
            if assignment:
                seen_assign.add(assignment)
            left, right = shown_order(trials[task], trials[task]["a_left"])
            rows.append({"worker": worker, "trial_id": task, "left": left, "right": right, "answer": answer,
                         "assignment": assignment or None, "client_ms": None if seconds is None else seconds * 1000})
        if errors and not skip_invalid:
            return {"imported": 0, "skipped": skipped, "errors": errors, "valid": len(rows)}
        imported = db.import_judgements(rows, source)  # one transaction: all rows or none
        return {"imported": imported, "skipped": skipped, "errors": errors, "valid": len(rows)}
    finally:
        db.close()
