"""Lazy registries: the light verbs import no feature-network library, every registered name is
declared (with the module that registers it), and declared facts agree with the classes.

The verbs run in a fresh interpreter (``benchmark`` through ``runpy``) that reports which heavy
packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
import textwrap

import pytest

from benchmark.registry import DATASETS, METHODS, METRICS, Registry, UnknownNameError
from benchmark.utils import repo_root

ROOT = repo_root()
#: packages no light verb may import (feature networks and what pulls them in)
HEAVY = ("torchmetrics", "torchvision", "tensorflow", "tensorflow_hub", "lpips", "skimage", "torch._dynamo")

PROBE = textwrap.dedent("""
    import json, runpy, sys
    verb, out, watched = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    sys.argv = ["benchmark", *verb]
    code = 0
    try:
        runpy.run_module("benchmark.cli", run_name="__main__")
    except SystemExit as e:
        code = e.code
    extra = {}
    if verb == ["list"]:  # what a cached rerun plans with: facts, applicable metrics, code keys
        from benchmark.evaluate import applicable_metrics
        from benchmark.metrics import facts
        from benchmark.registry import METRICS
        from benchmark.stages.cache import metric_code_key, weights_identity
        names = applicable_metrics("synthesis", dataset="moving-shapes")
        extra = {"planned": names, "key": metric_code_key(METRICS.list()),
                 "weights": weights_identity(["fvd_shapes"], "pinned"),
                 "order": [facts.display_order(n) for n in METRICS.list()]}
    heavy = [h for h in watched if any(m == h or m.startswith(h + ".") for m in sys.modules)]
    with open(out, "w") as f:
        json.dump({"code": code, "heavy": heavy, **extra}, f)
