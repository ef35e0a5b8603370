"""``mmnist``: Moving MNIST (Srivastava et al., ICML 2015) and SVG's stochastic variant.

Test: the fixed array ``mnist_test_seq.npy``, uint8 ``(20, 10000, 64, 64)`` (time first), copied
once into the store as 10000 segments of 20 frames; protocol 10 -> 10.

Train: clips generated on the fly from MNIST digits (``train-images-idx3-ubyte.gz``):
``num_digits`` digits of ``digit_size`` pixels bouncing on a 64x64 canvas. ``motion="deterministic"``
reflects the velocity at a wall. Clip ``i`` depends only on ``(seed, i)``, so the virtual training
array of ``train_size`` clips is deterministic, needs no disk and shards trivially across ranks.

``motion="stochastic"`` is SVG's Stochastic Moving MNIST (SM-MNIST; Denton & Fergus 2018, upstream
``edenton/svg`` ``data/moving_mnist.py`` with ``deterministic=False``): digits resized to 32x32,
top-left corners drawn in [0, 32), velocities in [-4, 4]; whenever a digit leaves the canvas it is
put back on the edge (at 0 or 31) and *both* velocity components are redrawn, the one normal to the
wall pointing back in; digits are summed and clipped at 1. Test clips are generated the same way
from the MNIST *test* digits (``t10k-images-idx3-ubyte.gz``; ``test_size`` of them, seed
``seed + 1``) -- no fixed array. Protocols: train 5 -> 10, test 5 -> ``test_future`` (20: the 25
frames SRVP (Franceschi et al. 2020) tabulates SVG on), k = 100.

``two_ended=True``: P2P's two-ended protocol (start + end frame given; :mod:`benchmark.data.two_ended`)
on clips of 30 frames (P2P's ``max_seq_len``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol, SplitData, TaskProtocols
from benchmark.data.generated import GeneratedVideos
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.two_ended import two_ended as two_ended_protocols
from benchmark.registry import DATASETS
from benchmark.utils import UserError, sha256_json

TEST_FILE = "mnist_test_seq.npy"
DIGITS_FILE = "train-images-idx3-ubyte.gz"
TEST_DIGITS_FILE = "t10k-images-idx3-ubyte.gz"
SVG_DIGIT = 32  # SM-MNIST: transforms.Scale(32) of the 28x28 digits


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


class MovingDigits(GeneratedVideos):
    """Virtual uint8 ``(N, T, 1, 64, 64)`` array of bouncing-digit clips, generated per index."""

    def __init__(self, digits: np.ndarray, n: int, t: int, seed: int, num_digits: int = 2,
                 digit_size: int = 28, motion: str = "deterministic", size: int = 64) -> None:
        self.digits, self.t, self.seed = digits, t, seed
        self.num_digits, self.digit_size, self.motion, self.size = num_digits, digit_size, motion, size
        self.shape = (n, t, 1, size, size)

    def clip(self, i: int) -> np.ndarray:
        if self.motion == "stochastic":
            return self._svg_clip(i)
        rng = np.random.default_rng([self.seed, i])
        s, d = self.size, self.digit_size
        lim = s - d
        out = np.zeros((self.t, s, s), np.uint16)
        for _ in range(self.num_digits):
            img = self._digit(rng)
            y, x = rng.integers(0, lim + 1, 2)
            dy, dx = rng.integers(-4, 5, 2)
            for t in range(self.t):
                out[t, y:y + d, x:x + d] = np.maximum(out[t, y:y + d, x:x + d], img)
                y, x = y + dy, x + dx
                if y < 0 or y > lim:
                    y = int(np.clip(y, 0, lim))
                    dy = -dy
                if x < 0 or x > lim:
                    x = int(np.clip(x, 0, lim))
                    dx = -dx
        return out.astype(np.uint8)[:, None]

    def _digit(self, rng: np.random.Generator) -> np.ndarray:
        img = self.digits[rng.integers(len(self.digits))]
        d = self.digit_size
        if img.shape[0] != d:
            from PIL import Image

            img = np.asarray(Image.fromarray(img).resize((d, d), Image.BILINEAR))
        return img

    def _svg_clip(self, i: int) -> np.ndarray:
        """SVG's SM-MNIST rule (upstream ``MovingMNIST.__getitem__`` with ``deterministic=False``)."""
        rng = np.random.default_rng([self.seed, i])
        s, d = self.size, self.digit_size
        out = np.zeros((self.t, s, s), np.float32)
        for _ in range(self.num_digits):
            img = self._digit(rng).astype(np.float32) / 255.0
            sx, sy = int(rng.integers(s - d)), int(rng.integers(s - d))
            dx, dy = int(rng.integers(-4, 5)), int(rng.integers(-4, 5))
            for t in range(self.t):
                if sy < 0:
                    sy, dy, dx = 0, int(rng.integers(1, 5)), int(rng.integers(-4, 5))
                elif sy >= s - d:
                    sy, dy, dx = s - d - 1, int(rng.integers(-4, 0)), int(rng.integers(-4, 5))
                if sx < 0:
                    sx, dx, dy = 0, int(rng.integers(1, 5)), int(rng.integers(-4, 5))
                elif sx >= s - d:
                    sx, dx, dy = s - d - 1, int(rng.integers(-4, 0)), int(rng.integers(-4, 5))
                out[t, sy:sy + d, sx:sx + d] += img
                sy, sx = sy + dy, sx + dx
        return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)[:, None]



