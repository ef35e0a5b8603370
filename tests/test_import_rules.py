"""Import rules (read from the source, every import statement including those inside functions):

* a method package (``methods/<paper>/``) never imports another paper (``methods.common`` is the
  shared home) nor the harness pipeline;
* ``model.py`` files import only ``torch``, ``methods.common`` and the standard library (no harness code);
* ``benchmark/data``, ``benchmark/crowd`` and ``benchmark/metrics`` never import the pipeline.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from benchmark.utils import repo_root

ROOT = repo_root()
#: The run orchestration: what data, metrics, crowd and methods must not depend on.
PIPELINE = ("benchmark.pipeline", "benchmark.stages", "benchmark.run", "benchmark.reproduce", "benchmark.recipes",
            "benchmark.report", "benchmark.cli", "benchmark.evaluate", "benchmark.drift", "benchmark.score")


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``path`` (``from a import b`` gives ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            out += [(node.lineno, f"{base}.{a.name}" if a.name != "*" else base) for a in node.names]
    return out


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


PAPERS = sorted(p.name for p in (ROOT / "methods").iterdir() if p.is_dir() and (p / "__init__.py").exists()
                and p.name != "common")


@pytest.mark.parametrize("paper", PAPERS)
def test_a_method_imports_no_other_paper_and_not_the_pipeline(paper):
    bad = []
    for f in _files(f"methods/{paper}"):
        for line, mod in imports(f):
            other_paper = mod.startswith("methods.") and mod.split(".")[1] not in ("common", paper)
            if other_paper or _under(mod, PIPELINE):
                bad.append(f"{f.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


MODEL_FILES = sorted((ROOT / "methods").glob("*/model.py"))


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.parent.name)
def test_model_files_import_only_torch_and_methods_common(path):
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = [f"{path.relative_to(ROOT)}:{line} imports {mod}" for line, mod in imports(path)
           if not (_under(mod, ("torch", "methods.common")) or mod.split(".")[0] in stdlib)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["benchmark/data", "benchmark/crowd", "benchmark/metrics"])
def test_data_crowd_and_metrics_never_import_the_pipeline(folder):
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}" for f in _files(folder) for line, mod in imports(f)
           if _under(mod, PIPELINE)]
    assert not bad, "\n".join(bad)


def test_the_rules_see_violations(tmp_path, monkeypatch):
    """The checker itself: a planted cross-paper and pipeline import is found."""
    fake = ROOT / "methods" / "vgan" / "model.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "from methods.tgan.model import X\n"
                        "def f():\n    from benchmark.pipeline import run_method\n")
    found = [m for _, m in imports(fake)]
    assert found == ["methods.tgan.model.X", "benchmark.pipeline.run_method"]
