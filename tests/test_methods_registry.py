"""Registry-wide method tests: every registered method gets these for free.

Builds the ``smoke`` profile on the small moving-shapes, trains two steps (when the config nests
a ``train`` section) with the dataset labels the method asks for, round-trips the state, checks sample shapes, ranges and seed determinism.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.data.base import TASKS
from benchmark.methods import Conditioning, Method, ProfileUnavailable, TrainData
from benchmark.pipeline import data_spec, train_labels
from benchmark.registry import METHODS

ALL_METHODS = METHODS.list()


def _short(config):
    """Two optimiser steps on tiny batches, whatever the method."""
    if dataclasses.is_dataclass(config) and any(f.name == "train" for f in dataclasses.fields(config)):
        train = config.train
        names = {f.name for f in dataclasses.fields(train)}
        changes = {k: v for k, v in {"steps": 2, "batch_size": 4, "checkpoint_every": 1, "log_every": 1}.items()
                   if k in names}
        return dataclasses.replace(config, train=dataclasses.replace(train, **changes))
    return config


def train_smoke(name: str, dataset, run_dir):
    """``(method, spec)``: the smoke profile of ``name`` trained two steps (every stage) on ``dataset``."""
    cls = METHODS.get(name)
    train = dataset.load_split("train")
    spec = data_spec(dataset, cls.tasks)
    method = cls(_short(cls.profiles["smoke"](spec)), spec)
    data = TrainData(videos=train.videos, protocols={t: dataset.protocol(t, "train") for t in spec.protocols},
                     content_hash=train.content_hash, labels=train_labels(dataset, train, method))
    method.fit_stages(data, run_dir, seed=0, resume=False, progress=False)
    return method, spec


@pytest.fixture(scope="module")
def trained(small_dataset, tmp_path_factory):
    """name -> (method, spec, run_dir), each trained 2 steps on the small dataset."""
    out = {}
    for name in ALL_METHODS:
        run_dir = tmp_path_factory.mktemp(name)
        out[name] = (*train_smoke(name, small_dataset, run_dir), run_dir)
    return out


def _outputs(method: Method, small_dataset, seed: int) -> dict[str, torch.Tensor]:
    res = {}
    for task in method.tasks:
        p = small_dataset.protocol(task, "test")
        if task == "synthesis":
            res[task] = method.sample(task, Conditioning(2, p.num_frames), seed=seed)
        else:
            clips = torch.from_numpy(small_dataset.clips(p).videos[:2].copy()).float() / 255
            cond = Conditioning(2, p.future_frames, num_samples=2, context=clips[:, :p.context_frames])
            res[task] = method.sample(task, cond, seed=seed)
    return res


def check_declares_tasks_and_profiles(name: str) -> None:
    cls = METHODS.get(name)
    assert cls.name == name
    assert cls.tasks and set(cls.tasks) <= set(TASKS)
    assert {"smoke", "paper"} <= set(cls.profiles)


def check_samples(name: str, method: Method, spec, dataset) -> None:
    """Shapes, ranges and seed determinism of the samples of every task."""
    a = _outputs(method, dataset, seed=3)
    b = _outputs(method, dataset, seed=3)
    for task, x in a.items():
        p = dataset.protocol(task, "test")
        c, (h, w) = spec.channels, spec.resolution
        if task == "synthesis":
            assert x.shape == (2, p.num_frames, c, h, w)
        else:
            assert x.shape[0] == 2 and x.shape[2:] == (p.future_frames, c, h, w)
            # stochastic methods return the k=2 samples asked for; deterministic ones 1 (or k copies)
            assert x.shape[1] == 2 if method.stochastic else x.shape[1] in (1, 2)
        assert x.dtype == torch.float32 and torch.isfinite(x).all()
        assert x.min() >= 0 and x.max() <= 1
        assert torch.equal(x, b[task]), f"{name}/{task} is not deterministic for a fixed seed"


def check_state_round_trip(name: str, method: Method, spec, dataset, tmp_path) -> None:
    path = tmp_path / "state.pt"
    torch.save(method.state_dict(), path)
    fresh = METHODS.get(name)(method.config, spec)
    fresh.load_state_dict(torch.load(path, weights_only=False))
    a, b = _outputs(method, dataset, seed=5), _outputs(fresh, dataset, seed=5)
    for task in a:
        assert torch.equal(a[task], b[task])


def check_paper_profile(name: str, dataset) -> None:
    """`--profile paper` builds (no training) and is never smaller than the smoke profile."""
    cls = METHODS.get(name)
    spec = data_spec(dataset, cls.tasks)
    smoke = cls.from_profile("smoke", spec)
    try:
        paper = cls.from_profile("paper", spec)
    except ProfileUnavailable as e:   # e.g. the paper's 32-frame clips on 20-frame videos: a one-line reason
        assert str(e) and "\n" not in str(e)
        paper = cls.from_profile("paper", dataclasses.replace(spec, train_frames=None))   # still builds

    def count(m: Method) -> int:
        return sum(p.numel() for mod in m.modules().values() for p in mod.parameters())

    assert count(paper) >= count(smoke)
    if cls.trainable:
        assert count(paper) > count(smoke)


def check_method(name: str, dataset, tmp_path) -> None:
    """Every registry-wide check for one method (what a method copied from methods/_template gets)."""
    check_declares_tasks_and_profiles(name)
    method, spec = train_smoke(name, dataset, tmp_path / "train")
    check_samples(name, method, spec, dataset)
    check_state_round_trip(name, method, spec, dataset, tmp_path)
    check_paper_profile(name, dataset)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_declares_tasks_and_profiles(name):
    check_declares_tasks_and_profiles(name)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_sample_shapes_ranges_and_determinism(name, trained, small_dataset):
    method, spec, _ = trained[name]
    check_samples(name, method, spec, small_dataset)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_state_round_trip(name, trained, small_dataset, tmp_path):
    method, spec, _ = trained[name]
    check_state_round_trip(name, method, spec, small_dataset, tmp_path)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_paper_profile_builds_and_is_at_least_as_large(name, small_dataset):
    check_paper_profile(name, small_dataset)
