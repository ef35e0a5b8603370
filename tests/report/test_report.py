"""The HTML leaderboard: files written, table contents, links, labels (no browser needed)."""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from benchmark.data.base import Protocol
from benchmark.report import render_report
from benchmark.report.render import describe_protocol, format_metric, read_train_log
from benchmark.results import COLUMNS
from benchmark.utils import UserError, read_json

try:  # tests/ as a package (tests/__init__.py) or as a plain folder on sys.path
    from tests.report_fixtures import DATASET, PRED, VALUES, build_run_root, expected_row_count
except ImportError:
    from report_fixtures import DATASET, PRED, VALUES, build_run_root, expected_row_count


class _Page(HTMLParser):
    """Collects links and the leaderboard tables: ``tables[i] = {"attrs", "head", "rows"}``."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, dict]] = []  # (tag, url, attrs)
        self.tables: list[dict] = []
        self._cell: dict | None = None
        self._in_head = False
        self._in_table = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("a", "img", "video", "script", "link") and (a.get("href") or a.get("src")):
            self.links.append((tag, a.get("href") or a.get("src"), a))
        if tag == "table" and "leaderboard" in (a.get("class") or ""):
            self.tables.append({"attrs": a, "head": [], "rows": []})
            self._in_table = True
        elif not self._in_table:
            return
        if tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.tables[-1]["rows"].append({"attrs": a, "cells": []})
        elif tag in ("td", "th"):
            self._cell = {"attrs": a, "text": ""}
            if self._in_head:
                self.tables[-1]["head"].append(self._cell)
            elif self.tables[-1]["rows"]:
                self.tables[-1]["rows"][-1]["cells"].append(self._cell)

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        if tag in ("td", "th") and self._cell is not None:
            self._cell["text"] = " ".join(self._cell["text"].split())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    results = build_run_root(root / "runs")
    index = render_report(DATASET, root / "runs", root / "reports" / DATASET)
    return {"root": root, "index": index, "out": index.parent, "results": results,
            "html": index.read_text(), "page": _parse(index.read_text())}


def _table(report, task: str) -> dict:
    return next(t for t in report["page"].tables if t["attrs"]["data-task"] == task)


def test_writes_index_csv_and_assets(report):
    out = report["out"]
    assert report["index"] == out / "index.html"
    assert (out / "results.csv").is_file() and (out / "assets").is_dir()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_results_csv_is_the_long_table(report):
    df = pd.read_csv(report["out"] / "results.csv")
    assert tuple(df.columns) == COLUMNS
    assert len(df) == expected_row_count()
    assert set(df["method"]) == set(VALUES)
    assert set(df.loc[df["method"] == "beta", "comparable"]) == {False}
    row = df[(df["method"] == "alpha") & (df["metric"] == "psnr_best")].iloc[0]
    assert row["value"] == pytest.approx(27.3123) and row["n"] == 128 and row["protocol"] == "prediction-5to15"


def test_one_table_per_task_protocol_with_every_method(report):
    tables = {(t["attrs"]["data-task"], t["attrs"]["data-protocol"]): t for t in report["page"].tables}
    assert set(tables) == {("synthesis", "synthesis-16"), ("prediction", "prediction-5to15")}
    methods = {k: [r["attrs"]["data-method"] for r in t["rows"]] for k, t in tables.items()}
    assert methods[("prediction", "prediction-5to15")][0] == "real data"
    assert sorted(methods[("prediction", "prediction-5to15")]) == ["alpha", "beta", "gamma", "real data"]
    assert sorted(methods[("synthesis", "synthesis-16")]) == ["alpha", "beta", "real data"]
    head = [c["text"] for c in tables[("prediction", "prediction-5to15")]["head"]]
    assert head[0] == "method" and "psnr_best ↑" in head and "lpips_best ↓" in head and "fvd ↓" in head


def test_protocol_line_and_metric_settings(report):
    text = _text(report["html"])
    assert "5 context → 15 future frames · 64×64 px · 3 channels (RGB) · split: test · n = 128 clips · " \
           "k = 10 samples per context" in text
    assert "16 frames · 64×64 px · 3 channels (RGB) · split: test · n = 256 clips" in text
    assert "extractor=i3d_400, frames=16, resize=224" in text
    assert "window=11, gaussian=True, sigma=1.5, data_range=1.0" in text


def test_values_shown_with_ci_and_n(report):
    text = _text(report["html"])
    assert "27.31 ± 0.42 (n=128)" in text  # alpha psnr_best
    assert "0.8477 ± 0.0055 (n=128)" in text  # gamma ssim_best
    assert "421 ± 15 (n=256)" in text  # alpha synthesis fvd
    gamma = next(r for r in _table(report, "prediction")["rows"] if r["attrs"]["data-method"] == "gamma")
    fvd = gamma["cells"][-2]  # no CI recorded: value and n only
    assert fvd["text"] == "350.9 (n=128)" and fvd["attrs"]["data-value"] == "350.9"


def test_not_comparable_labelled_and_never_best(report):
    for task in ("prediction", "synthesis"):
        rows = _table(report, task)["rows"]
        beta = next(r for r in rows if r["attrs"]["data-method"] == "beta")
        assert "not-comparable" in beta["attrs"]["class"]
        assert "not comparable" in beta["cells"][0]["text"]
        for r in rows:
            best = [c for c in r["cells"] if "best" in c["attrs"].get("class", "").split()]
            if r["attrs"]["data-method"] in ("beta", "real data"):
                assert not best, f"{task}: {r['attrs']['data-method']} marked best"
        # comparable rows sort before not-comparable ones; real stays first
        assert [r["attrs"]["data-method"] for r in rows][-1] == "beta"
    pred = _table(report, "prediction")
    names = [c["attrs"].get("data-metric") for c in pred["head"]]
    alpha = next(r for r in pred["rows"] if r["attrs"]["data-method"] == "alpha")
    gamma = next(r for r in pred["rows"] if r["attrs"]["data-method"] == "gamma")
    # beta has the highest PSNR and lowest LPIPS/FVD, yet alpha is best among comparable runs
    for metric, winner in (("psnr_best", alpha), ("lpips_best", alpha), ("fvd", alpha), ("ssim_best", gamma)):
        assert "best" in winner["cells"][names.index(metric)]["attrs"]["class"].split(), metric


def test_real_row_is_pinned(report):
    for t in report["page"].tables:
        first = t["rows"][0]
        assert first["attrs"]["data-method"] == "real data"
        assert "pinned" in first["attrs"]["class"] and "real" in first["attrs"]["class"]


def test_links_resolve_offline(report):
    out = report["out"]
    links = [link for link in report["page"].links if not link[1].startswith("#")]
    assert links
    for tag, url, _ in links:
        assert not re.match(r"^(https?:)?//", url), f"remote {tag} link {url}"
        assert (out / url).is_file(), f"{tag} link {url} does not resolve"
    manifests = [url for tag, url, a in links if "manifest" in (a.get("class") or "")]
    assert len(manifests) == sum(len(t["rows"]) for t in report["page"].tables)
    for url in manifests:
        assert read_json(out / url)["schema"] == "vidbench.manifest/1"
    srcs = [url for tag, url, a in links if tag == "img"]
    assert sum("gallery" in s for s in srcs) == 7  # 3 synthesis + 4 prediction
    assert {Path(s).name for s in srcs if "plots/" in s} == {
        "prediction-prediction-5to15-psnr_best.png", "prediction-prediction-5to15-ssim_best.png",
        "prediction-prediction-5to15-lpips_best.png"}
    assert sum(s.endswith("train-loss.png") for s in srcs) == 2  # alpha, beta


def test_escapes_text_from_results(report):
    # beta's not_comparable_reason holds "<weights>": it must reach the page as text, not markup
    assert "&lt;weights&gt;" in report["html"] and "<weights>" not in report["html"]


def test_header_and_footer(report):
    text = _text(report["html"])
    assert f"vidbench leaderboard — {DATASET}" in text
    assert re.search(r"generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
    assert "mean ± 1.96·s/√n" in text


def test_rerender_is_deterministic_and_replaces_assets(report, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    runs = tmp_path / "runs"
    shutil.copytree(report["root"] / "runs", runs)
    out = tmp_path / "out"
    first = render_report(DATASET, runs, out).read_bytes()
    (out / "assets" / "stale.txt").write_text("from an older report")
    shutil.rmtree(runs / DATASET / "gamma")
    second = render_report(DATASET, runs, out).read_text()
    assert "2023-11-14 22:13:20 UTC" in second
    assert not (out / "assets" / "stale.txt").exists() and not (out / "assets" / "gamma__smoke__seed0").exists()
    assert 'data-method="gamma"' not in second and first != second.encode()
    shutil.copytree(report["root"] / "runs" / DATASET / "gamma", runs / DATASET / "gamma")
    assert render_report(DATASET, runs, out).read_bytes() == first
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_missing_real_gallery_and_log_are_reported_not_fatal(report, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(report["root"] / "runs", runs)
    shutil.rmtree(runs / DATASET / "real")
    (runs / DATASET / "alpha" / "smoke" / "seed0" / "samples" / "prediction.gif").unlink()
    (runs / DATASET / "beta" / "smoke" / "seed0" / "train_log.jsonl").unlink()
    (runs / DATASET / "gamma" / "smoke" / "seed0" / "manifest.json").unlink()
    page = render_report(DATASET, runs, tmp_path / "out").read_text()
    text = _text(page)
    assert text.count("no real-data results for this protocol") == 2
    assert "gallery not found: samples/prediction.gif" in text
    assert "training log not found: train_log.jsonl" in text
    assert "no manifest" in text
    for t in _parse(page).tables:  # the placeholder real row is still pinned first
        assert t["rows"][0]["attrs"]["data-method"] == "real data"


def test_several_runs_of_a_method_and_protocol_differences(report, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(report["root"] / "runs", runs)
    src = runs / DATASET / "alpha" / "smoke" / "seed0"
    dst = runs / DATASET / "alpha" / "smoke" / "seed1"
    shutil.copytree(src, dst)
    res = read_json(dst / "results.json")
    res["seeds"] = [1]
    res["tasks"]["prediction"]["protocol"]["num_videos"] = 64
    res["tasks"]["prediction"]["metric_protocols"]["fvd"]["resize"] = 112
    (dst / "results.json").write_text(json.dumps(res))
    page = render_report(DATASET, runs, tmp_path / "out").read_text()
    pred = next(t for t in _parse(page).tables if t["attrs"]["data-task"] == "prediction")
    rows = {r["attrs"]["data-method"]: r for r in pred["rows"]}
    assert {"alpha (seed 0)", "alpha (seed 1)"} <= set(rows)
    assert "protocol differs" in rows["alpha (seed 1)"]["cells"][0]["text"]
    assert "protocol differs" not in rows["alpha (seed 0)"]["cells"][0]["text"]
    text = _text(page)
    assert "n = 128 clips" in text  # the protocol most rows share
    assert "⚠ differs — used by alpha (seed 1)" in text
    assert len(pd.read_csv(tmp_path / "out" / "results.csv")) == expected_row_count() + 8


def test_profile_filter_keeps_real(report, tmp_path):
    page = render_report(DATASET, report["root"] / "runs", tmp_path / "out", profile="paper").read_text()
    methods = {r["attrs"]["data-method"] for t in _parse(page).tables for r in t["rows"]}
    assert methods == {"real data"}
    assert len(pd.read_csv(tmp_path / "out" / "results.csv")) == sum(len(m) for m in VALUES["real"].values())


def test_no_results_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no results.json"):
        render_report(DATASET, tmp_path / "runs", tmp_path / "out")


def test_malformed_results_is_a_user_error(tmp_path):
    bad = tmp_path / "runs" / DATASET / "x" / "smoke" / "seed0" / "results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(UserError, match="cannot read results"):
        render_report(DATASET, tmp_path / "runs", tmp_path / "out")
    bad.write_text(json.dumps({"tasks": {}}))
    with pytest.raises(UserError, match="not a vidbench results file"):
        render_report(DATASET, tmp_path / "runs", tmp_path / "out")


def test_format_metric():
    assert format_metric(27.3123, 26.8923, 27.7323, 128) == {"value": "27.31", "ci": "± 0.42", "n": "(n=128)"}
    assert format_metric(310.4, 298.1, 322.7, 64) == {"value": "310", "ci": "± 12", "n": "(n=64)"}
    assert format_metric(0.5, float("nan"), float("nan"), 3) == {"value": "0.5000", "ci": "", "n": "(n=3)"}
    assert format_metric(float("nan"), None, None, 0) == {"value": "—", "ci": "", "n": ""}
    assert format_metric(float("inf"), None, None, 5)["value"] == "∞"
    assert format_metric(None)["value"] == "—"
    assert format_metric(2.0, 2.0, 2.0, 10)["ci"] == "± 0.000"


def test_describe_protocol():
    assert describe_protocol(PRED.to_dict()) == [
        "5 context → 15 future frames", "64×64 px", "3 channels (RGB)", "split: test", "n = 128 clips",
        "k = 10 samples per context"]
    synth = Protocol("synthesis-16", "synthesis", "test", 0, 16, (32, 32), 1, stride=2)
    assert describe_protocol(synth.to_dict()) == [
        "16 frames", "32×32 px", "1 channel (gray)", "split: test", "n = all clips of the split", "stride 2"]


def test_read_train_log_is_tolerant(report):
    folder = report["results"]["alpha"].parent
    series = read_train_log(folder / "train_log.jsonl")
    assert set(series) == {"train/loss", "val/loss"}  # phase-prefixed; lr dropped; bad lines skipped
    steps, values = series["train/loss"]
    assert steps[:3] == [0.0, 10.0, 20.0] and len(steps) == len(values) == 30
    beta = read_train_log(report["results"]["beta"].parent / "train_log.jsonl")
    assert set(beta) == {"loss_g", "loss_d"}
