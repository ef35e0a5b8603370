from __future__ import annotations

from dataclasses import dataclass

import pytest

from benchmark.config import apply_overrides, from_dict, parse_override_args
from benchmark.registry import DATASETS, METHODS, METRICS, Registry, UnknownNameError


def test_registry_register_build_list_and_errors():
    r: Registry = Registry("thing")

    @r.register("a_one")
    class A:
        def __init__(self, x=1):
            self.x = x

    r.register("b_two")(A)
    assert r.list() == ["a_one", "b_two"] and r.list("a_*") == ["a_one"]
    assert r.build("a_one", x=3).x == 3
    with pytest.raises(ValueError, match="already registered"):
        r.register("a_one")(A)
    with pytest.raises(UnknownNameError, match="valid things: a_one, b_two"):
        r.get("zzz")
    assert r.resolve("all") == ["a_one", "b_two"]
    assert r.resolve("b_two,a_*") == ["b_two", "a_one"]
    with pytest.raises(UnknownNameError):
        r.resolve("a_one,nope")


def test_global_registries_are_populated():
    assert {"copy_last", "mean_context", "static_frame"} <= set(METHODS.list())
    assert "moving-shapes" in DATASETS.list()
    assert {"psnr", "ssim", "fcs"} <= set(METRICS.list())


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    steps: int = 10


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    train: Inner = Inner()
    flag: bool = False


def test_config_overrides_and_strict_keys():
    c = apply_overrides(Outer(), parse_override_args(["--train.lr=2e-4", "flag=true", "train.steps=5"]))
    assert c.train.lr == 2e-4 and c.train.steps == 5 and c.flag is True
    with pytest.raises(ValueError, match="unknown config keys"):
        apply_overrides(Outer(), {"train.lrr": "1"})
    with pytest.raises(ValueError, match="unknown keys"):
        from_dict(Outer, {"nme": "y"})
    assert from_dict(Outer, {"train": {"lr": 0.5}}).train.lr == 0.5
    with pytest.raises(ValueError, match="key=value"):
        parse_override_args(["--oops"])
