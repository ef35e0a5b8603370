"""Builders of small files in the real on-disk formats of the datasets (for tests; no network).

Every builder writes what the real archive holds, named as in the real archive, with tiny sizes:
AVIs encoded with a real codec (MPEG-4 part 2 in an AVI container, as PyAV/FFmpeg write them),
zips of them, ``00sequences.txt`` in the published layout, TFRecords of ``tf.train.Example``
protobufs, ``.npy`` arrays, MNIST ``idx`` files, PNG trees and stacked-JPEG clips.
Frame ``i`` of a synthetic video is a flat gray level (``level(i)``) so tests can recover which
source frame ended up where after decoding and resizing.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np


def level(i: int) -> int:
    """Gray level of source frame ``i`` (0-based): distinct, far apart, survives lossy coding."""
    return 16 + (i * 7) % 224


def avi_bytes(num_frames: int, size: tuple[int, int] = (160, 120), color: bool = False, codec: str = "mpeg4",
              pattern: str = "flat", fps: int = 25) -> bytes:
    """An AVI (``size`` = (W, H)) whose frame ``i`` is flat at ``level(i)`` (or a moving bar)."""
    import av

    w, h = size
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="avi") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if codec == "mpeg4":
            s.options = {"qscale": "2"}  # nearly lossless, so decoded levels stay within a few units
        for i in range(num_frames):
            img = np.full((h, w, 3), level(i), np.uint8)
            if pattern == "bar":
                img[:, (4 * i) % w:(4 * i) % w + 8] = 255
            if color:
                img[..., 0] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


# ------------------------------------------------------------------------------------ KTH ---

KTH_HEADER = """\
Training:   person11, person12, person13, person14, person15, person16, person17, person18
Validation: person19, person20, person21, person23, person24, person25, person01, person04
Test:       person22, person02, person03, person05, person06, person07, person08, person09, person10

