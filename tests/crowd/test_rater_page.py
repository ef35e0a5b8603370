"""Issue 13, item 12 (and the page side of item 5): the rater page in headless Chromium — answers
unlock after one full play, the pair fits a 390 px phone, the finished screen hides the pair, a
video that fails to load can be skipped — plus the small input checks (escaped Markdown names,
formula-like worker ids, a negative --trials-per-rater)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from benchmark.crowd.analyze import analyze, markdown
from benchmark.crowd.export import export_tasks, import_results
from benchmark.crowd.server import CrowdApp
from benchmark.utils import UserError
from tests.crowd.crowd_helpers import make_study, served

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
FPS = 16  # 8 frames: one play lasts 0.5 s
browser_only = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"headless Chromium not installed at {CHROMIUM}")


@pytest.fixture(scope="module")
def page_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    study = make_study(root, systems=("real", "zeta_lstm"), judgements_per_pair=2, checks=0, fps=FPS)
    app = CrowdApp.open(study, root / "j.sqlite")
    with served(app) as base:
        yield app, base
    app.db.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, page_app, **context):
    app, base = page_app
    (rater,) = app.ensure_raters(len(app.db.raters("lab")) + 1)[-1:]
    page = browser.new_page(**context)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # media events do not bubble, but a capture listener on the document sees them first
    page.add_init_script("document.addEventListener('loadeddata', () => { window.__loaded = window.__loaded || "
                         "performance.now(); }, true);")
    page.goto(f"{base}/r/{rater['token']}")
    return page, rater, errors


def _answer(page, key: str = "ArrowLeft") -> None:
    page.wait_for_selector("body[data-state=ready]", timeout=10000)
    before = page.inner_text("#progress")
    page.keyboard.press(key)
    page.wait_for_function("b => document.querySelector('#progress').textContent !== b", arg=before, timeout=10000)


@browser_only
def test_answer_buttons_unlock_only_after_both_clips_played_once(browser, page_app):
    page, _, errors = _open(browser, page_app)
    try:
        page.wait_for_function("() => window.__loaded !== undefined", timeout=10000)  # a function: CSP forbids eval
        assert page.get_attribute("#buttons button[data-answer=left]", "disabled") is not None
        page.wait_for_selector("body[data-state=ready]", timeout=10000)
        waited = page.evaluate("performance.now() - window.__loaded")
        assert waited >= 0.9 * 1000 * 8 / FPS, f"answers unlocked {waited:.0f} ms after the clips loaded"
        assert page.get_attribute("#buttons button[data-answer=left]", "disabled") is None
    finally:
        page.close()
    assert not errors, errors


@browser_only
def test_the_pair_fits_a_390px_phone_screen(browser, page_app):
    page, _, errors = _open(browser, page_app, viewport={"width": 390, "height": 844})
    try:
        page.wait_for_selector("body[data-state=ready]", timeout=10000)
        box = page.evaluate("""() => {
            const r = id => document.getElementById(id).getBoundingClientRect();
            const buttons = [...document.querySelectorAll('#buttons button')].map(b => b.getBoundingClientRect());
            return {scroll: document.documentElement.scrollWidth, left: r('left'), right: r('right'),
                    buttonsRight: Math.max(...buttons.map(b => b.right)), buttonsBottom: Math.max(...buttons.map(b => b.bottom))};
        }""")
    finally:
        page.close()
    assert box["scroll"] <= 390, box
    assert 0 <= box["left"]["left"] and box["left"]["right"] <= box["right"]["left"] and box["right"]["right"] <= 390
    assert box["left"]["width"] >= 140 and box["left"]["height"] >= 140  # side by side, still large
    assert box["buttonsRight"] <= 390 and box["buttonsBottom"] <= 844  # answers reachable without scrolling
    assert not errors, errors


@browser_only
def test_the_finished_screen_hides_the_pair(browser, page_app):
    page, _, errors = _open(browser, page_app)
    try:
        _answer(page, "ArrowLeft")
        _answer(page, "ArrowRight")
        page.wait_for_selector("body[data-state=done]", timeout=10000)
        assert page.is_visible("#done") and not page.is_visible("#pair") and not page.is_visible("#buttons")
        assert page.evaluate("[...document.querySelectorAll('video')].every(v => v.paused && v.readyState === 0 && !v.getAttribute('src'))")
    finally:
        page.close()
    assert not errors, errors


@browser_only
def test_a_video_that_fails_to_load_can_be_skipped(browser, page_app):
    app, _ = page_app
    page, rater, errors = _open(browser, page_app)
    try:
        page.route("**/m/*", lambda route: route.abort())  # the first pair's videos do not load
        page.reload()
        page.wait_for_selector("body[data-state=error]", timeout=10000)
        assert page.is_visible("#skip") and "did not load" in page.inner_text("#status")
        page.unroute("**/m/*")
        page.click("#skip")
        page.wait_for_selector("body[data-state=ready]", timeout=10000)  # the next pair plays
        assert page.inner_text("#progress") == "1 / 2"
    finally:
        page.close()
    assert not errors, errors
    skips = [s for s in app.db.skips() if s["rater_id"] == rater["id"]]
    assert len(skips) == 1 and skips[0]["reason"] == "video-error"


# ------------------------------------------------------------------ small input checks ---

def test_markdown_escapes_system_names():
    evil = "x|y <script>alert(1)</script> *z*"
    videos = {"a": {"system": "real", "check": None}, "b": {"system": evil, "check": None}}
    trial = {"id": "t", "pair": ["real", evil], "videos": ["a", "b"], "a_left": True, "left": "a", "right": "b",
             "left_system": "real", "check": None}
    study = {"name": "s|1", "hash": "h" * 64, "dataset": "d", "task": "prediction", "question": "Which | one?",
             "answers": ["left", "right"], "systems": ["real", evil], "pairs": [["real", evil]], "trials": [trial],
             "videos": videos, "frames": 8, "config": {"fps": 8}}
    js = [{"rater_id": 1, "trial_id": "t", "answer": "left", "rater_source": "lab", "left_video": "a",
           "right_video": "b"}]
    md = markdown(analyze(study, js, keep_unchecked=True))
    assert "<script>" not in md and "&lt;script&gt;" in md
    for line in md.splitlines():
        if line.startswith("| real ") or line.startswith("| x"):
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) - 2 == 3 or len(cells) - 2 == 6, line  # matrix row (3 cells) or pair row (6)


def test_import_refuses_formula_like_worker_ids(tmp_path):
    study = make_study(tmp_path, systems=("real", "zeta_lstm"), judgements_per_pair=2, checks=2)
    files = export_tasks(study, "https://cdn.example.org/s", tmp_path / "platform")
    rows = list(csv.DictReader(files["tasks"].open()))
    results = tmp_path / "results.csv"
    workers = ["@SUM(A1)", "-2+3", "+1", "=HYPERLINK(1)", "@cmd", "-x", "W.ok_1"]
    with results.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["WorkerId", "Input.task_id", "Input.video_left_url", "Input.video_right_url", "Answer.choice"])
        for worker in workers:
            r = rows[0]
            w.writerow([worker, r["task_id"], r["video_left_url"], r["video_right_url"], "left"])
    rep = import_results(study, results, tmp_path / "j.sqlite", skip_invalid=True)
    assert [line for line, msg in rep["errors"] if "bad worker id" in msg] == list(range(2, 2 + len(workers) - 1))
    assert rep["imported"] == 1


def test_negative_trials_per_rater_is_an_error(tmp_path, capsys):
    study = make_study(tmp_path, systems=("real", "zeta_lstm"), judgements_per_pair=1, checks=0)
    app = CrowdApp.open(study, tmp_path / "j.sqlite")
    try:
        for bad in (-3, 0):
            with pytest.raises(UserError, match="trials per rater"):
                app.ensure_raters(1, trials_per_rater=bad)
        assert app.db.raters() == []
    finally:
        app.db.close()
    from benchmark.cli import main

    assert main(["crowd", "serve", str(study), "--trials-per-rater", "-3", "--port", "0"]) == 2
    assert "--trials-per-rater must be >= 1" in capsys.readouterr().err
