"""Honest caches (nothing stale is ever reused): a stage key covers the source of every project module
its code imports, the feature networks' weight-file hashes and the data identity.

* edit a shared block -> `benchmark run` retrains exactly the methods that use it;
* swap a weight file -> features and scores are recomputed;
* change nothing -> everything is reused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from benchmark import sources
from benchmark.pipeline import RunSpec, run_method
from benchmark.stages import evaluate as evaluate_stage
from benchmark.stages import sample as sample_stage
from benchmark.stages import train as train_stage
from benchmark.stages.train import read_train_records
from benchmark.utils import read_json, repo_root, sha256_file
from tests.conftest import tiny_options

ONE_STEP = {"train.steps": 1, "train.batch_size": 2, "train.checkpoint_every": 1, "train.log_every": 1}
METHODS = {"conv_lstm": ONE_STEP, "navslp": ONE_STEP, "tgan": ONE_STEP, "copy_last": {}}


def _spec(root, out, method, overrides=None, **kw):
    return RunSpec(method=method, dataset="moving-shapes", out=out, data_root=root, progress=False,
                   dataset_options=tiny_options(), metrics=["psnr", "fcs"],
                   overrides=dict(METHODS.get(method, {}) if overrides is None else overrides), **kw)


@pytest.fixture
def spy(monkeypatch):
    """Which methods each stage really ran (not reused) since the last reset."""
    ran: dict[str, list[str]] = {"train": [], "sample": [], "evaluate": []}
    real_fit, real_sample, real_eval = train_stage._fit_stage, sample_stage.generate_samples, evaluate_stage.evaluate

    def fit(spec, *a, **kw):
        ran["train"].append(spec.method)
        return real_fit(spec, *a, **kw)

    def sample(method, *a, **kw):
        ran["sample"].append(method.name)
        return real_sample(method, *a, **kw)

    def evaluate(*a, label="", **kw):
        ran["evaluate"].append(label)
        return real_eval(*a, label=label, **kw)

    monkeypatch.setattr(train_stage, "_fit_stage", fit)
    monkeypatch.setattr(sample_stage, "generate_samples", sample)
    monkeypatch.setattr(evaluate_stage, "evaluate", evaluate)
    return ran


def _keys(out, method):
    run = _spec(None, out, method).run_dir
    return {stage: rec["key"] for stage, rec in read_train_records(run).items()}


def test_editing_a_shared_block_retrains_exactly_the_methods_using_it(tiny_data_root, tmp_path, spy,
                                                                      monkeypatch):
    for m in METHODS:
        run_method(_spec(tiny_data_root, tmp_path, m))
    assert sorted(spy["train"]) == sorted(METHODS)
    before = {m: _keys(tmp_path, m) for m in METHODS}
    # what a developer's edit of methods/common/recurrent.py (the LSTM stack and GRU) looks like to the keys
    edited = repo_root() / "methods" / "common" / "recurrent.py"
    real_read = sources.read_source
    monkeypatch.setattr(sources, "read_source",
                        lambda p: real_read(p) + (b"\n# edited\n" if Path(p).resolve() == edited.resolve() else b""))
    for key in spy:
        spy[key].clear()
    for m in METHODS:
        run_method(_spec(tiny_data_root, tmp_path, m))
    users = {"conv_lstm", "navslp"}   # conv_lstm: LSTMStack; navslp: GRUSequence. tgan, copy_last: neither
    assert sorted(spy["train"]) == sorted(users)
    assert {m for m in METHODS if _keys(tmp_path, m) != before[m]} == users
    assert sorted(spy["sample"]) == sorted(users)   # their samples follow their new training key


def test_changing_nothing_reuses_everything(tiny_data_root, tmp_path, spy):
    def values(m):
        return read_json(_spec(None, tmp_path, m).run_dir / "results.json")["tasks"]["prediction"]["metrics"]

    for m in ("conv_lstm", "copy_last"):
        run_method(_spec(tiny_data_root, tmp_path, m))
    before = {m: values(m) for m in ("conv_lstm", "copy_last")}
    for key in spy:
        spy[key].clear()
    for m in ("conv_lstm", "copy_last"):
        run_method(_spec(tiny_data_root, tmp_path, m))
    assert spy == {"train": [], "sample": [], "evaluate": []}
    assert {m: values(m) for m in before} == before


def _vgg16_file(path: Path, seed: int) -> Path:
    """A file in torchvision's vgg16 layout (the layers MCS uses random; the rest stride-0 views)."""
    from benchmark.metrics.extractors.vgg import expected_shapes

    g = torch.Generator().manual_seed(seed)
    state = {k: (torch.randn(shape, generator=g) * 0.05 if k.startswith("features.") and int(k.split(".")[1]) < 16
                 else torch.zeros(1).expand(shape)) for k, shape in expected_shapes().items()}
    torch.save(state, path)
    return path


