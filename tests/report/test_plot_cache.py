"""Report figures are drawn once per content: under ``plot_cache`` an unchanged figure is copied from
the previous rendering (a cached rerun never imports matplotlib), a changed one is drawn again, and
figures no longer used are dropped from the cache."""

from __future__ import annotations

import pytest

from benchmark.report import plots

SERIES = {"loss": ([0.0, 1.0, 2.0], [1.0, 0.5, 0.25])}


def _no_drawing(spec, path):
    raise AssertionError("drew a figure whose spec, code and matplotlib version are unchanged")


def test_an_unchanged_figure_is_copied_not_drawn(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with plots.plot_cache(cache):
        assert plots.plot_train_log(SERIES, "toy — training loss", tmp_path / "a.png")
    assert len(list(cache.glob("*.png"))) == 1
    monkeypatch.setattr(plots, "_draw_train_log", _no_drawing)
    with plots.plot_cache(cache):
        assert plots.plot_train_log(SERIES, "toy — training loss", tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    with plots.plot_cache(cache), pytest.raises(AssertionError, match="drew a figure"):
        plots.plot_train_log({"loss": ([0.0, 1.0], [1.0, 0.4])}, "toy — training loss", tmp_path / "c.png")


def test_figures_no_longer_used_leave_the_cache(tmp_path):
    cache = tmp_path / "cache"
    with plots.plot_cache(cache):
        plots.plot_train_log(SERIES, "first", tmp_path / "a.png")
    first = {p.name for p in cache.glob("*.png")}
    with plots.plot_cache(cache):
        plots.plot_train_log(SERIES, "second", tmp_path / "a.png")
    second = {p.name for p in cache.glob("*.png")}
    assert len(second) == 1 and not first & second


def test_without_a_cache_every_figure_is_drawn(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plots, "_draw_train_log", lambda spec, path: drawn.append(spec["title"]))
    plots.plot_train_log(SERIES, "t", tmp_path / "a.png")
    plots.plot_train_log(SERIES, "t", tmp_path / "a.png")
    assert drawn == ["t", "t"]
