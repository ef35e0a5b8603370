"""TEMPLATE tests -- copy to ``tests/methods/<name>/test_<name>.py`` and make them about your paper.

The registry-wide tests (``tests/test_methods_registry.py``) already build every profile, train two
steps, round-trip the state and check sample shapes, ranges and seed determinism for every
registered method. Here goes what only your method has: the paper profile's parameter counts
against the official code, closed forms of the losses, the model's own invariants, and a
``@pytest.mark.slow`` test that it learns (beats a trivial baseline on moving-shapes).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.registry import METHODS

NAME = "template"   # <- your method's registry name


def _tiny(spec, **overrides):
    return METHODS.get(NAME).from_profile("smoke", spec, overrides)


def test_smoke_fits_and_predicts_the_protocol(small_dataset, tmp_path):
    """Two training steps on the small moving-shapes, then one prediction of the test protocol."""
    spec = DataSpec.of(small_dataset, METHODS.get(NAME).tasks)
    method = _tiny(spec, **{"train.steps": 2})
    train = small_dataset.load_split("train")
    summary = method.fit(TrainData(train.videos, {"prediction": small_dataset.protocol("prediction", "train")}),
                         tmp_path, seed=0, progress=False)
    assert summary["step"] == 2 and (tmp_path / "train_log.jsonl").exists()
    p = small_dataset.protocol("prediction", "test")
    clips = torch.from_numpy(np.array(small_dataset.clips(p).videos[:2])).float() / 255
    out = method.sample("prediction", Conditioning(2, p.future_frames, context=clips[:, :p.context_frames]), seed=0)
    assert out.shape == (2, 1, p.future_frames, spec.channels, *spec.resolution)


def test_model_is_a_residual_update(small_dataset):
    """A model fact worth pinning: with zero last-layer weights the predictor copies its input."""
    spec = DataSpec.of(small_dataset, METHODS.get(NAME).tasks)
    model = _tiny(spec).model
    last = model.net[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    frame = torch.rand(2, spec.channels, *spec.resolution)
    assert torch.equal(model(frame), frame)
    assert dataclasses.is_dataclass(_tiny(spec).config)
