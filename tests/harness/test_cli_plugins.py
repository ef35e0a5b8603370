"""The subsystems' CLI verbs are imported explicitly: a broken plugin is an error, not a missing verb."""

from __future__ import annotations

import sys

import pytest

from benchmark import cli


def test_every_plugin_verb_is_there():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "verb")
    assert {"weights", "data", "reproduce", "crowd", "train", "run", "score", "check"} <= set(sub.choices)


def test_a_broken_plugin_is_an_error(monkeypatch):
    import benchmark.crowd

    monkeypatch.delattr(benchmark.crowd, "cli", raising=False)
    monkeypatch.setitem(sys.modules, "benchmark.crowd.cli", None)   # importing it now raises ImportError
    with pytest.raises(ImportError):
        cli.build_parser()
