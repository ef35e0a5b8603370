"""The device everywhere: --device auto by default for the paper profile, an explicit CUDA that is
missing is an error (never a silent CPU fallback, also under torchrun), metric extractors get the
run's device, DVC takes it from params.yaml, and `benchmark run` refuses to be run under torchrun."""

from __future__ import annotations

import pytest
import torch

from benchmark.cli import _device, _spec, build_parser, main
from benchmark.evaluate import build_metrics
from benchmark.stages.spec import default_device, resolve_device
from benchmark.utils import UserError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the path where CUDA is missing")


def _args(*argv):
    return build_parser().parse_args(list(argv))


def test_paper_profile_defaults_to_auto_the_others_to_cpu():
    assert _device(_args("train", "vgan", "--dataset", "moving-shapes", "--profile", "paper")) == "auto"
    assert _device(_args("train", "vgan", "--dataset", "moving-shapes", "--profile", "cpu")) == "cpu"
    assert _device(_args("train", "vgan", "--dataset", "moving-shapes", "--profile", "paper", "--device", "cpu")) == "cpu"
    assert _spec(_args("train", "vgan", "--dataset", "moving-shapes", "--profile", "paper"), "vgan").device == "auto"
    assert default_device("smoke") == "cpu"


@no_cuda
def test_auto_falls_back_to_cpu_but_an_explicit_missing_cuda_is_an_error():
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(UserError, match="CUDA is not available here"):
        resolve_device("cuda")
    with pytest.raises(UserError, match="CUDA is not available here"):
        resolve_device("cuda:1")


@no_cuda
def test_torchrun_with_missing_cuda_is_a_hard_error(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["train", "copy_last", "--dataset", "moving-shapes", "--device", "cuda"])
    assert code == 2 and "refusing to fall back to gloo" in capsys.readouterr().err


def test_run_refuses_to_be_started_by_torchrun(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["run", "--methods", "copy_last", "--dataset", "moving-shapes"])
    assert code == 2 and "is not distributed" in capsys.readouterr().err


def test_metric_feature_networks_get_the_device():
    extractor = build_metrics(["fvd_shapes", "psnr"], device="cpu")["fvd_shapes"].extractor
    assert str(extractor.device) == "cpu" and all(p.device.type == "cpu" for p in extractor.net.parameters())
    if not torch.cuda.is_available():  # the extractor really is moved to the requested device
        with pytest.raises(RuntimeError, match="NVIDIA|CUDA|cuda"):
            build_metrics(["fvd_shapes"], device="cuda")


def test_dvc_stages_take_the_device_from_params():
    import yaml

    params = yaml.safe_load(open("params.yaml"))
    stages = yaml.safe_load(open("dvc.yaml"))["stages"]
    assert params["device"] == "cpu"
    for verb in ("train", "sample", "evaluate"):
        assert "--device ${device}" in stages[verb]["cmd"] and "device" in stages[verb]["params"]
