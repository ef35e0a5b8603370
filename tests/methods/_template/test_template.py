"""methods/_template/: never registered itself, and a copy of it (under a new name, with its one import
line) is a working method: registered, runs in `benchmark run`, passes the registry-wide tests and
its own example test."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys

import pytest

import methods
from benchmark.registry import METHODS
from benchmark.utils import read_json, repo_root

TEMPLATE = repo_root() / "methods" / "_template"


def test_the_template_is_not_registered():
    assert "template" not in METHODS.list()
    assert "_template" not in (repo_root() / "methods" / "__init__.py").read_text()


@pytest.fixture
def copied_method(tmp_path, monkeypatch):
    """What a newcomer does: copy the folder to methods/<name>/, rename, add one import line."""
    name = "my_predictor"
    ext = tmp_path / "ext"
    shutil.copytree(TEMPLATE, ext / name)
    for f in (ext / name).glob("*.py"):
        text = f.read_text().replace("methods._template", f"methods.{name}")
        f.write_text(text.replace('@METHODS.register("template")', f'@METHODS.register("{name}")')
                     .replace('NAME = "template"', f'NAME = "{name}"'))
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(ext)])  # as if it sat in methods/
    importlib.import_module(f"methods.{name}")                              # the one import line
    yield name, ext / name
    METHODS.unregister(name)
    for mod in [m for m in sys.modules if m == f"methods.{name}" or m.startswith(f"methods.{name}.")]:
        del sys.modules[mod]


def test_a_copy_of_the_template_runs_everywhere(copied_method, small_dataset, small_data_root, tmp_path):
    name, folder = copied_method
    assert name in METHODS.list() and METHODS.get(name).name == name
    # benchmark run (smoke) on the embedded dataset
    from benchmark.run import run_benchmark
    from tests.conftest import SMALL_SPLITS

    out = tmp_path / "out"
    assert run_benchmark(name, "moving-shapes", out=out, data_root=small_data_root, progress=False, report=False,
                         dataset_options={"split_sizes": SMALL_SPLITS}, metrics=["psnr"]) == 0
    res = read_json(out / f"runs/moving-shapes/{name}/smoke/seed0/results.json")
    assert "psnr_best" in res["tasks"]["prediction"]["metrics"]
    # the registry-wide checks every registered method gets
    from tests.test_methods_registry import check_method

    check_method(name, small_dataset, tmp_path)
    # the template's example test, as the newcomer copies it to tests/methods/<name>/
    spec = importlib.util.spec_from_file_location(f"test_{name}", folder / "test_template.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.NAME == name
    example.test_smoke_fits_and_predicts_the_protocol(small_dataset, tmp_path / "example")
    example.test_model_is_a_residual_update(small_dataset)


def test_template_profiles_refuse_what_they_cannot_fit():
    from benchmark.methods import DataSpec, ProfileUnavailable

    # the config file alone (importing the package methods._template would register the template)
    spec = importlib.util.spec_from_file_location("template_config", TEMPLATE / "config.py")
    C = importlib.util.module_from_spec(spec)
    sys.modules["template_config"] = C   # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(C)
    finally:
        del sys.modules["template_config"]
    tiny = DataSpec("dots", 1, (4, 4), {})
    for profile in ("paper", "cpu", "smoke"):
        with pytest.raises(ProfileUnavailable, match="needs frames of at least 8x8, dots has 4x4"):
            C.PROFILES[profile](tiny)
    assert C.smoke(DataSpec("shapes", 3, (16, 16), {})).resolution == (16, 16)
    assert "template" not in METHODS.list()
