"""Every synthesis method on every dataset that has a synthesis protocol: the ``smoke`` profile
built from the dataset's own protocols trains a step on clips of that shape (gray or RGB, 16 or 32
frames, with the labels it asks for) and generates clips of the test protocol; the ``paper``
profile builds. Real data is not needed: random clips of the protocol's shape stand in for it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.registry import DATASETS, METHODS

# ucf101 declares its labels from the prepared store (classInd.txt); 101 classes
LABELS_WITHOUT_STORE = {"ucf101": {"action": 101}}


def _synthesis_datasets() -> list[str]:
    out = []
    for name in DATASETS.list():
        ds = DATASETS.build(name, root="/nonexistent-vidbench-root")
        if "synthesis" in ds.protocols:
            out.append(name)
    return out


DATASET_NAMES = _synthesis_datasets()
METHOD_NAMES = [m for m in METHODS.list() if "synthesis" in METHODS.get(m).tasks]


def _spec(name: str) -> DataSpec:
    ds = DATASETS.build(name, root="/nonexistent-vidbench-root")
    labels = LABELS_WITHOUT_STORE.get(name)
    if labels is None:
        labels = {k: len(s.classes) for k, s in ds.label_specs().items()}
    p = ds.protocols["synthesis"]
    return DataSpec(name, p.test.channels, p.test.resolution, {"synthesis": p}, labels=labels)


def _one_step(config):
    if dataclasses.is_dataclass(config) and any(f.name == "train" for f in dataclasses.fields(config)):
        names = {f.name for f in dataclasses.fields(config.train)}
        changes = {k: v for k, v in {"steps": 1, "batch_size": 2, "checkpoint_every": 1}.items() if k in names}
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **changes))
    return config


def test_the_synthesis_datasets_cover_gray_rgb_16_and_32_frames():
    shapes = {(_spec(n).channels, _spec(n).protocols["synthesis"].test.num_frames) for n in DATASET_NAMES}
    assert {"moving-shapes", "kth", "weizmann", "ucf101", "vgan-golf"} <= set(DATASET_NAMES)
    assert {(1, 16), (3, 16), (3, 32)} <= shapes


@pytest.mark.parametrize("dataset", DATASET_NAMES)
@pytest.mark.parametrize("method", METHOD_NAMES)
def test_smoke_trains_and_generates_on_the_protocol(method, dataset, tmp_path):
    cls, spec = METHODS.get(method), _spec(dataset)
    train_p, test_p = spec.protocols["synthesis"].train, spec.protocols["synthesis"].test
    m = cls(_one_step(cls.profiles["smoke"](spec)), spec)
    rng = np.random.default_rng(0)
    n = 6
    videos = rng.integers(0, 256, (n, train_p.num_frames + 2, spec.channels, *spec.resolution), dtype=np.uint8)
    labels = {k: rng.integers(0, spec.labels[k], n) for k in m.label_inputs()}
    m.fit_stages(TrainData(videos=videos, protocols={"synthesis": train_p}, labels=labels), tmp_path, seed=0,
                 progress=False)
    x = m.sample("synthesis", Conditioning(2, test_p.num_frames), seed=1)
    assert x.shape == (2, test_p.num_frames, spec.channels, *spec.resolution)
    assert torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("dataset", DATASET_NAMES)
@pytest.mark.parametrize("method", METHOD_NAMES)
def test_paper_profile_builds_for_the_protocol(method, dataset):
    cls, spec = METHODS.get(method), _spec(dataset)
    m = cls(cls.profiles["paper"](spec), spec)
    cfg = m.config_dict()
    if "channels" in cfg:  # built for the dataset's frames
        assert (cfg["channels"], tuple(cfg["resolution"])) == (spec.channels, spec.resolution)
    if cls.trainable:
        assert sum(p.numel() for mod in m.modules().values() for p in mod.parameters()) > 0