""")


def run_verb(verb: list[str], tmp_path) -> dict:
    out = tmp_path / f"probe-{'-'.join(verb)}.json"
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(verb), str(out), json.dumps(HEAVY)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and out.exists(), done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def list_probe(tmp_path_factory):
    return run_verb(["list"], tmp_path_factory.mktemp("probe"))


@pytest.mark.parametrize("verb", [["list"], ["--help"], ["data", "info", "moving-shapes"], ["weights", "status"]],
                         ids=lambda v: " ".join(v))
def test_light_verbs_import_no_feature_network_library(verb, tmp_path, list_probe):
    probe = list_probe if verb == ["list"] else run_verb(verb, tmp_path)
    assert probe["code"] == 0
    assert probe["heavy"] == [], f"`benchmark {' '.join(verb)}` imported {probe['heavy']}"


def test_planning_from_declared_facts_matches_the_classes(list_probe):
    """What `list` and a cached rerun compute without importing the metrics equals what the classes say."""
    from benchmark.evaluate import applicable_metrics
    from benchmark.metrics import facts
    from benchmark.stages.cache import metric_code_key, weights_identity

    probe = list_probe
    for name in METRICS.list():
        METRICS.get(name)  # imports the class (the registry checks it against its declaration)
    assert probe["planned"] == applicable_metrics("synthesis", dataset="moving-shapes")
    assert probe["key"] == metric_code_key(METRICS.list())
    assert probe["weights"] == weights_identity(["fvd_shapes"], "pinned")
    assert probe["order"] == [int(METRICS.get(n).display_order) for n in METRICS.list()]
    assert [facts.display_order(n) for n in METRICS.list()] == probe["order"]


# -- every registered name is declared, with the module that registers it ------------------------

@functools.lru_cache(maxsize=1)
def registrations() -> dict[str, dict[str, str]]:
    """registry -> {name: module} of every ``@X.register("name")`` in benchmark/ and methods/ (the
    template excluded), read from the source."""
    found: dict[str, dict[str, str]] = {"METHODS": {}, "DATASETS": {}, "METRICS": {}}
    for folder in ("benchmark", "methods"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "_template" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id in found
                        and node.args and isinstance(node.args[0], ast.Constant)):
                    found[node.func.value.id][node.args[0].value] = module
    return found


@pytest.mark.parametrize("registry", ["METHODS", "DATASETS", "METRICS"])
def test_every_registration_is_declared_with_its_module(registry):
    reg = {"METHODS": METHODS, "DATASETS": DATASETS, "METRICS": METRICS}[registry]
    in_source = registrations()[registry]
    assert reg.declared() == in_source, "declare every registered name, with its module, in the package __init__"


def test_the_listing_keeps_its_names_and_order():
    """The names (and order) `benchmark list` showed when every module was imported eagerly."""
    assert list(METHODS.declared()) == [
        "copy_last", "mean_context", "background_fill", "static_frame", "uniform_grey", "vgan_ae_gmm", "conv_lstm",
        "vgan", "vgan_one_stream", "vgan_future", "mocogan", "tgan", "navslp", "vrnn_hier", "ddpae", "encodedec", "svg_lp",
        "svg_fp", "drnet", "p2p", "video_vqvae", "videoflow", "savp", "savp_vae", "savp_gan", "savp_det", "sv2p"]
    assert list(DATASETS.declared()) == [
        "moving-shapes", "kth", "bair", "mmnist", "weizmann", "chairs", "vgan-golf", "vgan-beach", "ucf101",
        "kinetics600", "bouncing-balls"]
    assert list(METRICS.declared()) == [
        "psnr", "ssim", "fcs", "fvd", "is_frame", "fid_frame", "mcs", "lpips", "is_video", "vgg_cosine",
        "diversity_l1", "diversity", "bits_per_dim", "fvd_shapes", "is_shapes", "factors_shapes"]


def test_score_presets_of_the_parser_are_the_scorers():
    from benchmark.cli import SCORE_PRESETS
    from benchmark.score import PRESETS

    assert SCORE_PRESETS == PRESETS


# -- the Registry's lazy mechanics, on a throw-away module -----------------------------------------

@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    """A module ``lazy_toy_<n>`` that registers ``"toy"`` in the registry ``TOY`` of a module it imports."""
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("toy")
    holder = tmp_path / "lazy_toy_registry.py"
    holder.write_text("REG = None\n")
    import importlib

    mod = importlib.import_module("lazy_toy_registry")
    mod.REG = registry
    (tmp_path / "lazy_toy_impl.py").write_text(textwrap.dedent("""
        import lazy_toy_registry
        @lazy_toy_registry.REG.register("toy")
        class Toy:
            colour = "red"
    """))
    yield registry
    for m in ("lazy_toy_registry", "lazy_toy_impl"):
        sys.modules.pop(m, None)


def test_a_declared_entry_is_imported_on_first_get(toy_module):
    reg = toy_module
    reg.declare("toy", "lazy_toy_impl", colour="red")
    assert reg.list() == ["toy"] and "toy" in reg and reg.info("toy").colour == "red"
    assert "lazy_toy_impl" not in sys.modules and not reg.is_loaded("toy")
    cls = reg.get("toy")
    assert "lazy_toy_impl" in sys.modules and reg.is_loaded("toy") and cls.colour == "red"
    assert reg.info("toy") is cls and reg.module_of("toy") == "lazy_toy_impl"
    with pytest.raises(UnknownNameError, match="valid toys: toy"):
        reg.get("other")


def test_a_declaration_that_disagrees_with_its_class_is_an_error(toy_module):
    toy_module.declare("toy", "lazy_toy_impl", colour="blue")
    with pytest.raises(ValueError, match="colour='blue'"):
        toy_module.get("toy")


def test_a_declared_module_that_registers_nothing_is_an_error(toy_module):
    toy_module.declare("toy", "lazy_toy_registry")
    with pytest.raises(ValueError, match="does not register it"):
        toy_module.get("toy")


def test_building_every_method_imports_no_feature_network_library_nor_dynamo(tmp_path):
    """A cached rerun builds each method (its config and code key) and uses none: construction must stay
    light (a meta-device build of an ``nn.Embedding`` once imported ``torch._dynamo``, ~1 s per run)."""
    probe = textwrap.dedent("""
        import json, sys
        from benchmark.data import load_dataset
        from benchmark.methods import DataSpec
        from benchmark.registry import METHODS
        from benchmark.stages.spec import method_dataset_options
        heavy, watched = {}, json.loads(sys.argv[2])
        for name in METHODS.list():
            cls = METHODS.get(name)
            ds = load_dataset("moving-shapes", sys.argv[1], **method_dataset_options(name, "moving-shapes"))
            cls.from_profile("cpu", DataSpec.of(ds, [t for t in cls.tasks if t in ds.protocols]))
            new = [h for h in watched if h in sys.modules and h not in heavy]
            heavy.update({h: name for h in new})
        print(json.dumps(heavy))
    """)
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "data"), json.dumps(HEAVY)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}, "package -> the method whose construction imported it"
