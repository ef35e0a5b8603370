"""Weizmann on a small copy in the real layout: per-action zips of <person>_<action>.avi (180x144 colour)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data.real import CorruptInputError
from benchmark.data.weizmann import ACTIONS, MATRIX_COMPLETION_TRAIN, PERSONS, Weizmann, parse_name
from benchmark.registry import DATASETS
from benchmark.utils import UserError
from tests.data_builders import build_weizmann, level

ACTS = ("run", "walk", "jump", "skip", "bend")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("weizmann")
    build_weizmann(r / "raw" / "weizmann", actions=ACTS, frames=20)
    return r


def test_parse_names():
    assert parse_name("walk/lena_walk1.avi") == ("lena", "walk", 1)
    assert parse_name("shahar_wave2.avi") == ("shahar", "wave2", 0)
    assert parse_name("eli_pjump.avi") == ("eli", "pjump", 0)
    assert parse_name("readme.txt") is None and parse_name("eli_dance.avi") is None


def test_navslp_store_labels_and_duplicates(root):
    ds = DATASETS.build("weizmann", root=root, actions=ACTS, strict_inputs=False)
    store = ds.store
    assert len(store.segments) == 9 * len(ACTS)  # lena_*2 duplicates dropped
    assert {e["item"] for e in ds.excluded()} == {"lena_run2", "lena_skip2", "lena_walk2"}
    seg = next(s for s in store.segments if s["video"] == "ido_jump")
    assert (seg["person"], seg["identity"], seg["action"], seg["action_index"]) == ("ido", 3, "jump", 2)
    assert seg["source_size"] == [180, 144] and seg["length"] == 20
    tr = ds.load_split("train")
    assert tr.videos.shape[1:] == (16, 3, 64, 64) and len(tr) == len(store.segments) * (20 - 16 + 1)
    clip = tr.videos[0]
    red, gray = clip[:, 0].mean((1, 2)), clip[:, 1].mean((1, 2))
    assert np.all(red > 180) and np.abs(gray - [level(i) for i in range(16)]).max() < 6  # RGB, frames in order
    p = ds.protocol("synthesis", "test")
    assert (p.num_frames, p.resolution, p.channels, p.split) == (16, (64, 64), 3, "train")
    assert ds.clips(p).videos.shape == (9 * len(ACTS), 16, 3, 64, 64)
    assert ds.options()["crop"] == "center"
    keep = Weizmann(root, duplicates="keep", actions=ACTS, strict_inputs=False)
    assert len(keep.store.segments) == 9 * len(ACTS) + 3 and keep.store.path != store.path


def test_matrix_completion_split(root):
    ds = Weizmann(root, split="matrix_completion", actions=ACTS, strict_inputs=False)
    assert ds.splits == ("train", "test") and ds.crop == "none"
    cells = lambda s: {(ds.store.segments[i]["action"], ds.store.segments[i]["identity"] + 1)  # noqa: E731
                       for i in ds.split_segments(s)}
    train, test = cells("train"), cells("test")
    assert train == {(a, p) for a, ps in MATRIX_COMPLETION_TRAIN.items() for p in ps}
    assert test == {(a, p) for a in MATRIX_COMPLETION_TRAIN for p in range(1, 10)} - train
    assert ("run", 4) in test and ("jump", 1) in test and ("skip", 5) in train
    assert not any(a == "bend" for a, _ in train | test)  # actions outside Table 3 are in no split
    assert ds.protocol("synthesis", "test").split == "test"
    assert PERSONS[0] in ds.options()["assumptions"][0]


def test_corrupt_and_unknown_scheme(tmp_path):
    build_weizmann(tmp_path / "raw" / "weizmann", persons=("daria", "eli"), actions=("bend",), corrupt="eli_bend")
    with pytest.raises(CorruptInputError, match="eli_bend"):
        Weizmann(tmp_path, actions=["bend"], strict_inputs=False).prepare()
    assert not list((tmp_path / "weizmann").glob("*/index.json"))
    ds = Weizmann(tmp_path, on_corrupt="skip", actions=["bend"], strict_inputs=False)
    assert [s["video"] for s in ds.store.segments] == ["daria_bend"]
    with pytest.raises(UserError, match="unknown split scheme"):
        Weizmann(tmp_path, split="nope")
    assert len(ACTIONS) == 10 and len(PERSONS) == 9


def test_identity_and_action_labels(root):
    ds = Weizmann(root, actions=ACTS, strict_inputs=False)
    tr = ds.load_split("train")
    labels = ds.clip_labels(tr)
    # identities P1..P9 are the persons in alphabetical order; actions follow the chosen subset
    assert labels["identity"].tolist() == [m["identity"] for m in tr.meta]
    assert [ds.actions[a] for a in labels["action"]] == [m["action"] for m in tr.meta]
    assert ds.label_specs()["action"].classes == ("bend", "jump", "run", "skip", "walk")


@pytest.mark.parametrize("method", ["navslp", "mocogan"])
def test_labelled_methods_train_on_weizmann_through_the_pipeline(method, root, tmp_path):
    """``benchmark run`` hands NAVSLP the identity and action labels (nine static, ten transient
    latents in §4.1) and MoCoGAN the action labels (its categorical code)."""
    from benchmark.pipeline import RunSpec, Stages, run_method

    spec = RunSpec(method=method, dataset="weizmann", out=tmp_path, data_root=root, progress=False,
                   dataset_options={"actions": ACTS, "strict_inputs": False},
                   overrides={"train.steps": 2, "train.batch_size": 2}, metrics=["fcs"])
    run_method(spec)
    labels = Stages(spec.run_dir).get("train")["data"]["labels"]
    want = {"navslp": {"identity", "action"}, "mocogan": {"action"}}[method]
    assert set(labels) == want
    assert labels["action"]["classes"] == ["bend", "jump", "run", "skip", "walk"]
    assert all(c > 0 for c in labels["action"]["counts"])
    if method == "navslp":
        state = torch.load(spec.run_dir / "train" / "model.pt", weights_only=False)["state"]["latents"]
        assert state["static"].shape[0] == 9 and state["transient"].shape[0] == len(ACTS)
