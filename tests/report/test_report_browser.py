"""The leaderboard as a browser renders it: table cells, click-to-sort, loaded galleries and plots.

Opens ``index.html`` from disk in headless Chromium (the Debian ``chromium`` package, driven by
Playwright); skipped when that browser is missing. Leaves a screenshot at ``/tmp/report.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmark.report import render_report

try:  # tests/ as a package (tests/__init__.py) or as a plain folder on sys.path
    from tests.report_fixtures import DATASET, VALUES, build_run_root
except ImportError:
    from report_fixtures import DATASET, VALUES, build_run_root

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SCREENSHOT = Path(os.environ.get("VIDBENCH_REPORT_SCREENSHOT", "/tmp/report.png"))

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"headless Chromium not installed at {CHROMIUM} (make chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    root = tmp_path_factory.mktemp("browser")
    build_run_root(root / "runs")
    index = render_report(DATASET, root / "runs", root / "out")
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            requests: list[str] = []
            pg.on("request", lambda r: requests.append(r.url))
            pg.goto(index.resolve().as_uri(), wait_until="load")
            pg.errors, pg.requests = errors, requests  # type: ignore[attr-defined]
            yield pg
        finally:
            browser.close()


def _table(page, task: str):
    return page.locator(f'table.leaderboard[data-task="{task}"]')


def _methods(page, task: str) -> list[str]:
    return _table(page, task).locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.method)")


def _column(page, task: str, metric: str) -> list[float | None]:
    """data-value of one metric column, in the current row order (None when missing)."""
    return _table(page, task).evaluate(
        """(t, metric) => {
             const col = Array.from(t.tHead.rows[0].cells).findIndex(c => c.dataset.metric === metric);
             return Array.from(t.tBodies[0].rows).map(r => {
               const v = r.cells[col].dataset.value; return v === "" ? null : parseFloat(v); });
           }""", metric)


def test_rows_and_columns(page):
    assert not page.errors, page.errors
    assert all(u.startswith("file://") for u in page.requests), "the page requested something off disk"
    assert _methods(page, "prediction") == ["real data", "alpha", "gamma", "beta"]
    assert _methods(page, "synthesis") == ["real data", "alpha", "beta"]
    head = _table(page, "prediction").locator("thead th").all_inner_texts()
    assert [h.strip() for h in head] == ["method", "psnr_best ↑", "psnr_mean ↑", "ssim_best ↑", "ssim_mean ↑",
                                         "lpips_best ↓", "fvd ↓", "files"]
    alpha = _table(page, "prediction").locator('tbody tr[data-method="alpha"] td.num').all_inner_texts()
    assert " ".join(alpha[0].split()) == "27.31 ± 0.42 (n=128)"
    assert len(alpha) == len(VALUES["alpha"]["prediction"])
    beta = _table(page, "prediction").locator('tbody tr[data-method="beta"]')
    assert "not comparable" in beta.locator("th").inner_text()
    assert beta.locator("td.best").count() == 0


def _click(page, task: str, metric: str) -> None:
    _table(page, task).locator(f'thead th[data-metric="{metric}"]').click()


def test_click_header_sorts_and_reverses(page):
    task = "prediction"
    before = _methods(page, task)
    _click(page, task, "ssim_best")  # higher is better: best first
    after = _methods(page, task)
    assert after != before
    assert after[0] == "real data"  # pinned
    values = _column(page, task, "ssim_best")[1:]
    assert values == sorted(values, reverse=True)
    assert after[1:] == ["gamma", "alpha", "beta"]
    assert _table(page, task).locator('th[data-metric="ssim_best"]').get_attribute("aria-sort") == "descending"

    _click(page, task, "ssim_best")  # second click reverses
    assert _methods(page, task) == ["real data", "beta", "alpha", "gamma"]
    values = _column(page, task, "ssim_best")[1:]
    assert values == sorted(values)

    _click(page, task, "lpips_best")  # lower is better: ascending first
    assert _methods(page, task)[1:] == ["beta", "alpha", "gamma"]
    values = _column(page, task, "lpips_best")[1:]
    assert values == sorted(values)

    _table(page, task).locator("thead th.method").click()  # text column
    assert _methods(page, task) == ["real data", "alpha", "beta", "gamma"]


def test_missing_values_sort_last(page):
    task = "prediction"
    _click(page, task, "fvd")
    assert _methods(page, task) == ["real data", "beta", "alpha", "gamma"]
    # unpin the real row (it has no PSNR): a missing value goes last in both directions
    real = _table(page, task).locator("tbody tr.real")
    real.evaluate("r => r.classList.remove('pinned')")
    try:
        _click(page, task, "psnr_best")
        assert _methods(page, task) == ["beta", "alpha", "gamma", "real data"]
        _click(page, task, "psnr_best")
        assert _methods(page, task) == ["gamma", "alpha", "beta", "real data"]
    finally:
        real.evaluate("r => r.classList.add('pinned')")


def test_images_load(page):
    page.reload(wait_until="load")  # back to the rendered order for the screenshot
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    sizes = page.locator("img.sample").evaluate_all("is => is.map(i => [i.getAttribute('src'), i.naturalWidth])")
    assert len(sizes) == 7  # 3 synthesis + 4 prediction galleries
    assert all(w > 0 for _, w in sizes), sizes
    plots = page.locator("img.plot").evaluate_all("is => is.map(i => i.naturalWidth)")
    assert len(plots) == 5 and all(w > 0 for w in plots)  # 3 curves + 2 training losses
    page.evaluate("window.scrollTo(0, 0)")
    assert _methods(page, "prediction") == ["real data", "alpha", "gamma", "beta"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
