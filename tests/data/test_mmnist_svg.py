"""SM-MNIST (``mmnist`` with ``motion="stochastic"``) as SVG defines it (``edenton/svg``
``data/moving_mnist.py``, ``deterministic=False``): 32x32 digits, corners in [0, 32), a stochastic
bounce that redraws both velocity components, summed digits clipped at 1, test clips generated from
the MNIST test digits; protocols 5 -> 10 (train) and 5 -> 20 (test, best of 100)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from benchmark.registry import DATASETS
from benchmark.utils import UserError


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _digits(raw, name: str, n: int, value: int) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    (raw / name).write_bytes(gzip.compress(_idx(np.full((n, 28, 28), value, np.uint8))))


@pytest.fixture()
def sm(tmp_path):
    raw = tmp_path / "raw" / "mmnist"
    _digits(raw, "train-images-idx3-ubyte.gz", 5, 255)     # solid squares: positions are readable
    _digits(raw, "t10k-images-idx3-ubyte.gz", 5, 128)
    return DATASETS.build("mmnist", root=tmp_path, strict_inputs=False, motion="stochastic", num_digits=1,
                          train_size=20, test_size=6)


def _corners(video: np.ndarray) -> list[tuple[int, int]]:
    out = []
    for frame in video[:, 0]:
        ys, xs = np.nonzero(frame)
        out.append((int(ys.min()), int(xs.min())))
    return out


def test_protocols_and_splits(sm):
    p = sm.protocols["prediction"]
    assert (p.train.context_frames, p.train.future_frames) == (5, 10)
    assert (p.test.context_frames, p.test.future_frames, p.test.samples_per_context) == (5, 20, 100)
    train, test = np.asarray(sm.load_split("train").videos), np.asarray(sm.load_split("test").videos)
    assert train.shape == (20, 15, 1, 64, 64) and test.shape == (6, 25, 1, 64, 64)
    assert train.max() == 255 and test.max() == 128  # test clips come from the test digits
    assert sm.clips(p.test).videos.shape == (6, 25, 1, 64, 64)
    again = DATASETS.build("mmnist", root=sm.root, strict_inputs=False, motion="stochastic", num_digits=1,
                           train_size=20, test_size=6)
    assert np.array_equal(again.load_split("test").videos[3], test[3])


def test_svg_motion_rule(sm):
    """Corners stay in [0, 31]; each step moves at most 4 pixels per axis; the 32x32 digit is whole."""
    for video in sm.load_split("train").videos[:10]:
        assert (video[:, 0] > 0).sum(axis=(1, 2)).tolist() == [32 * 32] * 15
        corners = np.array(_corners(video))
        assert corners.min() >= 0 and corners.max() <= 31
        assert np.abs(np.diff(corners, axis=0)).max() <= 4 + 1  # a clamp at the wall may add one pixel


def test_deterministic_variant_keeps_the_fixed_test_set_and_refuses_test_future(tmp_path):
    with pytest.raises(UserError, match="test_future"):
        DATASETS.build("mmnist", root=tmp_path, test_future=20)
    ds = DATASETS.build("mmnist", root=tmp_path)
    assert ds.digit_size == 28 and ds.protocols["prediction"].test.future_frames == 10
