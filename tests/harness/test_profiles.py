"""Profiles are functions of the dataset spec: smoke profiles adapt to each dataset's protocols and
training videos; a paper profile that cannot fit says why (`benchmark list --dataset D`) and
`benchmark run` skips it with that one-line reason instead of failing."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
import torch
from rich.console import Console

from benchmark import cli
from benchmark.data.base import Protocol, TaskProtocols
from benchmark.methods import Conditioning, DataSpec, Method, ProfileUnavailable
from benchmark.registry import METHODS
from benchmark.run import run_benchmark
from tests.conftest import tiny_options


def _kth_like() -> DataSpec:
    """KTH's prediction protocols (10 -> 10 on 20-frame training windows, 10 -> 30 at test), gray 64x64."""
    pred = TaskProtocols(Protocol("prediction-10to10", "prediction", "train", 10, 10, (64, 64), 1),
                         Protocol("prediction-10to30", "prediction", "test", 10, 30, (64, 64), 1))
    return DataSpec("kth", 1, (64, 64), {"prediction": pred}, train_frames=20)


def test_vgan_future_smoke_fits_short_training_windows_and_predicts_the_long_horizon():
    cls = METHODS.get("vgan_future")
    spec = _kth_like()
    m = cls.from_profile("smoke", spec)
    assert m.config.frames <= 20                     # it can be trained on KTH's 20-frame windows
    out = m.sample("prediction", Conditioning(2, 30, context=torch.rand(2, 10, 1, 64, 64)), seed=0)
    assert out.shape == (2, 1, 30, 1, 64, 64)
    with pytest.raises(ProfileUnavailable, match="the paper's 32-frame clips do not fit kth's 20-frame"):
        cls.from_profile("paper", spec)
    assert cls.from_profile("paper", dataclasses.replace(spec, train_frames=None)).config.frames == 32


def test_list_says_which_profiles_fit_a_dataset(tiny_data_root, capsys):
    assert cli.main(["list", "--json", "--dataset", "moving-shapes", "--data-root", str(tiny_data_root)]) == 0
    methods = {m["name"]: m for m in json.loads(capsys.readouterr().out)["methods"]}
    vgan = methods["vgan"]["on_dataset"]
    assert vgan["dataset"] == "moving-shapes" and vgan["profiles"]["smoke"] == "ok"
    assert "32-frame clips do not fit moving-shapes's 20-frame training videos" in vgan["profiles"]["paper"]
    assert methods["copy_last"]["on_dataset"]["profiles"] == {"cpu": "ok", "paper": "ok", "smoke": "ok"}


def test_run_skips_a_paper_profile_that_cannot_fit_with_its_reason(tiny_data_root, tmp_path):
    log = io.StringIO()
    code = run_benchmark("vgan", "moving-shapes", profile="paper", out=tmp_path, data_root=tiny_data_root,
                         progress=False, report=False, dataset_options=tiny_options(), metrics=["fcs"],
                         console=Console(file=log, width=300))
    assert code == 0, log.getvalue()
    assert "skipped: vgan: profile 'paper' does not fit moving-shapes: the paper's 32-frame clips" in log.getvalue()


class _SmokeOnly(Method):
    """A method with only a ``smoke`` profile (not registered; every registered method may get a cpu one)."""

    name = "smoke_only"
    tasks = ("prediction",)
    profiles = {"smoke": lambda spec: None}


def test_a_missing_profile_is_a_skip_reason_and_the_cli_offers_cpu():
    spec = _kth_like()
    with pytest.raises(ProfileUnavailable, match="smoke_only has no 'cpu' profile"):
        _SmokeOnly.profile_config("cpu", spec)
    for name in ("copy_last", "mean_context", "static_frame"):  # the trivial rows exist in every profile
        METHODS.get(name).profile_config("cpu", spec)
    args = cli.build_parser().parse_args(["run", "--methods", "all", "--dataset", "moving-shapes", "--profile", "cpu"])
    assert args.profile == "cpu"
