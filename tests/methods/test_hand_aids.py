"""Hand-written aids (``Method.hand_aid``) are read off the resolved config: the rows the leaderboard
marks § are exactly the profiles that switch such an aid on, and a ``--set`` that turns it off drops
the mark."""

from __future__ import annotations

import dataclasses

import pytest

from benchmark.methods import ProfileUnavailable
from benchmark.pipeline import data_spec
from benchmark.registry import DATASETS, METHODS

# the embedded dataset's spec of both tasks (its protocols need no files)
SHAPES = data_spec(DATASETS.build("moving-shapes", root="/nonexistent", split_sizes={"train": 1, "val": 1, "test": 1}),
                   ("prediction", "synthesis"))


def _config(name: str, profile: str):
    return METHODS.get(name).profiles[profile](SHAPES)


def test_only_the_cpu_profiles_of_ddpae_and_videoflow_carry_a_hand_aid_on_moving_shapes():
    aided = set()
    for name in METHODS.declared():
        cls = METHODS.get(name)
        for profile in ("cpu", "smoke"):
            if profile not in cls.profiles:
                continue
            try:
                cfg = cls.profiles[profile](SHAPES)
            except ProfileUnavailable:
                continue
            as_dict = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg or {})
            if cls.hand_aid(as_dict):
                aided.add((name, profile))
    assert aided == {("ddpae", "cpu"), ("videoflow", "cpu")}


@pytest.mark.parametrize("name, off, words", [
    ("ddpae", {"pose_anchor": False, "colour_head": "none"}, ("context pixels", "colours")),
    ("videoflow", {"snap_radius": 0}, ("3x3",)),
])
def test_the_hand_aid_follows_the_config_fields_that_add_it(name, off, words):
    cls = METHODS.get(name)
    cfg = _config(name, "cpu")
    text = cls.hand_aid(dataclasses.asdict(cfg))
    assert text and all(w in text for w in words)
    assert cls.hand_aid(dataclasses.asdict(dataclasses.replace(cfg, **off))) is None
    assert cls.hand_aid(dataclasses.asdict(_config(name, "smoke"))) is None
