"""The prepared store: decoded frames in one memory-mappable uint8 array, plus a segment table.

A real dataset is decoded once into ``<root>/<dataset>/<key>/`` where ``key`` is the hash of the
input files' hashes and of the preprocessing parameters:

``frames.npy``
    uint8 ``(F, C, H, W)``: every kept frame of every source segment, segments back to back.
``segments.json``
    one dict per segment (a KTH subsequence, a BAIR trajectory, ...): ``start`` (offset into
    ``frames``), ``length`` and the dataset's labels (``video``, ``person``, ``action`` ...).
``index.json``
    parameters, input hashes, excluded items (and why), counts and the content hash. Written last.

The store is built in a temporary sibling folder and renamed into place only when complete, so a
crash, a corrupt input or Ctrl-C never leaves a half-finished store where a reader would find it.

Clips are *views*: :class:`ClipArray` presents windows of ``T`` frames cut from the segments as a
virtual ``(N, T, C, H, W)`` array without copying, so a split of a large dataset never has to fit
in memory.

>>> import numpy as np, tempfile
>>> root = tempfile.mkdtemp()
>>> with StoreWriter(root, "toy", {"p": 1}, frame_shape=(1, 4, 4)) as w:
...     _ = w.add_segment(np.zeros((5, 1, 4, 4), np.uint8), video="a")
>>> store = FrameStore(w.path)
>>> clips = store.clip_array(store.windows(length=3, step=1), 3)
>>> clips.shape
(3, 3, 1, 4, 4)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from benchmark.utils import sha256_json, write_json_atomic

HEADER_BYTES = 128  # fixed-size .npy header, rewritten in place once the frame count is known
STORE_VERSION = 1


def store_key(inputs: dict[str, Any], params: dict[str, Any]) -> str:
    """Cache key of a store: hash of the inputs' hashes and the preprocessing parameters."""
    return sha256_json({"version": STORE_VERSION, "inputs": inputs, "params": params})[:16]


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version-1.0 ``.npy`` header for uint8 C-order ``shape``, padded to ``HEADER_BYTES``."""
    d = "{'descr': '|u1', 'fortran_order': False, 'shape': (%s), }" % (
        "".join(f"{s}, " for s in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    pre = b"\x93NUMPY\x01\x00"
    body = d.encode("latin1")
    pad = HEADER_BYTES - len(pre) - 2 - len(body) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte npy header")
    return pre + struct.pack("<H", HEADER_BYTES - len(pre) - 2) + body + b" " * pad + b"\n"


class StoreWriter:
    """Write a store segment by segment; it appears at ``path`` only if the ``with`` block succeeds.

    Args:
        root: data root; the store goes to ``root/<dataset>/<key>``.
        dataset: dataset name.
        key: the store key (see :func:`store_key`); a dict is hashed with :func:`sha256_json`.
        frame_shape: ``(C, H, W)`` of every frame.
    """

    def __init__(self, root: str | os.PathLike, dataset: str, key: str | dict[str, Any],
                 frame_shape: tuple[int, int, int], info: dict[str, Any] | None = None) -> None:
        if isinstance(key, dict):
            key = sha256_json(key)[:16]
        self.path = Path(root) / dataset / key
        self.tmp = self.path.with_name(f".{key}.tmp-{os.getpid()}")
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.info = dict(info or {})
        self.segments: list[dict[str, Any]] = []
        self.excluded: list[dict[str, Any]] = []
        self.num_frames = 0
        self._hash = hashlib.sha256()
        self._f = None

    def __enter__(self) -> "StoreWriter":
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self._f = open(self.tmp / "frames.npy", "wb")
        self._f.write(b"\0" * HEADER_BYTES)
        return self

    def add_segment(self, frames: np.ndarray, **labels: Any) -> dict[str, Any]:
        """Append one segment: uint8 ``(L, C, H, W)``; ``labels`` go to its segment record."""
        frames = np.ascontiguousarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or tuple(frames.shape[1:]) != self.frame_shape:
            raise ValueError(f"segment {labels}: expected uint8 (L, {', '.join(map(str, self.frame_shape))}), "
                             f"got {frames.dtype} {frames.shape}")
        assert self._f is not None, "use StoreWriter as a context manager"
        data = memoryview(frames).cast("B")
        self._f.write(data)
        self._hash.update(data)
        seg = {"start": self.num_frames, "length": int(len(frames)), **labels}
        self.segments.append(seg)
        self.num_frames += len(frames)
        return seg

    def add_array(self, name: str, arr: np.ndarray) -> None:
        """A side array saved next to the frames (e.g. BAIR actions), ``<name>.npy``."""
        np.save(self.tmp / f"{name}.npy", np.ascontiguousarray(arr))

    def exclude(self, item: str, reason: str, **extra: Any) -> None:
        """Record something that was left out (a missing entry, an undecodable range ...)."""
        self.excluded.append({"item": item, "reason": reason, **extra})

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._f is not None
        try:
            if exc_type is not None:
                return
            self._f.seek(0)
            self._f.write(_npy_header((self.num_frames, *self.frame_shape)))
            self._f.flush()
            os.fsync(self._f.fileno())
        finally:
            self._f.close()
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        content = hashlib.sha256(f"{self.num_frames}|{self.frame_shape}|".encode() + self._hash.digest()).hexdigest()
        write_json_atomic(self.tmp / "segments.json", self.segments)
        write_json_atomic(self.tmp / "index.json", {
            "version": STORE_VERSION, **self.info, "frame_shape": list(self.frame_shape),
            "num_frames": self.num_frames, "num_segments": len(self.segments),
            "excluded": self.excluded, "frames_sha256": content})
        if self.path.exists():  # an identical store finished first (another process): keep it
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        os.replace(self.tmp, self.path)


class FrameStore:
    """Read side of a store: ``frames`` is a read-only memmap, ``segments`` the segment table."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        index = self.path / "index.json"
        if not index.is_file():
            raise FileNotFoundError(f"{self.path}: not a complete prepared store (no index.json)")
        self.index: dict[str, Any] = json.loads(index.read_text())
        self.segments: list[dict[str, Any]] = json.loads((self.path / "segments.json").read_text())
        self.frames: np.ndarray = np.load(self.path / "frames.npy", mmap_mode="r")
        expect = (self.index["num_frames"], *self.index["frame_shape"])
        if self.frames.shape != tuple(expect):
            raise ValueError(f"{self.path / 'frames.npy'}: shape {self.frames.shape}, index says {expect} "
                             f"(truncated or corrupt store; delete the folder and prepare again)")

    def array(self, name: str) -> np.ndarray:
        """A side array written with :meth:`StoreWriter.add_array` (memory-mapped)."""
        return np.load(self.path / f"{name}.npy", mmap_mode="r")

    @staticmethod
    def complete(path: str | os.PathLike) -> bool:
        return (Path(path) / "index.json").is_file()

    @property
    def content_hash(self) -> str:
        return self.index["frames_sha256"]

    def windows(self, length: int, step: int | None = None, segments: Sequence[int] | None = None
                ) -> np.ndarray:
        """Windows of ``length`` frames every ``step`` frames (default: non-overlapping) inside each
        segment: int64 ``(N, 2)`` rows of ``(segment, frame offset in frames.npy)``."""
        step = step or length
        rows: list[np.ndarray] = []
        for i in (range(len(self.segments)) if segments is None else segments):
            seg = self.segments[i]
            n = (seg["length"] - length) // step + 1
            if n > 0:
                offs = seg["start"] + step * np.arange(n, dtype=np.int64)
                rows.append(np.stack([np.full(n, i, np.int64), offs], 1))
        return np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)

    def clip_array(self, windows: np.ndarray, length: int) -> "ClipArray":
        """The clips of ``windows`` (from :meth:`windows`) as a virtual ``(N, length, C, H, W)`` array."""
        return ClipArray(self.frames, np.asarray(windows).reshape(-1, 2)[:, 1], length)

    def clip_meta(self, windows: np.ndarray) -> list[dict[str, Any]]:
        """Per-clip metadata: the segment's labels plus the first frame within the segment."""
        out = []
        for seg_i, off in np.asarray(windows).tolist():
            seg = self.segments[seg_i]
            labels = {k: v for k, v in seg.items() if k not in ("start", "length")}
            out.append({**labels, "segment": seg_i, "offset": off - seg["start"]})
        return out


