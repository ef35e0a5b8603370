"""Crowd studies end to end without a browser: design, blinding, rejections, concurrency,
crash safety, platform export/import, analysis and the leaderboard section."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from benchmark.crowd.analyze import analyze_study
from benchmark.crowd.demo import DATASET, build_demo_runs
from benchmark.crowd.design import StudyConfig, design_study, load_study
from benchmark.crowd.export import export_tasks, import_results
from benchmark.crowd.server import CrowdApp, serve_in_thread
from benchmark.utils import UserError

METHODS = ("zeta_lstm", "omega_gan")
SYSTEMS = ("real", *METHODS)
REPO = Path(__file__).resolve().parents[2]


def _config(**kw) -> StudyConfig:
    base = dict(dataset=DATASET, task="prediction", systems=SYSTEMS, judgements_per_pair=4, answers=3, checks=4)
    return StudyConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crowd")
    build_demo_runs(root / "runs", methods=METHODS)
    design_study(_config(), root / "runs", root / "study", real_source="run")
    return root / "study"


def _http(method: str, url: str, body: dict | bytes | None = None, timeout: float = 10) -> tuple[int, bytes, dict]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def _api(base: str, token: str, verb: str, body: dict | None = None) -> tuple[int, dict]:
    status, raw, _ = _http("POST" if body is not None else "GET", f"{base}/api/{token}/{verb}", body)
    return status, json.loads(raw)


@pytest.fixture()
def served(study_dir, tmp_path):
    app = CrowdApp.open(study_dir, tmp_path / "j.sqlite")
    server, thread = serve_in_thread(app)
    host, port = server.server_address[:2]
    try:
        yield app, f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        app.db.close()


# ------------------------------------------------------------------------------ design ---

def test_design_is_deterministic_balanced_and_shares_context(study_dir, tmp_path):
    study, _ = load_study(study_dir)
    again = tmp_path / "again"  # the same inputs and the same secret: the same study, byte for byte
    design_study(_config(), study_dir.parent / "runs", again, real_source="run", secret=bytes.fromhex(study["secret"]))
    assert (again / "study.json").read_bytes() == (study_dir / "study.json").read_bytes()
    other = tmp_path / "other"
    design_study(_config(seed=1), study_dir.parent / "runs", other, real_source="run",
                 secret=bytes.fromhex(study["secret"]))
    assert load_study(other)[0]["hash"] != study["hash"]

    regular = [t for t in study["trials"] if not t["check"]]
    checks = [t for t in study["trials"] if t["check"]]
    assert len(regular) == 3 * 4 and len(checks) == 4
    for a, b in study["pairs"]:
        trials = [t for t in regular if t["pair"] == [a, b]]
        assert sum(t["a_left"] for t in trials) == 2  # balanced left/right (as a platform shows them)
    for kind in ("shuffle", "noise"):  # ... and per check kind: the kind does not predict the side
        assert sorted(t["a_left"] for t in checks if t["check"] == kind) == [False, True]
    # prediction: both videos of a pair come from the same clip, so they share the context frames
    from benchmark.video import read_video

    c = study["context_frames"]
    assert c == 3
    for t in regular[:4] + checks:
        left, right = (read_video(study_dir / study["videos"][v]["file"]).astype(float) for v in t["videos"])
        assert np.abs(left[:c] - right[:c]).mean() < 4  # the same context (lossy H.264, per-copy dither)
        assert np.abs(left[c:] - right[c:]).mean() > np.abs(left[:c] - right[:c]).mean()
    assert all(re.fullmatch(r"[0-9a-f]{24}\.mp4", p.name) for p in (study_dir / "media").iterdir())


def test_tampered_study_is_refused(study_dir, tmp_path):
    data = json.loads((study_dir / "study.json").read_text())
    data["trials"][0]["a_left"] = not data["trials"][0]["a_left"]
    (tmp_path / "study.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="hash mismatch"):
        load_study(tmp_path)


def test_design_with_real_clips_from_the_dataset(small_data_root, tmp_path):
    """'real' = the dataset's test clips; method samples built on them (as `benchmark run` writes)."""
    from benchmark.data import load_dataset
    from benchmark.video import save_npz

    from tests.conftest import SMALL_SPLITS

    ds = load_dataset(DATASET, small_data_root, split_sizes=SMALL_SPLITS)
    protocol, ref = ds.reference("prediction")
    clips = np.asarray(ref.videos)[:4]  # (N, T, C, H, W)
    rng = np.random.default_rng(0)
    fake = np.repeat(clips, 2, axis=0).copy()
    fake[:, protocol.context_frames:] = rng.integers(0, 256, fake[:, protocol.context_frames:].shape, dtype=np.uint8)
    folder = tmp_path / "runs" / DATASET / "zeta_lstm" / "smoke" / "seed0"
    save_npz(folder / "samples" / "prediction.npz", fake, num_samples=np.array(2),
             context_frames=np.array(protocol.context_frames))
    cfg = StudyConfig(dataset=DATASET, task="prediction", systems=("real", "zeta_lstm"), judgements_per_pair=2,
                      checks=2)
    design_study(cfg, tmp_path / "runs", tmp_path / "study", data_root=small_data_root,
                 dataset_options={"split_sizes": SMALL_SPLITS})
    study, _ = load_study(tmp_path / "study")
    assert study["sources"]["real"]["sha256"] == ref.content_hash
    assert study["context_frames"] == protocol.context_frames and study["num_clips"] == 4