@DATASETS.register("mmnist")
class MovingMNIST(RealVideoDataset):
    """Moving MNIST: fixed test array + on-the-fly training clips."""

    name = "mmnist"
    manifest_name = "mmnist"
    description = "Moving MNIST: fixed 10000-clip test set (20 frames, 64x64 gray); training clips generated from MNIST."
    splits = ("train", "test")

    def __init__(self, root: Any = None, motion: str = "deterministic", num_digits: int = 2,
                 digit_size: int | None = None, train_size: int = 100_000, seed: int = 0,
                 test_size: int = 10_000, test_future: int | None = None, two_ended: bool = False,
                 on_corrupt: str = "error", workers: int = 0, strict_inputs: bool = True) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if motion not in ("deterministic", "stochastic"):
            raise UserError(f"mmnist: motion must be deterministic or stochastic, got {motion!r}")
        stochastic = motion == "stochastic"
        self.motion, self.num_digits = motion, num_digits
        self.digit_size = int(digit_size or (SVG_DIGIT if stochastic else 28))
        self.train_size, self.seed, self.test_size = train_size, seed, test_size
        self.two_ended = bool(two_ended)
        s = (64, 64)
        if stochastic:  # SM-MNIST (SVG): 5 -> 10 training, 5 -> 20 test, best of 100
            future = int(test_future or 20)
            pred = TaskProtocols(
                train=Protocol("prediction-5to10", "prediction", "train", 5, 10, s, 1),
                test=Protocol(f"prediction-5to{future}", "prediction", "test", 5, future, s, 1,
                              samples_per_context=100))
        else:
            if test_future not in (None, 10):
                raise UserError("mmnist: the fixed deterministic test set has 20 frames (10 -> 10); "
                                "test_future applies to motion='stochastic'")
            pred = TaskProtocols(train=Protocol("prediction-10to10", "prediction", "train", 10, 10, s, 1),
                                 test=Protocol("prediction-10to10", "prediction", "test", 10, 10, s, 1,
                                               samples_per_context=1))
        if self.two_ended:  # P2P: clips of 30 frames (its max_seq_len) with start and end frame given
            if not stochastic:
                raise UserError("mmnist: two_ended=True needs motion='stochastic' (the fixed test set has 20 frames)")
            pred = two_ended_protocols(TaskProtocols(train=pred.train.replace(future_frames=25), test=pred.test.replace(
                future_frames=25)))
        self.protocols = {"prediction": pred}

    @property
    def stochastic(self) -> bool:
        return self.motion == "stochastic"

    def options(self) -> dict[str, Any]:
        opts = {"motion": self.motion, "num_digits": self.num_digits, "digit_size": self.digit_size,
                "train_size": self.train_size, "seed": self.seed}
        if self.stochastic:
            opts["test_size"] = self.test_size
        if self.two_ended:
            opts["two_ended"] = True
        return opts

    def preprocessing(self) -> dict[str, Any]:
        return {"test": TEST_DIGITS_FILE if self.stochastic else TEST_FILE}

    def required_files(self) -> list[str]:
        return [DIGITS_FILE, TEST_DIGITS_FILE] if self.stochastic else [TEST_FILE]

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

    def digits(self, split: str = "train") -> np.ndarray:
        name = DIGITS_FILE if split == "train" else TEST_DIGITS_FILE
        p = self.raw_dir / name
        if not p.is_file():
            raise UserError(f"{p}: missing (run `benchmark data fetch mmnist --data-root {self.root}` "
                            f"or place the MNIST {'training' if split == 'train' else 'test'} images there)")
        return read_idx(p)

    def _generated(self, split: str) -> SplitData:
        """The virtual generated clips of ``split`` (train; SM-MNIST's test too)."""
        if split not in self._split_cache:
            train = split == "train"
            t = self.window_length(split)
            digits = self.digits(split)
            n, seed = (self.train_size, self.seed) if train else (self.test_size, self.seed + 1)
            videos = MovingDigits(digits, n, t, seed, self.num_digits, self.digit_size, self.motion)
            h = sha256_json({"generator": self.options(), "split": split, "t": t, "digits": int(digits.sum()),
                             "num_digit_images": len(digits)})
            self._split_cache[split] = SplitData(videos=videos, meta=[], content_hash=h)  # type: ignore[arg-type]
        return self._split_cache[split]

    def _is_generated(self, split: str) -> bool:
        return split == "train" or (self.stochastic and split == "test")

    def prepare(self) -> Path:
        if not self.stochastic:
            return super().prepare()
        self._inputs()  # SM-MNIST generates both splits: only check the digit files are there
        return self.raw_dir

    def load_split(self, split: str) -> SplitData:
        return self._generated(split) if self._is_generated(split) else super().load_split(split)

    def clips(self, protocol: Protocol, max_clips: int | None = None) -> SplitData:
        if not self._is_generated(protocol.split):
            return super().clips(protocol, max_clips)
        data = self.load_split(protocol.split)
        default = 1000 if protocol.split == "train" else len(data.videos)
        n = min(max_clips or protocol.num_videos or default, len(data.videos))
        h = sha256_json({"split": data.content_hash, "n": n, "frames": protocol.num_frames})
        return SplitData(videos=data.videos[:n][:, :protocol.num_frames], content_hash=h)

    def split_info(self, split: str) -> dict[str, Any]:
        if not self._is_generated(split):
            return super().split_info(split)
        v = self.load_split(split).videos
        return {"num_videos": len(v), "num_clips": len(v), "frames": v.shape[1], "frame_shape": list(v.shape[2:]),
                "generated": True}
