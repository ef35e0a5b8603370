"""Issue 13, items 9-11: no lost study — design never replaces a study (or deletes user files)
without --force, an import is one transaction, databases are private and hold token hashes only,
each database has its own links file, and links can be revoked and studies closed."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.crowd.analyze import analyze_study
from benchmark.crowd.design import load_study
from benchmark.crowd.export import export_tasks, import_results
from benchmark.crowd.server import CrowdApp
from benchmark.utils import UserError
from tests.crowd.crowd_helpers import REPO, api, fast_tmp, make_study, served  # noqa: F401

TINY = {"systems": ("real", "zeta_lstm"), "judgements_per_pair": 2, "checks": 2}  # 4 trials, 8 files


def _answer_one(study: Path, db: Path | None = None) -> None:
    app = CrowdApp.open(study, db)
    (r,) = app.ensure_raters(1)
    nxt = app.next_payload(r["id"])
    assert app.answer(r["token"], {"trial": nxt["trial"], "answer": "left"})[0] == 200
    app.db.close()


# ----------------------------------------------------------------------------- item 9 ---

def test_design_refuses_to_replace_a_study_and_its_judgements(tmp_path, capsys):
    study = make_study(tmp_path, **TINY)
    _answer_one(study)
    key = (study / "study.json").read_bytes()
    media = {p.name: p.read_bytes() for p in (study / "media").iterdir()}
    with pytest.raises(UserError, match="--force"):
        make_study(tmp_path, **{**TINY, "judgements_per_pair": 3})  # another design into the same folder
    from benchmark.cli import main

    rc = main(["crowd", "design", "--dataset", "moving-shapes", "--systems", "real,zeta_lstm", "--runs",
               str(tmp_path / "runs"), "--real-source", "run", "--out", str(study)])
    assert rc == 2 and "--force" in capsys.readouterr().err
    assert (study / "study.json").read_bytes() == key
    assert {p.name: p.read_bytes() for p in (study / "media").iterdir()} == media
    result, _ = analyze_study(study, out=tmp_path / "report" / "a", keep_unchecked=True)
    assert result["judgements"]["total"] == 1  # the judgement still maps to its systems
    # the same design again is the same study (its secret is reused): nothing to refuse
    make_study(tmp_path, **TINY)
    assert (study / "study.json").read_bytes() == key
    assert {p.name: p.read_bytes() for p in (study / "media").iterdir()} == media


def test_design_force_keeps_the_old_key_and_never_deletes_user_files(tmp_path):
    study = make_study(tmp_path, **TINY)
    old, _ = load_study(study)
    (study / "media" / "notes.txt").write_text("mine")
    (study / "media" / "intro.mp4").write_bytes(b"not a study video")
    with pytest.raises(UserError, match="not videos of the study"):
        make_study(tmp_path, **TINY)
    make_study(tmp_path, **{**TINY, "judgements_per_pair": 3}, force=True)
    new, _ = load_study(study)
    assert new["hash"] != old["hash"]
    assert (study / "media" / "notes.txt").read_text() == "mine"
    assert (study / "media" / "intro.mp4").read_bytes() == b"not a study video"
    assert load_study(study / f"study-{old['hash'][:12]}.json")[0]["hash"] == old["hash"]  # the old key is kept
    names = {p.name for p in (study / "media").iterdir()}
    assert names == {Path(v["file"]).name for v in new["videos"].values()} | {"notes.txt", "intro.mp4"}


# ---------------------------------------------------------------------------- item 10 ---

def _results_csv(study: Path, out: Path, workers: int) -> int:
    files = export_tasks(study, "https://cdn.example.org/s", out.parent / "platform")
    rows = list(csv.DictReader(files["tasks"].open()))
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["WorkerId", "AssignmentId", "Input.task_id", "Input.video_left_url", "Input.video_right_url",
                    "Answer.choice"])
        for k in range(workers):
            for i, r in enumerate(rows):
                w.writerow([f"W{k}", f"A{k}-{i}", r["task_id"], r["video_left_url"], r["video_right_url"],
                            ("left", "right")[(i + k) % 2]])
    return workers * len(rows)


KILLED_IMPORT = """
import sys, time
from benchmark.crowd import db as dbmod
from benchmark.crowd.export import import_results

class Stall:  # the 50th stored judgement: say so, then hang until killed
    def __init__(self, con):
        object.__setattr__(self, "_con", con)
        object.__setattr__(self, "_n", 0)
    def __getattr__(self, name):
        return getattr(self._con, name)
    def __setattr__(self, name, value):
        setattr(self._con, name, value)
    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith("INSERT INTO JUDGEMENTS"):
            object.__setattr__(self, "_n", self._n + 1)
            if self._n == 50:
                print("mid-import", flush=True)
                time.sleep(60)
        return self._con.execute(sql, *args)

init = dbmod.JudgementDB.__init__
def patched(self, *a, **k):
    init(self, *a, **k)
    self._con = Stall(self._con)
