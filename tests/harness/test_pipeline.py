"""End-to-end pipeline on a small moving-shapes: stages, content caching, manifests, errors."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from benchmark import cli
from benchmark.methods import Method
from benchmark.pipeline import RunSpec, Stages, run_method, run_real, verify_run
from benchmark.registry import METHODS
from benchmark.utils import UserError, read_json
from tests.conftest import SMALL_SPLITS


def _spec(root, out, method, **kw):
    return RunSpec(method=method, dataset="moving-shapes", out=out, data_root=root, progress=False,
                   dataset_options={"split_sizes": SMALL_SPLITS}, **kw)


@pytest.fixture(scope="module")
def finished_runs(small_data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    paths = {m: run_method(_spec(small_data_root, out, m)) for m in ("copy_last", "static_frame")}
    paths["real"] = run_real(_spec(small_data_root, out, "real"))
    return out, paths


def test_results_follow_the_contract(finished_runs):
    out, paths = finished_runs
    res = read_json(paths["copy_last"])
    assert res["schema"] == "vidbench.results/1" and res["method"] == "copy_last"
    task = res["tasks"]["prediction"]
    assert task["protocol"]["context_frames"] == 5 and task["protocol"]["future_frames"] == 15
    assert task["reference"]["num_clips"] == SMALL_SPLITS["test"]
    psnr = task["metrics"]["psnr_best"]
    assert psnr["n"] == SMALL_SPLITS["test"] and len(psnr["curve"]) == 15
    assert psnr["ci_low"] < psnr["value"] < psnr["ci_high"]
    # copying the last frame is worse further into the future
    assert psnr["curve"][0] > psnr["curve"][-1]
    # the sampling speed of the method itself (no saving or scoring), with what it counts
    speed = task["sampling"]
    assert speed["videos"] == SMALL_SPLITS["test"] and speed["samples_per_context"] == 1
    assert speed["videos_per_s"] == pytest.approx(speed["videos"] / speed["generate_s"])
    assert 0 < speed["generate_s"] <= read_json(paths["copy_last"].parent / "manifest.json")["timings"][
        "sample_prediction_s"]
    # every context gives its own clip; the count is of the saved uint8 samples (exact copies count once)
    assert speed["distinct_videos"] == SMALL_SPLITS["test"]
    synth = read_json(paths["static_frame"])["tasks"]["synthesis"]
    saved = np.load(paths["static_frame"].parent / synth["samples"])["videos"]
    assert synth["sampling"]["distinct_videos"] == len({clip.tobytes() for clip in saved}) <= len(saved)
    assert synth["metrics"]["fcs"]["value"] == pytest.approx(1.0)  # a static video is perfectly consistent
    real = read_json(paths["real"])
    assert real["method"] == "real" and 0.3 < real["tasks"]["synthesis"]["metrics"]["fcs"]["value"] < 1.0


def test_manifest_records_everything(finished_runs):
    out, paths = finished_runs
    m = read_json(paths["copy_last"].parent / "manifest.json")
    for key in ("code", "command", "config", "seeds", "dataset", "feature_nets", "metric_protocols",
                "environment", "hardware", "timings", "artifacts"):
        assert key in m
    assert m["dataset"]["name"] == "moving-shapes" and m["dataset"]["generator"]["split_sizes"] == SMALL_SPLITS
    assert "samples/prediction.npz" in m["artifacts"] and len(m["artifacts"]["results.json"]) == 64
    assert m["metric_protocols"]["prediction"]["ssim"]
    assert m["environment"]["packages"]["torch"]


def test_second_run_is_cached_by_content(finished_runs, small_data_root):
    out, paths = finished_runs
    spec = _spec(small_data_root, out, "static_frame")
    npz = spec.run_dir / "samples" / "synthesis.npz"
    before = npz.stat().st_mtime_ns
    t0 = time.time()
    run_method(spec)
    assert npz.stat().st_mtime_ns == before  # not regenerated
    assert time.time() - t0 < 5
    # touching a file (new mtime, same bytes) keeps the cache; changing its bytes does not
    time.sleep(0.01)
    npz.touch()
    touched = npz.stat().st_mtime_ns
    run_method(spec)
    assert npz.stat().st_mtime_ns == touched  # still reused
    rec = Stages(spec.run_dir).get("sample/synthesis")
    assert rec and Stages(spec.run_dir).fresh("sample/synthesis", rec["key"])
    # different bytes under the same name: the stage is stale and is recomputed
    z = dict(np.load(npz))
    z["videos"] = 255 - z["videos"]
    np.savez_compressed(npz, **z)
    assert not Stages(spec.run_dir).fresh("sample/synthesis", rec["key"])
    run_method(spec)
    assert Stages(spec.run_dir).fresh("sample/synthesis", rec["key"])


def test_changed_seed_invalidates(finished_runs, small_data_root):
    out, _ = finished_runs
    spec = _spec(small_data_root, out, "static_frame", seed=1)
    run_method(spec)
    a = np.load(_spec(small_data_root, out, "static_frame").run_dir / "samples/synthesis.npz")["videos"]
    b = np.load(spec.run_dir / "samples/synthesis.npz")["videos"]
    assert not np.array_equal(a, b)


def test_manifest_verify_passes_then_fails_on_tampering(finished_runs, small_data_root, tmp_path, capsys):
    out, paths = finished_runs
    run_dir = paths["copy_last"].parent
    assert verify_run(run_dir, data_root=small_data_root) == []
    assert cli.main(["manifest", "verify", str(run_dir), "--data-root", str(small_data_root)]) == 0
    # alter a saved sample: the artifact hash and the recomputed metrics both disagree
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    npz = copy / "samples" / "prediction.npz"
    z = dict(np.load(npz))
    z["videos"] = z["videos"].copy()
    z["videos"][:, 6:] = 255 - z["videos"][:, 6:]
    np.savez_compressed(npz, **z)
    problems = verify_run(copy, data_root=small_data_root)
    assert any("samples/prediction.npz" in p and "sha256" in p for p in problems)
    assert any("psnr_best" in p and "recomputed" in p for p in problems)
    assert cli.main(["manifest", "verify", str(copy), "--data-root", str(small_data_root)]) == 1
    assert "mismatch" in capsys.readouterr().out


@dataclass(frozen=True)
class _Cfg:
    pass


class _NaNPredictor(Method):
    name = "nan_predictor"
    tasks = ("prediction",)
    profiles = {"smoke": lambda spec: _Cfg()}

    def predict(self, cond, *, seed):
        out = cond.context[:, -1:].unsqueeze(1).expand(-1, 1, cond.num_frames, -1, -1, -1).clone()
        out[0, 0, 3] = float("nan")
        return out


def test_nan_samples_fail_clearly_and_keep_training(small_data_root, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS._entries, "nan_predictor", _NaNPredictor)
    spec = _spec(small_data_root, tmp_path, "nan_predictor")
    with pytest.raises(UserError, match="NaN"):
        run_method(spec)
    assert (spec.run_dir / "train" / "model.pt").exists()  # earlier stage kept
    assert not (spec.run_dir / "samples" / "prediction.npz").exists()  # nothing half-written


@dataclass(frozen=True)
class _LabelCfg:
    label: str = "action"


class _LabelledCopy(Method):
    """Copies the last context frame; trains by recording the labels the harness hands it."""

    name = "labelled_copy"
    tasks = ("prediction",)
    trainable = True
    profiles = {"smoke": lambda spec: _LabelCfg()}
    seen: dict = {}

    def label_inputs(self):
        return (self.config.label,) if self.config.label else ()

    def fit(self, data, run_dir, *, seed, resume=False, progress=True, stage="train"):
        type(self).seen = {"labels": {k: v.copy() for k, v in data.labels.items()}, "n": len(data.videos)}
        return {}

    def predict(self, cond, *, seed):
        return cond.context[:, -1:].unsqueeze(1).expand(-1, 1, cond.num_frames, -1, -1, -1).clone()


def test_methods_get_the_labels_they_ask_for(small_data_root, small_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS._entries, "labelled_copy", _LabelledCopy)
    spec = _spec(small_data_root, tmp_path, "labelled_copy")
    run_method(spec)
    train = small_dataset.load_split("train")
    want = small_dataset.clip_labels(train)["action"]
    assert list(_LabelledCopy.seen["labels"]) == ["action"] and _LabelledCopy.seen["n"] == len(train)
    np.testing.assert_array_equal(_LabelledCopy.seen["labels"]["action"], want)
    rec = Stages(spec.run_dir).get("train")
    summary = rec["data"]["labels"]["action"]
    assert summary["classes"] == ["right", "down", "left", "up"]
    assert summary["counts"] == np.bincount(want, minlength=4).tolist() and sum(summary["counts"]) == len(train)
    # the labels are part of the training key: another label retrains, the same one is cached
    key = rec["key"]
    run_method(spec)
    assert Stages(spec.run_dir).get("train")["key"] == key
    run_method(_spec(small_data_root, tmp_path, "labelled_copy", overrides={"label": "identity"}))
    assert list(_LabelledCopy.seen["labels"]) == ["identity"]
    assert Stages(spec.run_dir).get("train")["key"] != key
    # a label the dataset does not have: a clear error naming the ones it has
    with pytest.raises(UserError, match="no label 'camera'; its labels: action, identity"):
        run_method(_spec(small_data_root, tmp_path, "labelled_copy", overrides={"label": "camera"}))
    # stored metadata that does not fit the label definition: a clear error, not a silent mislabel
    from benchmark.data.base import LabelSpec
    from benchmark.data.moving_shapes import MovingShapes

    monkeypatch.setattr(MovingShapes, "label_specs", lambda self: {"action": LabelSpec("direction", ("right",))})
    with pytest.raises(UserError, match="direction='(down|left|up)', not one of the 1 classes.*prepare it again"):
        run_method(_spec(small_data_root, tmp_path, "labelled_copy"))


def test_evaluate_without_samples_is_a_clear_error(small_data_root, tmp_path, capsys):
    rc = cli.main(["evaluate", "copy_last", "--dataset", "moving-shapes", "--out", str(tmp_path),
                   "--data-root", str(small_data_root)])
    assert rc == 2 and "not trained" in capsys.readouterr().err


def test_cli_unknown_names_list_valid_ones(capsys):
    assert cli.main(["run", "--methods", "nope", "--dataset", "moving-shapes"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nope'" in err and "copy_last" in err
    assert cli.main(["run", "--methods", "all", "--dataset", "kthh"]) == 2
    assert "moving-shapes" in capsys.readouterr().err
    assert cli.main(["score", "a", "b", "--metrics", "psnr,zzz"]) == 2


def test_cli_list_json(capsys):
    assert cli.main(["list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    names = {m["name"]: m for m in info["methods"]}
    assert names["copy_last"]["tasks"] == ["prediction"]
    ds = {d["name"]: d for d in info["datasets"]}
    assert "prediction" in ds["moving-shapes"]["protocols"]
    assert {"psnr", "ssim", "fcs"} <= {m["name"] for m in info["metrics"]}


def test_data_info_json(small_data_root, capsys):
    # default split sizes: this generates the full embedded set under a temp root only if asked;
    # use the small root's dataset through the Python API instead of the CLI default sizes.
    from benchmark.pipeline import load_dataset

    ds = load_dataset("moving-shapes", small_data_root, split_sizes=SMALL_SPLITS)
    assert len(ds.load_split("test")) == SMALL_SPLITS["test"]


def test_cli_train_under_torchrun_two_gloo_ranks(tmp_path):
    """`torchrun --nproc_per_node 2 benchmark train` trains with DDP on CPU; rank 0 alone writes."""
    from tests.distributed import torchrun_two_ranks

    proc = torchrun_two_ranks("-m", "benchmark.cli", "train", "conv_lstm", "--dataset", "moving-shapes",
                              "--out", str(tmp_path), "--data-root", str(tmp_path / "data"), "--no-progress",
                              "--set", "train.steps=2", "--set", "train.batch_size=4", "--set", "train.log_every=1")
    assert proc.stdout.count("model.pt") == 1 and "2 process(es)" in proc.stdout
    run_dir = tmp_path / "runs/moving-shapes/conv_lstm/smoke/seed0"
    rec = read_json(run_dir / "train/stage.json")
    assert rec["world_size"] == 2
    assert rec["hardware"] == {"device": "cpu", "gpu": None, "world_size": 2, "precision": "fp32"}
    assert torch.load(run_dir / "train/model.pt", weights_only=False)["state"]


def _tiny_train(**extra):
    return {"train.steps": "6", "train.batch_size": "4", "train.checkpoint_every": "3", "train.log_every": "1",
            **extra}


def test_killed_training_resumes_to_identical_weights(small_data_root, tmp_path, monkeypatch):
    """A run killed after its step-3 checkpoint, re-run with the same command, resumes and ends with
    weights bitwise identical to an uninterrupted run; a changed config never resumes a stale one."""
    from benchmark.pipeline import stage_train
    from benchmark.training import loop

    full = _spec(small_data_root, tmp_path / "a", "conv_lstm", overrides=_tiny_train())
    stage_train(full)
    reference = torch.load(full.run_dir / "train/model.pt", weights_only=False)["state"]

    killed = _spec(small_data_root, tmp_path / "b", "conv_lstm", overrides=_tiny_train())
    real_train = loop.train

    def kill_at_4(*args, **kwargs):
        def cb(step, losses):
            if step == 4:
                raise KeyboardInterrupt
        return real_train(*args, **{**kwargs, "callback": cb})

    monkeypatch.setattr(loop, "train", kill_at_4)
    with pytest.raises(KeyboardInterrupt):
        stage_train(killed)
    assert (killed.run_dir / "train/checkpoint.pt").exists() and not (killed.run_dir / "train/model.pt").exists()
    monkeypatch.setattr(loop, "train", real_train)
    _, rec = stage_train(killed)
    assert rec["resumed"] is True
    resumed = torch.load(killed.run_dir / "train/model.pt", weights_only=False)["state"]
    for name, sd in reference.items():
        for k, v in sd.items():
            assert torch.equal(v, resumed[name][k]), f"{name}.{k} differs after resume"

    # a kill, then a re-run with another learning rate: the checkpoint of the other training is refused
    # with a clear message (never resumed, never silently dropped); --no-resume starts over
    other = _spec(small_data_root, tmp_path / "c", "conv_lstm", overrides=_tiny_train())
    monkeypatch.setattr(loop, "train", kill_at_4)
    with pytest.raises(KeyboardInterrupt):
        stage_train(other)
    monkeypatch.setattr(loop, "train", real_train)
    other.overrides = _tiny_train(lr="1e-3")
    with pytest.raises(UserError, match="another config, seed, data or code.*--no-resume"):
        stage_train(other)
    assert (other.run_dir / "train/checkpoint.pt").exists()
    other.resume = False
    _, rec = stage_train(other)
    assert rec["resumed"] is False