"""


def build_kth(raw: Path, persons: Iterable[int] = (1, 2, 13, 17, 21, 22), actions: Iterable[str] | None = None,
              scenarios: Iterable[int] = (1, 3), frames: int = 45, missing: str | None = "person13_handclapping_d3",
              truncated: str | None = "person01_boxing_d3", corrupt: str | None = None,
              header: bool = True) -> dict[str, list[tuple[int, int]]]:
    """A small KTH in the real layout under ``raw`` (= ``<data_root>/raw/kth``).

    Writes ``<action>.zip`` holding ``personXX_<action>_dY_uncomp.avi`` (``frames`` frames each,
    160x120) and ``00sequences.txt`` with three ranges per video: ``1-10, 11-25, 5-frames`` (the
    last overlaps, as real entries do). ``missing`` is left out of the zip and marked ``*missing*``;
    ``truncated`` declares a range past its last frame (like person01_boxing_d4); ``corrupt`` is
    replaced by garbage bytes. Returns the ranges per video as written.
    """
    from benchmark.data.kth import ACTIONS

    raw.mkdir(parents=True, exist_ok=True)
    actions = tuple(actions or ACTIONS)
    lines = [KTH_HEADER if header else ""]
    ranges: dict[str, list[tuple[int, int]]] = {}
    video = avi_bytes(frames)
    for action in actions:
        with zipfile.ZipFile(raw / f"{action}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for p in persons:
                for d in scenarios:
                    name = f"person{p:02d}_{action}_d{d}"
                    if name == missing:
                        lines.append(f"{name}\t\t*missing*\n")
                        continue
                    r = [(1, 10), (11, 25), (5, frames)]
                    if name == truncated:
                        r[-1] = (5, frames + 12)
                    ranges[name] = r
                    lines.append(f"{name}\t\tframes\t" + ", ".join(f"{a}-{b}" for a, b in r) + "\n")
                    zf.writestr(f"{name}_uncomp.avi", b"\x00garbage" * 50 if name == corrupt else video)
    (raw / "00sequences.txt").write_text("".join(lines))
    return ranges


# ----------------------------------------------------------------------------- TFRecords ---

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    key = _varint((num << 3) | wire)
    return key + (_varint(len(payload)) + payload if wire == 2 else payload)


def example_bytes(features: dict[str, bytes | list[float] | list[int]]) -> bytes:
    """Serialize a ``tf.train.Example`` (protobuf wire format, written by hand)."""
    entries = b""
    for key, value in features.items():
        if isinstance(value, (bytes, bytearray)):
            feat = _field(1, 2, _field(1, 2, bytes(value)))                      # bytes_list
        elif value and isinstance(value[0], float):
            feat = _field(2, 2, _field(1, 2, struct.pack(f"<{len(value)}f", *value)))  # float_list (packed)
        else:
            feat = _field(3, 2, _field(1, 2, b"".join(_varint(int(v)) for v in value)))  # int64_list
        entry = _field(1, 2, key.encode()) + _field(2, 2, feat)
        entries += _field(1, 2, entry)
    return _field(1, 2, entries)  # Example.features


def tfrecord_bytes(records: Iterable[bytes]) -> bytes:
    from benchmark.data.tfrecord import masked_crc32c

    out = bytearray()
    for r in records:
        length = struct.pack("<Q", len(r))
        out += length + struct.pack("<I", masked_crc32c(length)) + r + struct.pack("<I", masked_crc32c(r))
    return bytes(out)


def bair_example(seed: int, steps: int = 30) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (steps, 64, 64, 3), dtype=np.uint8)
    feats: dict[str, bytes | list[float]] = {}
    for t in range(steps):
        feats[f"{t}/image_aux1/encoded"] = frames[t].tobytes()
        feats[f"{t}/image_main/encoded"] = frames[t, ::-1].tobytes()
        feats[f"{t}/endeffector_pos"] = [float(seed), float(t), 0.5]
        feats[f"{t}/action"] = [float(t), 1.0, 2.0, 3.0]
    return example_bytes(feats), frames


def build_bair(raw: Path, train: int = 3, test: int = 2, per_file: int = 2, steps: int = 30) -> dict[str, np.ndarray]:
    """``bair_robot_pushing_dataset_v0.tar`` with ``softmotion30_44k/{train,test}/traj_*.tfrecords``."""
    raw.mkdir(parents=True, exist_ok=True)
    frames: dict[str, np.ndarray] = {}
    with tarfile.open(raw / "bair_robot_pushing_dataset_v0.tar", "w") as tar:
        for split, n, base in (("train", train, 0), ("test", test, 1000)):
            for f0 in range(0, n, per_file):
                recs, fr = [], []
                for i in range(f0, min(n, f0 + per_file)):
                    r, v = bair_example(base + i, steps)
                    recs.append(r)
                    fr.append(v)
                data = tfrecord_bytes(recs)
                info = tarfile.TarInfo(f"softmotion30_44k/{split}/traj_{f0 * 256}_to_{(f0 + per_file) * 256 - 1}.tfrecords")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                frames.setdefault(split, np.zeros((0, steps, 64, 64, 3), np.uint8))
                frames[split] = np.concatenate([frames[split], np.stack(fr)])
    return frames


# ------------------------------------------------------------------------- Moving MNIST ---

def idx_bytes(arr: np.ndarray) -> bytes:
    """An MNIST ``idx`` file: magic (0, 0, dtype 0x08, ndim), big-endian dims, data."""
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def build_mmnist(raw: Path, test_clips: int = 6, digits: int = 20) -> np.ndarray:
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    test = rng.integers(0, 256, (20, test_clips, 64, 64), dtype=np.uint8)
    np.save(raw / "mnist_test_seq.npy", test)
    imgs = np.zeros((digits, 28, 28), np.uint8)
    for i in range(digits):
        imgs[i, 4:24, 8 + i % 10:12 + i % 10] = 255
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imgs)))
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.arange(digits, dtype=np.uint8) % 10)))
    return test
