"""Contract v2: one typed Conditioning per generate/predict call; the protocol says what it provides,
the pipeline passes exactly that (plus context for prediction) and records it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import Conditioning, Method
from benchmark.pipeline import RunSpec, run_method
from benchmark.utils import UserError, read_json
from tests.conftest import tiny_options


# ------------------------------------------------------------------------ the dataclass ---

def test_conditioning_checks_shapes_and_reports_what_is_given():
    ctx = torch.rand(2, 3, 1, 8, 8)
    cond = Conditioning(2, 4, num_samples=3, context=ctx, end_frame=torch.rand(2, 1, 8, 8),
                        labels={"action": torch.tensor([0, 2])})
    assert cond.provided() == ("context", "end_frame", "labels") and cond.context_frames == 3
    assert cond.times().tolist() == [3.0, 4.0, 5.0, 6.0]
    assert cond.describe() == {"num_frames": 4, "num_samples": 3,
                               "fields": {"context": [2, 3, 1, 8, 8], "end_frame": [2, 1, 8, 8], "labels": ["action"]}}
    half = cond.select(slice(1, 2))
    assert half.batch_size == 1 and torch.equal(half.context, ctx[1:]) and half.labels["action"].tolist() == [2]
    assert Conditioning(1, 2).provided() == ()
    with pytest.raises(ValueError, match="context: expected a 5-D tensor with batch size 2"):
        Conditioning(2, 4, context=torch.rand(3, 3, 1, 8, 8))
    with pytest.raises(ValueError, match=r"labels\['action'\]: expected int64 \(2,\)"):
        Conditioning(2, 4, labels={"action": torch.tensor([0.0, 1.0])})
    with pytest.raises(ValueError, match=r"target_times: expected \(4,\)"):
        Conditioning(2, 4, target_times=torch.arange(3.0))
    with pytest.raises(ValueError, match="must be >= 1"):
        Conditioning(0, 4)


def test_protocol_names_only_known_conditioning():
    p = Protocol("p", "prediction", "test", 2, 3, (8, 8), 1, conditioning=("end_frame", "actions"))
    assert p.to_dict()["conditioning"] == ["end_frame", "actions"] and "given end_frame+actions" in p.describe()
    with pytest.raises(ValueError, match="unknown conditioning \\['end_frames'\\]"):
        Protocol("p", "prediction", "test", 2, 3, (8, 8), 1, conditioning=("end_frames",))


# ------------------------------------------------------------------ the harness passes it ---

@dataclass(frozen=True)
class _NoConfig:
    pass


class _Probe(Method):
    """Copies the last context frame (prediction) or the first real frame (synthesis), recording
    every Conditioning it is handed."""

    tasks = ("prediction", "synthesis")
    profiles = {"smoke": lambda spec: _NoConfig(), "paper": lambda spec: _NoConfig()}
    calls: list = []

    def predict(self, cond, *, seed):
        type(self).calls.append(("prediction", cond))
        return cond.context[:, -1:].unsqueeze(1).expand(-1, 1, cond.num_frames, -1, -1, -1).clone()

    def generate(self, cond, *, seed):
        type(self).calls.append(("synthesis", cond))
        base = cond.first_frame if cond.first_frame is not None else torch.zeros(
            cond.batch_size, self.spec.channels, *self.spec.resolution)
        return base.unsqueeze(1).expand(-1, cond.num_frames, -1, -1, -1).clone()


class _Given(MovingShapes):
    """The tiny moving-shapes whose test protocols provide every optional field."""

    def __init__(self, root=None, **config):
        super().__init__(root, **config)
        pred, synth = self.protocols["prediction"], self.protocols["synthesis"]
        self.protocols = {
            "prediction": TaskProtocols(pred.train, dataclasses.replace(
                pred.test, samples_per_context=1, conditioning=("end_frame", "labels", "target_times"))),
            "synthesis": TaskProtocols(synth.train, dataclasses.replace(
                synth.test, conditioning=("first_frame", "labels"))),
        }


def _spec(root, out, method, dataset="moving-shapes"):
    return RunSpec(method=method, dataset=dataset, out=out, data_root=root, progress=False,
                   dataset_options=tiny_options(), metrics=["psnr", "fcs"])


def test_pipeline_passes_exactly_what_the_protocol_provides(tiny_data_root, tmp_path, register_method,
                                                            register_dataset):
    register_method("probe", _Probe)
    _Probe.calls = []
    run_method(_spec(tiny_data_root, tmp_path, "probe"))
    given = {task: cond.provided() for task, cond in _Probe.calls}
    assert given == {"prediction": ("context",), "synthesis": ()}   # plain moving-shapes: nothing extra
    res = read_json(tmp_path / "runs/moving-shapes/probe/smoke/seed0/results.json")
    assert res["tasks"]["prediction"]["conditioning"]["given"] == ["context"]

    register_dataset("shapes-given", _Given)
    _Probe.calls = []
    out = tmp_path / "given"
    run_method(_spec(tiny_data_root, out, "probe", dataset="shapes-given"))
    ds = _Given(tiny_data_root, **tiny_options())
    calls = dict(_Probe.calls)
    pred, synth = calls["prediction"], calls["synthesis"]
    assert pred.provided() == ("context", "end_frame", "labels", "target_times")
    assert synth.provided() == ("first_frame", "labels")
    p = ds.protocol("prediction", "test")
    clips = torch.from_numpy(np.array(ds.clips(p).videos)).float() / 255
    c, f = p.context_frames, p.future_frames
    assert pred.num_frames == f and pred.num_samples == 1 and pred.context.shape[1] == c
    assert torch.allclose(pred.end_frame, clips[:, c + f - 1])           # the frame the sequence must end at
    assert pred.target_times.tolist() == list(map(float, range(c, c + f)))
    labels = ds.clip_labels(ds.clips(p))
    assert {k: v.tolist() for k, v in pred.labels.items()} == {k: v.tolist() for k, v in labels.items()}
    s = ds.protocol("synthesis", "test")
    assert torch.allclose(synth.first_frame, torch.from_numpy(np.array(ds.clips(s).videos[:, 0])).float() / 255)
    # recorded in results.json and the manifest
    run_dir = out / "runs/shapes-given/probe/smoke/seed0"
    rec = read_json(run_dir / "results.json")["tasks"]["prediction"]["conditioning"]
    assert rec["given"] == ["context", "end_frame", "labels", "target_times"] and rec["labels"] == ["action", "identity"]
    assert read_json(run_dir / "manifest.json")["conditioning"]["synthesis"]["given"] == ["first_frame", "labels"]


class _NeedsActions(_Probe):
    def conditioning_inputs(self, task):
        return ("actions",)


def test_a_method_needing_what_the_protocol_lacks_is_refused(tiny_data_root, tmp_path, register_method):
    register_method("needs_actions", _NeedsActions)
    with pytest.raises(UserError, match="needs actions conditioning for prediction; protocol prediction-5to15 "
                                        "provides none"):
        run_method(_spec(tiny_data_root, tmp_path, "needs_actions"))


class _WrongShape(_Probe):
    def predict(self, cond, *, seed):
        return torch.rand(cond.batch_size, 1, cond.num_frames + 1, self.spec.channels, *self.spec.resolution)


def test_sample_checks_inputs_outputs_and_leaves_the_global_rng(tiny_data_root, register_method):
    from benchmark.pipeline import data_spec, load_dataset

    ds = load_dataset("moving-shapes", tiny_data_root, **tiny_options())
    spec = data_spec(ds, ("prediction",))
    ctx = torch.rand(2, 5, 3, 32, 32)
    bad = register_method("wrong_shape", _WrongShape).from_profile("smoke", spec)
    with pytest.raises(ValueError, match=r"wrong_shape.predict returned \(2, 1, 4, 3, 32, 32\); expected"):
        bad.sample("prediction", Conditioning(2, 3, context=ctx), seed=0)
    probe = register_method("probe2", type("_Probe2", (_Probe,), {})).from_profile("smoke", spec)
    with pytest.raises(ValueError, match=r"prediction needs conditioning \['context'\]"):
        probe.sample("prediction", Conditioning(2, 3), seed=0)
    with pytest.raises(ValueError, match=r"conditioning context has frames \(1, 32, 32\)"):
        probe.sample("prediction", Conditioning(2, 3, context=torch.rand(2, 5, 1, 32, 32)), seed=0)
    state = torch.get_rng_state()
    probe.sample("prediction", Conditioning(2, 3, context=ctx), seed=7)
    assert torch.equal(state, torch.get_rng_state())
