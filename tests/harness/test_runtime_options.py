"""Training precision and speed knobs (--precision fp32|tf32|bf16, --cudnn-benchmark, --deterministic,
--compile): applied to the training, restored after it, and recorded in stage.json, the manifest and
the training cache key."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.stages.spec import RunSpec
from benchmark.stages.train import stage_train
from benchmark.training import loop, runtime
from benchmark.training.distributed import SINGLE_CPU_FP32, training_hardware
from benchmark.utils import UserError, read_json
from benchmark.methods import Method
from tests.conftest import tiny_options

SEEN: list[dict] = []


class _Probe(Method):
    """A one-conv next-frame predictor whose loss notes the numeric mode it runs under."""

    tasks = ("prediction",)
    trainable = True
    paper = "test"
    profiles = {"smoke": lambda spec: {}}

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.model = torch.nn.Conv2d(3, 3, 3, padding=1)

    def modules(self):
        return {"model": self.model}

    def predict(self, cond, *, seed):
        return cond.context[:, -1:].unsqueeze(1).expand(-1, 1, cond.num_frames, -1, -1, -1).clone()

    def fit(self, data, run_dir, *, seed, resume=False, progress=True, stage="train"):
        opt = torch.optim.SGD(self.model.parameters(), lr=0.01)

        def loss_fn(batch):
            x = batch.videos
            out = self.model(x[:, 0])
            mm = torch.mm(x[:, 0, 0, :4, :4].flatten(0, 1), x[:, 0, 0, :4, :4].flatten(0, 1).T)  # an autocast op
            SEEN.append({"autocast": torch.is_autocast_enabled("cpu"), "dtype": mm.dtype,
                         "deterministic": torch.are_deterministic_algorithms_enabled()})
            return (out.float() - x[:, 1]).pow(2).mean()

        parts = loop.TrainParts(method=self.name, modules=self.modules(), phases=[loop.Phase("l", opt, loss_fn)])
        cfg = loop.TrainConfig(steps=2, batch_size=2, checkpoint_every=2, log_every=1)
        return loop.train(parts, data, cfg, run_dir, seed=seed, clip_frames=2, progress=False)


def _spec(root, out, **kw):
    return RunSpec(method="rt_probe", dataset="moving-shapes", out=out, data_root=root,
                   dataset_options=tiny_options(), progress=False, **kw)


@pytest.fixture
def probe(register_method):
    register_method("rt_probe", type("_RtProbe", (_Probe,), {}))
    SEEN.clear()
    yield
    SEEN.clear()


def test_options_validate_and_describe_only_what_is_on():
    with pytest.raises(ValueError, match="precision must be one of"):
        runtime.RuntimeOptions(precision="fp16")
    assert runtime.RuntimeOptions().describe() == {"precision": "fp32"}
    assert runtime.RuntimeOptions(deterministic=True).describe() == {"precision": "fp32", "deterministic": True}
    assert training_hardware("cpu") == SINGLE_CPU_FP32  # default runs keep their cache keys
    assert training_hardware("cpu", runtime.RuntimeOptions(precision="bf16"))["precision"] == "bf16"


def test_applied_sets_backend_switches_and_restores_them():
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
              torch.are_deterministic_algorithms_enabled())
    with runtime.applied(runtime.RuntimeOptions(cudnn_benchmark=True, deterministic=True)) as o:
        assert runtime.active() is o
        assert torch.backends.cudnn.benchmark and torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32  # fp32 = FP32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
            torch.are_deterministic_algorithms_enabled()) == before
    assert runtime.active() == runtime.RuntimeOptions()


def test_bf16_trains_under_autocast_and_is_recorded_and_keyed(probe, tiny_data_root, tmp_path):
    _, rec32 = stage_train(_spec(tiny_data_root, tmp_path / "a"))
    assert SEEN and not any(s["autocast"] for s in SEEN) and SEEN[0]["dtype"] == torch.float32
    SEEN.clear()
    spec = _spec(tiny_data_root, tmp_path / "b", precision="bf16", deterministic=True)
    _, rec16 = stage_train(spec)
    assert SEEN and all(s["autocast"] and s["deterministic"] for s in SEEN) and SEEN[0]["dtype"] == torch.bfloat16
    assert not torch.are_deterministic_algorithms_enabled()  # restored after training
    assert rec16["key"] != rec32["key"]
    assert rec16["hardware"] == {**SINGLE_CPU_FP32, "precision": "bf16", "deterministic": True}
    assert rec32["hardware"] == SINGLE_CPU_FP32
    stage = read_json(spec.run_dir / "train" / "stage.json")
    assert stage["hardware"]["precision"] == "bf16"
    assert read_json(spec.run_dir / "train" / "train_config.json")["runtime"]["precision"] == "bf16"


def test_tf32_on_a_cpu_is_refused_with_the_reason(probe, tiny_data_root, tmp_path):
    with pytest.raises(UserError, match="tf32 is a CUDA tensor-core mode"):
        stage_train(_spec(tiny_data_root, tmp_path, precision="tf32"))


def test_cli_flags_reach_the_run_spec(tmp_path):
    from benchmark.cli import _spec as cli_spec, build_parser

    args = build_parser().parse_args(["train", "copy_last", "--dataset", "moving-shapes", "--precision", "bf16",
                                      "--cudnn-benchmark", "--compile"])
    spec = cli_spec(args, "copy_last")
    assert (spec.precision, spec.cudnn_benchmark, spec.deterministic, spec.compile) == ("bf16", True, False, True)
    assert dataclasses.replace(spec, precision="fp32").runtime_options().describe() == {
        "precision": "fp32", "cudnn_benchmark": True, "compile": True}
