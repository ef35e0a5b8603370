"""Action-conditioned BAIR (``protocol=svg_actions``) end to end: the clips' actions reach SAVP and
SV2P in training (``TrainData.actions``) and at test time (``Conditioning.actions``), aligned frame by
frame; action-free protocols build action-free models."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.methods import DataSpec
from benchmark.pipeline import RunSpec, run_method
from benchmark.registry import DATASETS, METHODS
from benchmark.stages.spec import build_method, open_dataset
from benchmark.stages.train import training_data
from benchmark.utils import read_json
from tests.data_builders import build_bair


@pytest.fixture(scope="module")
def bair_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bair")
    build_bair(root / "raw" / "bair", train=2, test=1)
    DATASETS.build("bair", root=root, strict_inputs=False).prepare()
    return root


def _spec(root, out, method, **kw):
    return RunSpec(method=method, dataset="bair", out=out, data_root=root, progress=False,
                   dataset_options={"protocol": "svg_actions", "strict_inputs": False}, **kw)


def test_bair_actions_protocol_serves_aligned_actions(bair_root):
    ds = DATASETS.build("bair", root=bair_root, strict_inputs=False, protocol="svg_actions")
    proto = ds.protocols["prediction"]
    assert proto.train.conditioning == proto.test.conditioning == ("actions",)
    spec = DataSpec.of(ds, ("prediction",))
    assert spec.action_dim == 4
    train = ds.load_split("train")
    acts = ds.clip_actions(train, proto.train)
    assert acts.shape == (len(train), 12, 4) and acts.dtype == np.float32
    # the builder's action at trajectory step t is (t, 1, 2, 3): the clip's own steps, in order
    offsets = np.array([m["offset"] for m in train.meta])
    assert np.array_equal(acts[:, :, 0], offsets[:, None] + np.arange(12))
    assert (acts[:, :, 1:] == [1, 2, 3]).all()
    # action-free BAIR: the same data, models without actions
    free = DataSpec.of(DATASETS.build("bair", root=bair_root, strict_inputs=False), ("prediction",))
    for name in ("savp", "sv2p"):
        assert METHODS.get(name).profiles["smoke"](free).action_dim == 0
        assert METHODS.get(name).profiles["smoke"](spec).action_dim == 4


@pytest.mark.parametrize("method", ["savp", "sv2p"])
def test_training_data_carries_actions_for_action_conditioned_methods(bair_root, tmp_path, method):
    spec = _spec(bair_root, tmp_path, method)
    ds = open_dataset(spec)
    m = build_method(spec, ds)
    assert m.conditioning_inputs("prediction") == ("actions",)
    data, _, _, key = training_data(spec, ds, m)
    assert data.actions is not None and data.actions.shape == (*data.videos.shape[:2], 4)
    assert "actions" in key  # the training key depends on the actions


@pytest.mark.slow  # ~2 min on the shared 2-core machine (64x64 frames, 28 predicted)
def test_pipeline_runs_savp_on_action_conditioned_bair(bair_root, tmp_path):
    path = run_method(_spec(bair_root, tmp_path, "savp", max_train_steps=2, max_samples=2, metrics=["psnr"]))
    res = read_json(path)
    task = res["tasks"]["prediction"]
    assert task["conditioning"]["given"] == ["context", "actions"]
    assert np.isfinite(task["metrics"]["psnr_best"]["value"])
