"""The rater web app in headless Chromium: open the personal link, answer with clicks and keys,
reload and resume; the judgements are in the database. Skipped when Chromium is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.crowd.demo import DATASET, build_demo_runs
from benchmark.crowd.design import StudyConfig, design_study
from benchmark.crowd.server import CrowdApp, serve_in_thread

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"headless Chromium not installed at {CHROMIUM}")


def test_rater_answers_with_clicks_and_keys_reloads_and_resumes(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    build_demo_runs(tmp_path / "runs", methods=("zeta_lstm", "omega_gan"))
    cfg = StudyConfig(dataset=DATASET, task="prediction", systems=("real", "zeta_lstm", "omega_gan"),
                      judgements_per_pair=2, answers=3, checks=2)
    design_study(cfg, tmp_path / "runs", tmp_path / "study", real_source="run")
    app = CrowdApp.open(tmp_path / "study")
    (rater,) = app.ensure_raters(1)
    total = len(app.study["trials"])  # 3 pairs x 2 + 2 checks = 8
    server, thread = serve_in_thread(app)
    host, port = server.server_address[:2]
    link = f"http://{host}:{port}/r/{rater['token']}"
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(link)

                def answer(how: str) -> None:
                    page.wait_for_selector("body[data-state=ready]", timeout=10000)
                    before = page.inner_text("#progress")
                    if how.startswith("click:"):
                        page.click(f"#buttons button[data-answer={how[6:]}]")
                    else:
                        page.keyboard.press(how)
                    page.wait_for_function("b => document.querySelector('#progress').textContent !== b",
                                           arg=before, timeout=10000)

                page.wait_for_selector("body[data-state=ready]", timeout=10000)
                assert page.inner_text("#progress") == f"0 / {total}"
                assert page.inner_text("#question") == "Which video is more realistic?"
                played = page.evaluate("[...document.querySelectorAll('video')].map(v => [v.readyState, v.videoWidth])")
                assert all(rs >= 2 and w == 16 for rs, w in played), played
                answer("click:left")
                answer("ArrowRight")
                answer("Space")
                assert page.inner_text("#progress") == f"3 / {total}"

                page.reload()  # resume: the server knows where this rater stopped
                page.wait_for_selector("body[data-state=ready]", timeout=10000)
                assert page.inner_text("#progress") == f"3 / {total}"
                answer("click:same")
                for key in ("f", "j", "ArrowLeft", "ArrowDown"):
                    answer(key)
                page.wait_for_selector("body[data-state=done]", timeout=10000)
                assert page.is_visible("#done")
                assert page.inner_text("#progress") == f"{total} / {total}"
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    rows = app.db.judgements()
    app.db.close()
    assert not errors, errors
    assert [r["answer"] for r in rows] == ["left", "right", "same", "same", "left", "right", "left", "same"]
    assert [r["position"] for r in rows] == list(range(total))
    assert len({r["trial_id"] for r in rows}) == total
    assert all(r["client_ms"] is not None and r["served_at"] <= r["answered_at"] for r in rows)
