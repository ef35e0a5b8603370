"""Shared fixtures: a small moving-shapes dataset generated once per session."""

from __future__ import annotations

import os

import pytest
import torch

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
