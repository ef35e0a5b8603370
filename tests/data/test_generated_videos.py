"""GeneratedVideos: clips made from their index behave like a read-only uint8 array."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.generated import GeneratedVideos


class _Indexed(GeneratedVideos):
    """Clip i is filled with the value i."""

    def __init__(self, n: int = 3) -> None:
        self.shape = (n, 2, 1, 4, 4)

    def clip(self, i: int) -> np.ndarray:
        return np.full(self.shape[1:], i, np.uint8)


def test_indexing_like_an_array():
    g = _Indexed()
    whole = np.stack([np.full((2, 1, 4, 4), i, np.uint8) for i in range(3)])
    assert len(g) == 3 and g.ndim == 5 and g.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(g), whole)
    np.testing.assert_array_equal(g[-1], whole[-1])
    np.testing.assert_array_equal(g[1:, 0], whole[1:, 0])
    np.testing.assert_array_equal(g[np.array([2, 0])], whole[[2, 0]])
    assert g[3:].shape == (0, 2, 1, 4, 4)
    assert np.asarray(g, dtype=np.float32).dtype == np.float32


def test_out_of_range_raises_and_iteration_ends():
    g = _Indexed()
    with pytest.raises(IndexError, match="out of range"):
        g[3]
    with pytest.raises(IndexError):
        g[-4]
    assert [int(c[0, 0, 0, 0]) for c in g] == [0, 1, 2]  # iteration stops at IndexError