class ClipArray:
    """A virtual uint8 ``(N, T, C, H, W)`` array: clip ``i`` is ``frames[starts[i] : starts[i] + T]``.

    Supports what the harness does with split arrays: ``len``, ``shape``, ``dtype``, ``ndim``,
    indexing by int / slice / index array (optionally followed by indices into ``T, C, H, W``),
    iteration and ``np.asarray`` (which materialises; avoid it on large splits).
    """

    def __init__(self, frames: np.ndarray, starts: np.ndarray, length: int) -> None:
        self.frames, self.starts, self.length = frames, np.asarray(starts, np.int64), int(length)
        self.dtype = frames.dtype
        self.shape = (len(self.starts), self.length, *frames.shape[1:])
        self.ndim = len(self.shape)
        self.flags = frames.flags if isinstance(frames, np.ndarray) else None

    def __len__(self) -> int:
        return len(self.starts)

    def _clip(self, i: int) -> np.ndarray:
        s = int(self.starts[i])
        return self.frames[s:s + self.length]

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(first, (int, np.integer)):
            i = int(first) + (len(self) if first < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"clip {first} out of range for {len(self)} clips")
            return np.asarray(self._clip(i)[rest] if rest else self._clip(i))
        idx = np.arange(len(self))[first]
        out = [self._clip(int(i))[rest] if rest else self._clip(int(i)) for i in idx]
        if not out:
            probe = np.zeros(self.shape[1:], self.dtype)[rest] if rest else np.zeros(self.shape[1:], self.dtype)
            return np.zeros((0, *probe.shape), self.dtype)
        return np.stack(out)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self[:]
        return a.astype(dtype) if dtype is not None else a

    def subset(self, index: np.ndarray | slice) -> "ClipArray":
        return ClipArray(self.frames, self.starts[index], self.length)

    def __repr__(self) -> str:
        return f"ClipArray(shape={self.shape}, dtype={self.dtype})"


def shard(n: int, rank: int, world: int) -> slice:
    """The contiguous share of ``n`` items of ``rank`` out of ``world`` (DDP sharding of a loader)."""
    per = -(-n // world)
    return slice(min(rank * per, n), min((rank + 1) * per, n))


def iter_batches(clips: ClipArray | np.ndarray, batch_size: int, *, seed: int, epoch: int = 0,
                 rank: int = 0, world: int = 1, shuffle: bool = True, drop_last: bool = True
                 ) -> Iterator[np.ndarray]:
    """Deterministic uint8 batches ``(B, T, C, H, W)`` of this rank's share of ``clips``.

    The permutation depends only on ``(seed, epoch)``, so every rank sees a disjoint share of the
    same order, and two runs with the same seed see identical batches. Reads only the clips of each
    batch (from the memmap), never the whole split.
    """
    n = len(clips)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    mine = order[shard(n, rank, world)]
    stop = len(mine) - (len(mine) % batch_size if drop_last else 0)
    for b in range(0, stop, batch_size):
        idx = np.sort(mine[b:b + batch_size])  # sorted reads are sequential on the memmap
        yield clips[idx]