# ------------------------------------------------------------------------------ server ---

MEDIA_URL_RE = re.compile(r"/m/[A-Za-z0-9_-]{22}\.mp4")
BLIND_RE = re.compile(r"zeta|omega|lstm|\bgan\b|\breal\b|check|attention|shuffle|noise|broken|sentinel|system"
                      r"|expected|left_system|\"pair\"\s*:", re.I)  # "method" is HTTP's (fetch)


def _without_coded_stream(data: bytes) -> bytes:
    """An MP4 file's bytes without the payload of its top-level ``mdat`` box (the compressed samples): a
    served video could reveal a system only through its metadata boxes, while the coded stream is
    arbitrary bytes in which a short word such as "gan" turns up by chance. Other data is returned whole.

    >>> box = lambda kind, body: (8 + len(body)).to_bytes(4, "big") + kind + body
    >>> _without_coded_stream(box(b"ftyp", b"isom") + box(b"mdat", b" gan ") + box(b"moov", b"x"))
    b'\\x00\\x00\\x00\\x0cftypisom\\x00\\x00\\x00\\rmdat\\x00\\x00\\x00\\tmoovx'
    """
    if data[4:8] != b"ftyp":
        return data
    kept, i = [], 0
    while i + 8 <= len(data):
        size, kind = int.from_bytes(data[i:i + 4], "big"), data[i + 4:i + 8]
        if size == 1:
            size = int.from_bytes(data[i + 8:i + 16], "big")
        elif size == 0:
            size = len(data) - i
        if size < 8:
            return data  # not a box structure after all: scan every byte
        kept.append(data[i:i + 8] if kind == b"mdat" else data[i:i + size])
        i += size
    return b"".join(kept) + data[i:]


def test_blinding_nothing_served_reveals_systems_or_checks(served):
    app, base = served
    (rater,) = app.ensure_raters(1)
    token = rater["token"]
    seen: list[tuple[str, bytes, dict]] = []
    status, page, headers = _http("GET", f"{base}/r/{token}")
    assert status == 200
    seen.append(("page", page, headers))
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.decode()):
        seen.append((asset, *_http("GET", base + asset)[1:]))
    answers = app.study["answers"]
    videos: set[str] = set()
    for i in range(len(app.study["trials"]) + 1):
        status, raw, headers = _http("GET", f"{base}/api/{token}/next")
        seen.append(("next", raw, headers))
        nxt = json.loads(raw)
        if nxt["done"]:
            break
        videos.update((nxt["left"], nxt["right"]))
        assert set(nxt) == {"done", "trial", "left", "right", "answered", "total"}
        status, raw, headers = _http("POST", f"{base}/api/{token}/answer",
                                     {"trial": nxt["trial"], "answer": answers[i % len(answers)], "client_ms": 900})
        assert status == 200
        seen.append(("answer", raw, headers))
    assert nxt["done"] and nxt["answered"] == len(app.study["trials"])
    assert len(videos) == 2 * len(app.study["trials"])  # one URL per (trial, side): none recurs
    for url in sorted(videos):
        assert MEDIA_URL_RE.fullmatch(url)
        status, data, headers = _http("GET", base + url)
        assert status == 200 and data[4:8] == b"ftyp"
        seen.append((url, data, headers))
    # nothing served names a study video file or a study trial id (those are the experimenter's key)
    secrets_ = set(app.study["videos"]) | {t["id"] for t in app.study["trials"]}
    for what, data, headers in seen:
        text = _without_coded_stream(data).decode("latin-1") + " " + " ".join(f"{k}: {v}" for k, v in headers.items())
        hits = BLIND_RE.findall(text)
        assert not hits, f"{what} reveals {hits[:5]}"
        assert not [x for x in secrets_ if x in text], what


