"""Multi-stage training (Method.stages): one folder, content key, resume and log per stage; a later
stage's key chains the earlier one's; `benchmark train METHOD --stage NAME`; single-stage methods keep
`train/` exactly as before."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark import cli
from benchmark.methods import Method
from benchmark.pipeline import RunSpec, read_train_records, run_method, stage_train
from benchmark.registry import METHODS
from benchmark.utils import UserError, read_json, write_json_atomic
from tests.conftest import tiny_options


@dataclass(frozen=True)
class _TwoCfg:
    base_value: float = 1.0
    head_value: float = 10.0


class _TwoStage(Method):
    """``base`` learns the mean training pixel (+ base_value); ``head`` (which must see the restored
    base weights) adds head_value. Predicts a constant frame of ``head``'s value."""

    tasks = ("prediction",)
    trainable = True
    profiles = {"smoke": lambda spec: _TwoCfg(), "paper": lambda spec: _TwoCfg()}
    fits: list = []

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.base, self.head = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
        nn.init.zeros_(self.base.weight)
        nn.init.zeros_(self.head.weight)

    def modules(self):
        return {"base": self.base, "head": self.head}

    def stages(self):
        return ("base", "head")

    def stage_config(self, stage):
        cfg = self.config_dict()
        return {"base_value": cfg["base_value"]} if stage == "base" else cfg

    def fit(self, data, run_dir, *, seed, resume=False, progress=True, stage="base"):
        self.check_stage(stage)
        type(self).fits.append((stage, float(self.base.weight.detach())))
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            if stage == "base":
                self.base.weight.fill_(float(data.videos.mean()) / 255 / 100 + self.config.base_value / 100)
            else:
                self.head.weight.fill_(float(self.base.weight) + self.config.head_value / 100)
        (Path(run_dir) / "train_log.jsonl").write_text(f'{{"step": 1, "losses": {{"{stage}": 0.5}}}}\n')
        return {"stage": stage}

    def predict(self, cond, *, seed):
        value = float(self.head.weight) % 1.0
        return torch.full((cond.batch_size, 1, cond.num_frames, *cond.context.shape[2:]), value)


def _spec(root, out, **kw):
    return RunSpec(method="two_stage", dataset="moving-shapes", out=out, data_root=root, progress=False,
                   dataset_options=tiny_options(), metrics=["psnr"], **kw)


def test_each_stage_has_its_folder_key_and_log_and_chains_the_earlier(tiny_data_root, tmp_path, register_method):
    register_method("two_stage", _TwoStage)
    _TwoStage.fits = []
    spec = _spec(tiny_data_root, tmp_path)
    run_method(spec)
    run_dir = spec.run_dir
    for stage in ("base", "head"):
        for f in ("model.pt", "config.json", "stage.json", "train_log.jsonl"):
            assert (run_dir / "train" / stage / f).is_file(), (stage, f)
    assert not (run_dir / "train" / "model.pt").exists() and not (run_dir / "train" / "stage.json").exists()
    recs = read_train_records(run_dir)
    assert list(recs) == ["base", "head"] and recs["head"]["stages"] == ["base", "head"]
    # the head stage saw the base weights restored from train/base/model.pt
    base_w = torch.load(run_dir / "train/base/model.pt", weights_only=False)["state"]["base"]["weight"]
    assert _TwoStage.fits == [("base", 0.0), ("head", float(base_w))]
    res = read_json(run_dir / "results.json")
    assert res["train_logs"] == {"base": "train/base/train_log.jsonl", "head": "train/head/train_log.jsonl"}
    manifest = read_json(run_dir / "manifest.json")
    assert {"train/base/model.pt", "train/head/model.pt"} <= set(manifest["artifacts"])
    assert manifest["training_stages"] == {s: recs[s]["key"] for s in ("base", "head")}

    # nothing changed: nothing refits
    run_method(spec)
    assert len(_TwoStage.fits) == 2
    # a head-only setting refits the head only; a base setting refits both (the head key chains the base key)
    run_method(_spec(tiny_data_root, tmp_path, overrides={"head_value": "20"}))
    assert [s for s, _ in _TwoStage.fits[2:]] == ["head"]
    assert read_train_records(run_dir)["base"]["key"] == recs["base"]["key"]
    run_method(_spec(tiny_data_root, tmp_path, overrides={"head_value": "20", "base_value": "2"}))
    assert [s for s, _ in _TwoStage.fits[3:]] == ["base", "head"]
    new = read_train_records(run_dir)
    assert new["base"]["key"] != recs["base"]["key"] and new["head"]["key"] != recs["head"]["key"]


def test_benchmark_train_stage(tiny_data_root, tmp_path, register_method, monkeypatch, capsys):
    register_method("two_stage", _TwoStage)
    _TwoStage.fits = []
    args = ["train", "two_stage", "--dataset", "moving-shapes", "--out", str(tmp_path), "--data-root",
            str(tiny_data_root), "--no-progress"]
    # the CLI builds the dataset with its default sizes: give it the tiny ones
    from benchmark import pipeline

    real = pipeline.load_dataset
    monkeypatch.setattr(pipeline, "load_dataset", lambda name, root=None, **o: real(name, root, **{**tiny_options(), **o}))
    assert cli.main([*args, "--stage", "head"]) == 2
    assert "stage 'base' is not trained" in capsys.readouterr().err and not _TwoStage.fits
    assert cli.main([*args, "--stage", "nope"]) == 2
    assert "no training stage 'nope'; its stages are ['base', 'head']" in capsys.readouterr().err
    assert cli.main([*args, "--stage", "base"]) == 0
    assert "train/base/model.pt" in capsys.readouterr().out and [s for s, _ in _TwoStage.fits] == ["base"]
    assert cli.main([*args, "--stage", "head"]) == 0        # base is cached; its weights are restored from disk
    assert "train/head/model.pt" in capsys.readouterr().out
    assert [s for s, _ in _TwoStage.fits] == ["base", "head"] and _TwoStage.fits[1][1] != 0.0
    assert cli.main(args) == 0 and len(_TwoStage.fits) == 2   # everything cached


def test_single_stage_methods_keep_the_train_folder(tiny_data_root, tmp_path):
    spec = RunSpec(method="static_frame", dataset="moving-shapes", out=tmp_path, data_root=tiny_data_root,
                   progress=False, dataset_options=tiny_options(), metrics=["fcs"])
    _, rec = stage_train(spec)
    assert (spec.run_dir / "train/model.pt").is_file() and (spec.run_dir / "train/stage.json").is_file()
    assert "stage" not in rec and list(read_train_records(spec.run_dir)) == ["train"]
    with pytest.raises(UserError, match="no training stage 'head'"):
        stage_train(spec, only="head")


def test_vgan_ae_gmm_trains_in_two_stages(small_dataset):
    from benchmark.pipeline import data_spec

    cls = METHODS.get("vgan_ae_gmm")
    m = cls.from_profile("smoke", data_spec(small_dataset, cls.tasks))
    assert m.stages() == ("autoencoder", "gmm")
    assert not any(k.startswith("gmm_") for k in m.stage_config("autoencoder"))   # a GMM change keeps the AE
    assert m.stage_config("gmm") == m.config_dict()


def test_a_missing_middle_stage_is_a_clear_error(tmp_path):
    write_json_atomic(tmp_path / "train/head/stage.json", {"key": "k", "stage": "head", "stages": ["base", "head"]})
    with pytest.raises(UserError, match=r"training stage\(s\) \['base'\] not trained"):
        read_train_records(tmp_path)
