"""Install extras: ``pip install .`` is the core; optional packages come from named extras, and a
missing one is a message naming the extra (pyproject.toml, benchmark/extras.py and the imports agree)."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

from benchmark.extras import EXTRAS, MissingExtraError, require

ROOT = Path(__file__).resolve().parents[2]
#: import name -> distribution name where they differ
DIST = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn", "skimage": "scikit-image",
        "pytorch_fid": "pytorch-fid", "tensorflow_hub": "tensorflow-hub"}
#: optional modules a file may import itself because it handles their absence (with a logged line)
SELF_GUARDED = {("tensorboard", "benchmark/training/tensorboard.py")}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(req: str) -> str:
    return req.split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> files importing it (any nesting), for benchmark/ and methods/."""
    found: dict[str, set[str]] = {}
    for path in sorted([*ROOT.glob("benchmark/**/*.py"), *ROOT.glob("methods/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("benchmark", "methods", "__future__"):
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_pyproject_declares_the_extras():
    extras = _project()["optional-dependencies"]
    assert set(extras) == set(EXTRAS) | {"all"}
    for extra, modules in EXTRAS.items():
        names = {_name(r) for r in extras[extra]}
        assert {DIST.get(m, m).lower() for m in modules} <= names, extra
    assert "setuptools" in {_name(r) for r in extras["tf"]}  # tensorflow-hub needs pkg_resources


def test_every_import_is_core_or_comes_through_require_with_its_extra():
    core = {_name(r) for r in _project()["dependencies"]}
    optional = {m for modules in EXTRAS.values() for m in modules}
    for module, files in _third_party_imports().items():
        if module in optional:
            plain = {f for f in files if (module, f) not in SELF_GUARDED}
            assert not plain, f"{module} is in an extra: import it with benchmark.extras.require ({plain})"
        else:
            assert DIST.get(module, module).lower() in core, f"{module} ({sorted(files)}) is not a core dependency"


def test_make_setup_still_installs_every_extra_from_the_lock():
    pinned = {_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    locked = {_name(line) for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line}
    for extra, reqs in _project()["optional-dependencies"].items():
        if extra == "all":
            continue
        for r in reqs:
            assert _name(r) in pinned and _name(r) in locked, (extra, r)
    assert "-r requirements.txt -c requirements.lock" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("module, call", [
    ("lpips", lambda: __import__("benchmark.metrics.lpips", fromlist=["x"]).build_lpips("random")),
    ("pytorch_fid.inception",
     lambda: __import__("benchmark.metrics.extractors.inception", fromlist=["x"]).build_fid_inception()),
    ("tensorflow", lambda: __import__("benchmark.metrics.extractors.tf_i3d", fromlist=["x"])._tf()),
])
def test_a_missing_extra_names_it(monkeypatch, module, call):
    extra = next(e for e, mods in EXTRAS.items() if module.split(".")[0] in mods)
    monkeypatch.setitem(sys.modules, module, None)   # importing it now raises ImportError
    with pytest.raises(MissingExtraError, match=rf"pip install 'vidbench\[{extra}\]'"):
        call()


def test_require_rejects_an_unknown_extra():
    with pytest.raises(ValueError, match="unknown extra"):
        require("json", "nope")


def test_a_missing_extra_is_a_user_error_and_an_import_error():
    from benchmark.utils import UserError

    with pytest.raises(ImportError) as e:
        require("no_such_module_xyz", "tf")
    assert isinstance(e.value, UserError) and "vidbench[tf]" in str(e.value)