dbmod.JudgementDB.__init__ = patched
import_results(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def test_import_is_one_transaction_even_when_killed(tmp_path):
    """kill -9 in the middle of an import leaves no row; the same file then imports whole."""
    study = make_study(tmp_path, **TINY)
    results = tmp_path / "results.csv"
    n = _results_csv(study, results, workers=16)  # 64 rows: killed at the 50th
    db = tmp_path / "platform.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_IMPORT, str(study), str(results), str(db)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "mid-import"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 0
    rep = import_results(study, results, db)
    assert rep["errors"] == [] and rep["imported"] == n


def test_a_csv_field_over_the_csv_modules_limit_is_a_clean_error(tmp_path, capsys):
    study = make_study(tmp_path, **TINY)
    results = tmp_path / "results.csv"
    _results_csv(study, results, workers=1)
    lines = results.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ',"' + "x" * 200_000 + '"'
    results.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"results\.csv:3: unreadable CSV"):
        import_results(study, results, tmp_path / "j.sqlite")
    from benchmark.cli import main

    assert main(["crowd", "import", str(study), str(results), "--db", str(tmp_path / "j.sqlite")]) == 2
    assert "field larger than field limit" in capsys.readouterr().err


# ---------------------------------------------------------------------------- item 11 ---

def test_the_database_is_private_and_stores_token_hashes_only(tmp_path):
    study = make_study(tmp_path, **TINY)
    db = tmp_path / "private" / "j.sqlite"
    db.parent.mkdir()
    app = CrowdApp.open(study, db)
    raters = app.ensure_raters(3)
    nxt = app.next_payload(raters[0]["id"])
    assert app.answer(raters[0]["token"], {"trial": nxt["trial"], "answer": "left"})[0] == 200
    files = [p for p in db.parent.iterdir() if p.name.startswith("j.sqlite")]
    assert {p.name for p in files} >= {"j.sqlite", "j.sqlite-wal"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files), [(p.name, oct(p.stat().st_mode)) for p in files]
    app.db.close()
    raw = b"".join(p.read_bytes() for p in db.parent.iterdir())
    for r in raters:
        assert r["token"].encode() not in raw
    import sqlite3

    with sqlite3.connect(db) as con:
        columns = [c[1] for c in con.execute("PRAGMA table_info(raters)")]
    assert "token" not in columns and "token_hash" in columns


def _serve(study: Path, *args: str) -> tuple[list[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "benchmark.cli", "crowd", "serve", str(study), "--port", "0", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        head = [proc.stdout.readline(), proc.stdout.readline()]
        m = re.search(r"(\d+) rater links in (\S+)", head[1])
        assert m, head
        links = [proc.stdout.readline().strip() for _ in range(int(m[1]))]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    return links, m[2]


def test_each_database_has_its_own_links_file(tmp_path):
    study = make_study(tmp_path, **TINY)
    main_links, main_file = _serve(study, "--raters", "2")
    assert Path(main_file) == study / "judgements.links.txt" and len(main_links) == 2
    before = Path(main_file).read_text()
    other_links, other_file = _serve(study, "--db", str(tmp_path / "other.sqlite"), "--raters", "1")
    assert Path(other_file) == tmp_path / "other.links.txt" and len(other_links) == 1
    assert Path(main_file).read_text() == before  # the main links are untouched
    assert Path(main_file).stat().st_mode & 0o777 == 0o600 and Path(other_file).stat().st_mode & 0o777 == 0o600
    # (a restart printing the same links, read back from the file: test_crash_and_restart_lose_nothing_acknowledged)


def test_revoke_a_link_and_close_the_study(tmp_path, fast_tmp, capsys):
    from benchmark.cli import main
    from benchmark.crowd.server import links_path, write_links

    study = make_study(tmp_path, **TINY)
    db = fast_tmp / "j.sqlite"
    app = CrowdApp.open(study, db)
    a, b = app.ensure_raters(2)
    write_links(links_path(db), "http://127.0.0.1:1", [a["token"], b["token"]])
    with served(app) as base:
        assert api(base, a["token"], "next")[0] == 200
        assert main(["crowd", "revoke", str(study), f"http://127.0.0.1:1/r/{a['token']}", "--db", str(db)]) == 0
        status, err = api(base, a["token"], "next")
        assert status == 403 and "revoked" in err["error"]
        assert a["token"] not in links_path(db).read_text() and b["token"] in links_path(db).read_text()
        nxt = api(base, b["token"], "next")[1]
        assert main(["crowd", "close", str(study), "--db", str(db)]) == 0
        status, err = api(base, b["token"], "answer", {"trial": nxt["trial"], "answer": "left"})
        assert status == 410 and "closed" in err["error"]
        assert api(base, b["token"], "next")[1] == {"done": True, "closed": True, "answered": 0,
                                                    "total": len(app.study["trials"])}
        results = tmp_path / "results.csv"
        _results_csv(study, results, workers=1)
        with pytest.raises(UserError, match="closed"):
            import_results(study, results, db)
        assert main(["crowd", "close", str(study), "--db", str(db), "--reopen"]) == 0
        assert api(base, b["token"], "answer", {"trial": nxt["trial"], "answer": "left"})[0] == 200
    app.db.close()
    assert main(["crowd", "revoke", str(study), "--db", str(db)]) == 2
    assert "--rater-id" in capsys.readouterr().err
