"""``mmnist``: Moving MNIST (Srivastava et al., ICML 2015) and SVG's stochastic variant.

Test: the fixed array ``mnist_test_seq.npy``, uint8 ``(20, 10000, 64, 64)`` (time first), copied
once into the store as 10000 segments of 20 frames; protocol 10 -> 10.

Train: clips generated on the fly from MNIST digits (``train-images-idx3-ubyte.gz``):
``num_digits`` digits of ``digit_size`` pixels bouncing on a 64x64 canvas. ``motion="deterministic"``
reflects the velocity at a wall; ``motion="stochastic"`` (SVG's SM-MNIST) draws a new random speed
away from the wall at each hit. Clip ``i`` depends only on ``(seed, i)``, so the virtual training
array of ``train_size`` clips is deterministic, needs no disk and shards trivially across ranks.
SM-MNIST's protocol is 5 -> 10 (``motion="stochastic"`` switches to it).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol, SplitData, TaskProtocols
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.registry import DATASETS
from benchmark.utils import UserError, sha256_json

TEST_FILE = "mnist_test_seq.npy"
DIGITS_FILE = "train-images-idx3-ubyte.gz"


def read_idx(path: str | Path) -> np.ndarray:
    """An MNIST ``idx`` file (optionally gzipped) as a uint8 array; a bad header names the file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise CorruptInputError(f"{path}: cannot read ({e})") from e
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise CorruptInputError(f"{path}: not a uint8 idx file (magic {data[:4]!r})")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise CorruptInputError(f"{path}: truncated ({body.size} values, header says {dims})")
    return body.reshape(dims)


class MovingDigits:
    """Virtual uint8 ``(N, T, 1, 64, 64)`` array of bouncing-digit clips, generated per index."""

    def __init__(self, digits: np.ndarray, n: int, t: int, seed: int, num_digits: int = 2,
                 digit_size: int = 28, motion: str = "deterministic", size: int = 64) -> None:
        self.digits, self.n, self.t, self.seed = digits, n, t, seed
        self.num_digits, self.digit_size, self.motion, self.size = num_digits, digit_size, motion, size
        self.shape = (n, t, 1, size, size)
        self.dtype, self.ndim = np.dtype(np.uint8), 5

    def __len__(self) -> int:
        return self.n

    def clip(self, i: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, i])
        s, d = self.size, self.digit_size
        lim = s - d
        out = np.zeros((self.t, s, s), np.uint16)
        for _ in range(self.num_digits):
            img = self.digits[rng.integers(len(self.digits))]
            if img.shape[0] != d:
                from PIL import Image

                img = np.asarray(Image.fromarray(img).resize((d, d), Image.BILINEAR))
            y, x = rng.integers(0, lim + 1, 2)
            dy, dx = rng.integers(-4, 5, 2)
            for t in range(self.t):
                out[t, y:y + d, x:x + d] = np.maximum(out[t, y:y + d, x:x + d], img)
                y, x = y + dy, x + dx
                if y < 0 or y > lim:
                    y = int(np.clip(y, 0, lim))
                    dy = (-dy if self.motion == "deterministic" else
                          (rng.integers(1, 5) if y == 0 else -rng.integers(1, 5)))
                if x < 0 or x > lim:
                    x = int(np.clip(x, 0, lim))
                    dx = (-dx if self.motion == "deterministic" else
                          (rng.integers(1, 5) if x == 0 else -rng.integers(1, 5)))
        return out.astype(np.uint8)[:, None]

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(first, (int, np.integer)):
            c = self.clip(int(first) % self.n if first < 0 else int(first))
            return c[rest] if rest else c
        idx = np.arange(self.n)[first]
        return np.stack([self.clip(int(i))[rest] if rest else self.clip(int(i)) for i in idx])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[:]


@DATASETS.register("mmnist")
class MovingMNIST(RealVideoDataset):
    """Moving MNIST: fixed test array + on-the-fly training clips."""

    name = "mmnist"
    manifest_name = "mmnist"
    description = "Moving MNIST: fixed 10000-clip test set (20 frames, 64x64 gray); training clips generated from MNIST."
    splits = ("train", "test")

    def __init__(self, root: Any = None, motion: str = "deterministic", num_digits: int = 2, digit_size: int = 28,
                 train_size: int = 100_000, seed: int = 0, on_corrupt: str = "error", workers: int = 0,
                 strict_inputs: bool = True) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if motion not in ("deterministic", "stochastic"):
            raise UserError(f"mmnist: motion must be deterministic or stochastic, got {motion!r}")
        self.motion, self.num_digits, self.digit_size = motion, num_digits, digit_size
        self.train_size, self.seed = train_size, seed
        c = 10 if motion == "deterministic" else 5
        s = (64, 64)
        self.protocols = {"prediction": TaskProtocols(
            train=Protocol(f"prediction-{c}to10", "prediction", "train", c, 10, s, 1),
            test=Protocol(f"prediction-{c}to10", "prediction", "test", c, 10, s, 1, samples_per_context=1))}

    def options(self) -> dict[str, Any]:
        return {"motion": self.motion, "num_digits": self.num_digits, "digit_size": self.digit_size,
                "train_size": self.train_size, "seed": self.seed}

    def preprocessing(self) -> dict[str, Any]:
        return {"test": TEST_FILE}

    def required_files(self) -> list[str]:
        return [TEST_FILE]

    def frame_shape(self) -> tuple[int, int, int]:
        return (1, 64, 64)

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        try:
            arr = np.load(paths[TEST_FILE], mmap_mode="r")
        except ValueError as e:
            raise CorruptInputError(f"{paths[TEST_FILE]}: not a readable .npy ({e})") from e
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[2:] != (64, 64):
            raise CorruptInputError(f"{paths[TEST_FILE]}: expected uint8 (20, N, 64, 64), got {arr.dtype} {arr.shape}")
        for i in range(arr.shape[1]):
            writer.add_segment(np.asarray(arr[:, i])[:, None], split="test", video=i)

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        return segment["split"]

    def digits(self) -> np.ndarray:
        p = self.raw_dir / DIGITS_FILE
        if not p.is_file():
            raise UserError(f"{p}: missing (run `benchmark data fetch mmnist --data-root {self.root}` "
                            f"or place the MNIST training images there)")
        return read_idx(p)

    def load_split(self, split: str) -> SplitData:
        if split != "train":
            return super().load_split(split)
        if "train" not in self._split_cache:
            t = self.protocols["prediction"].train.num_frames
            videos = MovingDigits(self.digits(), self.train_size, t, self.seed, self.num_digits, self.digit_size,
                                  self.motion)
            h = sha256_json({"generator": self.options(), "t": t, "digits": int(self.digits().sum())})
            self._split_cache["train"] = SplitData(videos=videos, meta=[], content_hash=h)  # type: ignore[arg-type]
        return self._split_cache["train"]

    def clips(self, protocol: Protocol, max_clips: int | None = None) -> SplitData:
        if protocol.split != "train":
            return super().clips(protocol, max_clips)
        data = self.load_split("train")
        n = min(max_clips or protocol.num_videos or 1000, len(data.videos))
        return SplitData(videos=data.videos[:n][:, :protocol.num_frames], content_hash=data.content_hash)

    def split_info(self, split: str) -> dict[str, Any]:
        if split != "train":
            return super().split_info(split)
        v = self.load_split("train").videos
        return {"num_videos": len(v), "num_clips": len(v), "frames": v.shape[1], "frame_shape": list(v.shape[2:]),
                "generated": True}
