"""Docstring examples run: every ``>>>`` example in ``benchmark/`` and ``methods/`` is a test."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import benchmark
import methods

#: methods._template registers a method named "template" when imported; it is exercised (under
#: another name) by tests/methods/_template instead.
SKIP = ("methods._template",)


def _walk(path, prefix: str) -> list[str]:
    """Module names under a package path. Unlike ``pkgutil.walk_packages`` it never imports a skipped
    package (walk_packages imports every package it recurses into, which would register the template)."""
    names = []
    for info in pkgutil.iter_modules(path, prefix):
        if info.name.startswith(SKIP):
            continue
        names.append(info.name)
        if info.ispkg:
            names += _walk(importlib.import_module(info.name).__path__, info.name + ".")
    return names


def _modules() -> list[str]:
    return sorted([pkg.__name__ for pkg in (benchmark, methods)]
                  + [n for pkg in (benchmark, methods) for n in _walk(pkg.__path__, pkg.__name__ + ".")])


MODULES = _modules()


def test_every_module_is_found():
    assert {"benchmark.evaluate", "benchmark.methods", "benchmark.registry", "methods.common.init"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # an example that writes a file writes it here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