def test_rejections_forged_tokens_bad_answers_replays(served):
    app, base = served
    a, b = app.ensure_raters(2)
    assert _http("GET", f"{base}/r/forged-token-123456")[0] == 403
    assert _api(base, "forged-token-123456", "next")[0] == 403
    nxt = _api(base, a["token"], "next")[1]
    trial = nxt["trial"]
    # a forged token cannot answer; another rater does not even know this trial's id (ids are per rater);
    # a trial of one's own that was never shown cannot be answered
    assert _api(base, "forged-token-123456", "answer", {"trial": trial, "answer": "left"})[0] == 403
    assert _api(base, b["token"], "answer", {"trial": trial, "answer": "left"})[0] == 404
    unseen = app.db.assigned(a["id"])[1]["ref"]
    assert _api(base, a["token"], "answer", {"trial": unseen, "answer": "left"})[0] == 409
    # answers outside the set, injection attempts and junk bodies
    for bad in ("LEFT", "up", "left'; DROP TABLE judgements; --", None, 1):
        assert _api(base, a["token"], "answer", {"trial": trial, "answer": bad})[0] == 400
    assert _api(base, a["token"], "answer", {"trial": "x' OR '1'='1", "answer": "left"})[0] == 404
    assert _http("POST", f"{base}/api/{a['token']}/answer", b"not json")[0] == 400
    assert _http("POST", f"{base}/api/{a['token']}/answer", b"x" * 5000)[0] == 413
    assert _http("GET", f"{base}/m/../study.json")[0] == 404
    assert _http("GET", f"{base}/m/{'0' * 24}.mp4")[0] == 404
    # the real answer once; the replay is refused
    assert _api(base, a["token"], "answer", {"trial": trial, "answer": "left"})[0] == 200
    status, err = _api(base, a["token"], "answer", {"trial": trial, "answer": "right"})
    assert status == 409 and "already" in err["error"]
    rows = app.db.judgements()
    first_trial = app.db.assigned(a["id"])[0]["trial_id"]
    assert [(r["rater_id"], r["trial_id"], r["answer"]) for r in rows] == [(a["id"], first_trial, "left")]
    reasons = app.db.rejection_counts()
    assert reasons["unknown-token"] >= 3 and reasons["bad-answer"] == 5
    assert reasons["duplicate"] == 1 and reasons["not-served"] == 1 and reasons["malformed"] == 2
    with sqlite3.connect(app.db.path) as con:  # the tables survived the injection attempt
        assert con.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 1
    # a range request (browsers loop videos with them)
    url = base + nxt["left"]
    req = urllib.request.Request(url, headers={"Range": "bytes=0-9"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 206 and len(r.read()) == 10


def test_concurrent_raters_nothing_lost_or_duplicated(served):
    app, base = served
    raters = app.ensure_raters(50, trials_per_rater=4)
    acked: list[tuple[int, str, str]] = []
    replay_codes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    answers = app.study["answers"]
    start = threading.Barrier(len(raters))

    def rater_loop(i: int, rater: dict) -> None:
        try:
            start.wait(10)
            for step in range(20):  # bounded: 8 trials each, so 20 steps always suffice
                status, nxt = _api(base, rater["token"], "next")
                if nxt.get("done"):
                    return
                answer = answers[(i + step) % len(answers)]
                status, res = _api(base, rater["token"], "answer", {"trial": nxt["trial"], "answer": answer})
                if status == 200:
                    with lock:
                        acked.append((rater["id"], nxt["trial"], answer))
                    if step % 3 == 0:  # replay the acknowledged answer
                        code, _ = _api(base, rater["token"], "answer", {"trial": nxt["trial"], "answer": answer})
                        with lock:
                            replay_codes.append(code)
            errors.append(f"rater {i} did not finish")
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(repr(e))

    threads = [threading.Thread(target=rater_loop, args=(i, r)) for i, r in enumerate(raters)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:3]
    trial_of = {a["ref"]: a["trial_id"] for r in raters for a in app.db.assigned(r["id"])}  # per-rater ids
    acked = [(rid, trial_of[ref], answer) for rid, ref, answer in acked]
    stored = [(r["rater_id"], r["trial_id"], r["answer"]) for r in app.db.judgements()]
    assert len(acked) == 50 * 8  # 4 regular + 4 attention trials each
    assert sorted(stored) == sorted(acked) and len(set(stored)) == len(stored)
    assert replay_codes and set(replay_codes) == {409}
    print(f"{len(acked)} judgements from 50 concurrent raters in {time.time() - t0:.2f}s")


def test_crash_and_restart_lose_nothing_acknowledged(study_dir, tmp_path):
    db = tmp_path / "crash.sqlite"
    cmd = [sys.executable, "-m", "benchmark.cli", "crowd", "serve", str(study_dir), "--db", str(db),
           "--port", "0", "--raters", "2"]

    def start() -> tuple[subprocess.Popen, str, list[str]]:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        lines = [proc.stdout.readline() for _ in range(4)]
        m = re.search(r"at (http://127\.0\.0\.1:\d+)", lines[0])
        assert m, lines
        return proc, m[1], [line.strip() for line in lines[2:]]

    proc, base, links = start()
    try:
        tokens = [link.rsplit("/", 1)[1] for link in links]
        acked = []
        for token in tokens:
            for _ in range(3):
                nxt = _api(base, token, "next")[1]
                assert _api(base, token, "answer", {"trial": nxt["trial"], "answer": "left"})[0] == 200
                acked.append((token, nxt["trial"]))
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean shutdown
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    from benchmark.crowd.db import token_hash

    with sqlite3.connect(db) as con:  # tokens are stored hashed; trial ids the rater saw are their own
        rows = con.execute("SELECT r.token_hash, a.ref FROM judgements j JOIN raters r ON r.id = j.rater_id "
                           "JOIN assignments a ON a.rater_id = j.rater_id AND a.trial_id = j.trial_id").fetchall()
    assert sorted(rows) == sorted((token_hash(t), ref) for t, ref in acked)
    proc, base, links2 = start()
    try:
        assert [x.rsplit("/", 1)[1] for x in links2] == tokens  # same raters, same links
        status, nxt = _api(base, tokens[0], "next")
        assert status == 200 and nxt["answered"] == 3  # resumes where the rater stopped
        assert (tokens[0], nxt["trial"]) not in acked
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


# ------------------------------------------------------------------ platform & analysis ---

def test_export_import_analyze_and_leaderboard(study_dir, tmp_path):
    files = export_tasks(study_dir, "https://videos.example.org/study1/", tmp_path / "platform")
    study, _ = load_study(study_dir)
    import csv

    rows = list(csv.DictReader(files["tasks"].open()))
    assert len(rows) == len(study["trials"]) and set(rows[0]) == {"task_id", "video_left_url", "video_right_url"}
    html = files["question"].read_text()
    assert "${video_left_url}" in html and 'value="same"' in html and not BLIND_RE.search(
        html.replace("Which video is more realistic?", ""))
    trials = {t["id"]: t for t in study["trials"]}
    lefts = [study["videos"][r["video_left_url"].rsplit("/", 1)[1][:-4]] for r in rows]
    assert all(u.startswith("https://videos.example.org/study1/") for r in rows for u in list(r.values())[1:])
    assert len({u for r in rows for u in list(r.values())[1:]}) == 2 * len(rows)  # no file in two tasks

    # A platform results file: 5 workers x every task; worker W4 fails the checks.
    out = ["WorkerId,AssignmentId,Input.task_id,Input.video_left_url,Input.video_right_url,Answer.choice,"
           "WorkTimeInSeconds,AssignmentStatus"]
    for w in range(5):
        for i, r in enumerate(rows):
            t = trials[r["task_id"]]
            if t["check"]:
                expected = "left" if lefts[i]["check"] is None else "right"
                ans = expected if w != 4 else ("left" if expected == "right" else "right")
            else:  # zeta_lstm preferred over everything but real; real preferred over all
                rank = {"real": 0, "zeta_lstm": 1, "omega_gan": 2}
                a, b = t["pair"]
                better = a if rank[a] < rank[b] else b
                ans = "left" if lefts[i]["system"] == better else "right"
                if (w + i) % 5 == 0:
                    ans = "same"
            out.append(f"W{w},A{w}-{i},{r['task_id']},{r['video_left_url']},{r['video_right_url']},{ans},12,Approved")
    good = tmp_path / "results.csv"
    good.write_text("\n".join(out) + "\n")
    bad = tmp_path / "bad.csv"
    lines = out[:3] + [
        out[3].replace(",left,", ",maybe,").replace(",right,", ",maybe,").replace(",same,", ",maybe,"),
        out[4].replace("W0,", "W0' OR 1=1,"),
        out[5].replace(rows[4]["video_left_url"], rows[4]["video_right_url"], 1),
        out[1].replace("A0-0", "A0-dup"),  # the same worker answering the same task twice
    ]
    bad.write_text("\n".join(lines) + "\n")
    db = tmp_path / "platform.sqlite"
    rep = import_results(study_dir, bad, db)
    assert rep["imported"] == 0 and len(rep["errors"]) == 4  # all-or-nothing
    assert [e[0] for e in rep["errors"]] == [4, 5, 6, 7]
    rep = import_results(study_dir, good, db)
    assert rep["imported"] == 5 * len(rows) and not rep["errors"]
    rep = import_results(study_dir, good, db)  # the same file again: every row is a replay
    assert rep["imported"] == 0 and len(rep["errors"]) == 5 * len(rows)

    report_dir = tmp_path / "reports" / DATASET
    result, path = analyze_study(study_dir, db, report_dir / "crowd" / study["name"])
    assert result["raters"]["total"] == 5 and result["raters"]["failed"] == 1 and result["raters"]["kept"] == 4
    assert result["study_hash"] == study["hash"]
    pair = next(p for p in result["pairs"] if (p["a"], p["b"]) == ("real", "zeta_lstm"))
    assert pair["prefer_a"]["rate"] == 1.0 and pair["ties"] > 0
    bt = dict(zip(result["bradley_terry"]["systems"], result["bradley_terry"]["scores"]))
    assert bt["real"] > bt["zeta_lstm"] > bt["omega_gan"]
    assert path.with_suffix(".md").read_text().count("|") > 20

    # The leaderboard shows the study beside the automatic metrics.
    from benchmark.report import render_report

    from tests.report_fixtures import build_run_root

    build_run_root(tmp_path / "runs")
    index = render_report(DATASET, tmp_path / "runs", report_dir).read_text()
    assert 'class="crowd-study"' in index and study["hash"][:12] in index
    assert 'class="raters-kept">4<' in index and 'class="raters-total">5<' in index
    assert 'class="chance-pass">11.1%<' in index  # 4 checks, 3 answers, >= 75% right: 9/81
    assert "Vondrick et al. 2016 Table 1" in index and "Walker et al. 2021 Table 1" in index and "Bradley–Terry" in index
    assert index.index('id="prediction') < index.index('class="crowd-study"')


def test_cli_design_and_analyze(tmp_path, capsys):
    from benchmark.cli import main

    build_demo_runs(tmp_path / "runs", methods=METHODS, task="synthesis")
    rc = main(["crowd", "design", "--dataset", DATASET, "--task", "synthesis", "--systems", "zeta_lstm,omega_gan",
               "--runs", str(tmp_path / "runs"), "--real-source", "run", "--judgements", "3", "--checks", "2",
               "--out", str(tmp_path / "s")])
    assert rc == 0 and "5 trials (2 attention checks)" in capsys.readouterr().out
    app = CrowdApp.open(tmp_path / "s")
    (r,) = app.ensure_raters(1)
    for _ in range(5):
        nxt = app.next_payload(r["id"])
        assert app.answer(r["token"], {"trial": nxt["trial"], "answer": "left"})[0] == 200
    app.db.close()
    rc = main(["crowd", "analyze", str(tmp_path / "s"), "--out", str(tmp_path / "out" / "s"), "--keep-unchecked"])
    assert rc == 0 and (tmp_path / "out" / "s.json").is_file()
    assert main(["crowd", "design", "--dataset", DATASET, "--systems", "zeta_lstm", "--runs", str(tmp_path)]) == 2
