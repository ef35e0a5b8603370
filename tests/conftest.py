"""Shared fixtures: small moving-shapes datasets generated once per session, and throw-away
method/dataset registrations for tests that define their own."""

from __future__ import annotations

import os

import pytest
import torch

from benchmark.registry import DATASETS, METHODS

torch.set_num_threads(min(2, os.cpu_count() or 1))

SMALL_SPLITS = {"train": 24, "val": 8, "test": 12}


@pytest.fixture(scope="session")
def small_data_root(tmp_path_factory):
    """A data root holding a small moving-shapes (24/8/12 videos)."""
    from benchmark.data.moving_shapes import MovingShapes

    root = tmp_path_factory.mktemp("data")
    MovingShapes(root=root, split_sizes=SMALL_SPLITS).prepare()
    return root


@pytest.fixture(scope="session")
def small_dataset(small_data_root):
    from benchmark.data.moving_shapes import MovingShapes

    return MovingShapes(root=small_data_root, split_sizes=SMALL_SPLITS)


TINY_SPLITS = {"train": 6, "val": 3, "test": 4}


@pytest.fixture
def register_method():
    """``register_method(name, cls)`` registers a test-local Method (``register`` sets ``cls.name``)
    and removes it after the test."""
    added: list[str] = []

    def register(name: str, cls: type) -> type:
        METHODS.register(name)(cls)
        added.append(name)
        return cls

    yield register
    for name in added:
        METHODS.unregister(name)


@pytest.fixture
def register_dataset():
    """``register_dataset(name, cls)``: a test-local dataset class, removed after the test."""
    added: list[str] = []

    def register(name: str, cls: type) -> type:
        DATASETS.register(name)(cls)
        added.append(name)
        return cls

    yield register
    for name in added:
        DATASETS.unregister(name)


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory):
    """A data root holding a 32x32 moving-shapes with 6/3/4 videos (generated in well under a second)."""
    from benchmark.data.moving_shapes import MovingShapes

    root = tmp_path_factory.mktemp("tiny-data")
    MovingShapes(root=root, size=32, split_sizes=TINY_SPLITS).prepare()
    return root


def tiny_options() -> dict:
    """``dataset_options`` of the tiny moving-shapes."""
    return {"size": 32, "split_sizes": dict(TINY_SPLITS)}
