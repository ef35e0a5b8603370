"""Virtual video arrays whose clips are generated from their index (Moving MNIST, bouncing balls)."""

from __future__ import annotations

from typing import Any

import numpy as np


class GeneratedVideos:
    """A read-only uint8 ``(N, T, C, H, W)`` array-like whose clip ``i`` is made on demand.

    Subclasses set ``self.shape`` and implement :meth:`clip`; indexing (an int, a slice or index
    array, optionally followed by indices into the clip) and ``np.asarray`` work as on an array,
    without holding the whole split in memory.
    """

    shape: tuple[int, ...]
    dtype = np.dtype(np.uint8)
    ndim = 5

    @property
    def n(self) -> int:
        return self.shape[0]

    def __len__(self) -> int:
        return self.n

    def clip(self, i: int) -> np.ndarray:
        """Clip ``i`` as uint8 ``(T, C, H, W)``."""
        raise NotImplementedError

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(first, (int, np.integer)):
            if not -self.n <= first < self.n:
                raise IndexError(f"video {first} out of range for {self.n} videos")
            c = self.clip(int(first) % self.n)
            return c[rest] if rest else c
        idx = np.arange(self.n)[first]
        if len(idx) == 0:
            return np.zeros((0, *self.shape[1:]), np.uint8)[(slice(None), *rest)]
        return np.stack([self.clip(int(i))[rest] if rest else self.clip(int(i)) for i in idx])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)