def _pin(tmp_path: Path, monkeypatch, weights_dir: Path, seed: int) -> Path:
    """Install a vgg16 file made from ``seed`` and pin its sha256 in a copy of manifests/weights.yaml."""
    from benchmark import weights as W

    spec = yaml.safe_load(open(repo_root() / "manifests" / "weights.yaml"))
    entry = spec["weights"]["vgg16_imagenet"]
    path = _vgg16_file(weights_dir / entry["file"], seed)
    entry.update(sha256=sha256_file(path), sha256_prefix=None)
    man = tmp_path / "weights.yaml"
    man.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VIDBENCH_WEIGHTS_MANIFEST", str(man))
    monkeypatch.setenv("VIDBENCH_WEIGHTS", str(weights_dir))
    assert W.resolve("vgg16_imagenet").verified
    return path


def test_swapping_a_weight_file_recomputes_features_and_scores(tiny_data_root, tmp_path, spy, monkeypatch):
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    _pin(tmp_path, monkeypatch, weights_dir, seed=1)
    spec = _spec(tiny_data_root, tmp_path / "out", "static_frame", overrides={})
    spec.metrics = ["fcs", "mcs"]
    cache = tmp_path / "out" / "cache" / "features"
    first = read_json(run_method(spec))["tasks"]["synthesis"]["metrics"]["mcs"]
    folders = {p for p in cache.glob("*/*") if p.is_dir()}
    assert folders and spy["evaluate"] == ["static_frame"]
    spy["evaluate"].clear()
    run_method(spec)                                   # same weights: nothing recomputed
    assert spy["evaluate"] == []
    _pin(tmp_path, monkeypatch, weights_dir, seed=2)   # the same file name, other bytes (re-pinned)
    second = read_json(run_method(spec))["tasks"]["synthesis"]["metrics"]["mcs"]
    assert spy["evaluate"] == ["static_frame"] and spy["train"] == ["static_frame"]   # training: once, at first
    assert second["extra"]["weights_sha256"] != first["extra"]["weights_sha256"]
    assert second["value"] != first["value"]
    new_folders = {p for p in cache.glob("*/*") if p.is_dir()} - folders
    assert len(new_folders) == 1 and any(new_folders.pop().iterdir())   # features of the new network


def test_training_hardware_keys_the_weights_and_is_recorded(tiny_data_root, tmp_path, spy, monkeypatch):
    """Device type, GPU model, world size and precision of the training are in the train record and
    the manifest, and weights trained on other hardware are never reused as these (the default
    single-process CPU fp32 training keeps a key without a hardware entry). The world size alone does
    not key them: DDP at the same global batch trains like one process, so weights trained under
    torchrun are what a later one-process `benchmark run` reuses."""
    from benchmark.training import distributed as D

    spec = _spec(tiny_data_root, tmp_path, "conv_lstm")
    run_method(spec)
    (rec,) = read_train_records(spec.run_dir).values()
    assert rec["hardware"] == D.SINGLE_CPU_FP32 == {"device": "cpu", "gpu": None, "world_size": 1, "precision": "fp32"}
    manifest = read_json(spec.run_dir / "manifest.json")
    assert list(manifest["training_hardware"].values()) == [D.SINGLE_CPU_FP32]

    keys = [rec["key"]]
    spy["train"].clear()
    monkeypatch.setattr(D, "training_hardware", lambda device, options=None: {**D.SINGLE_CPU_FP32, "world_size": 2})
    train_stage.stage_train(spec)
    assert spy["train"] == []  # same key: reused
    for hardware in ({"device": "cuda", "gpu": "NVIDIA H200", "world_size": 2, "precision": "tf32"},
                     {"device": "cuda", "gpu": "NVIDIA H200", "world_size": 1, "precision": "fp32"}):
        spy["train"].clear()
        monkeypatch.setattr(D, "training_hardware", lambda device, options=None, hw=hardware: hw)
        train_stage.stage_train(spec)
        assert spy["train"] == ["conv_lstm"], hardware  # retrained, not reused
        (rec,) = read_train_records(spec.run_dir).values()
        assert rec["hardware"] == hardware
        keys.append(rec["key"])
    assert len(set(keys)) == len(keys)
