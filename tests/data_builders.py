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


# ------------------------------------------------------------------------------- Weizmann ---

def build_weizmann(raw: Path, persons: Iterable[str] | None = None, actions: Iterable[str] | None = None,
                   frames: int = 20, duplicates: bool = True, corrupt: str | None = None) -> list[str]:
    """Per-action zips ``<action>.zip`` of ``<person>_<action>.avi`` (180x144 colour, ``frames`` frames).

    lena's run/skip/walk are written as takes ``lena_<action>1`` and, with ``duplicates``, the
    duplicate ``lena_<action>2``, as in the real archive. Returns the video names written.
    """
    from benchmark.data.weizmann import ACTIONS, PERSONS

    raw.mkdir(parents=True, exist_ok=True)
    video = avi_bytes(frames, size=(180, 144), color=True)
    names = []
    for action in actions or ACTIONS:
        with zipfile.ZipFile(raw / f"{action}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for person in persons or PERSONS:
                takes = [f"{action}1", f"{action}2"] if person == "lena" and action in ("run", "skip", "walk") else [action]
                for stem in takes[:None if duplicates else 1]:
                    name = f"{person}_{stem}"
                    zf.writestr(f"{name}.avi", b"\x00garbage" * 50 if name == corrupt else video)
                    names.append(name)
    return names


# ------------------------------------------------------------------------------ Chair-CAD ---

def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def chair_render(view: int, size: int = 600) -> np.ndarray:
    """A 600x600 render: flat ``level(view)`` inside the [100:500, 100:500] crop, 255 outside."""
    img = np.full((size, size, 3), 255, np.uint8)
    img[100:500, 100:500] = level(view)
    return img


def build_chairs(raw: Path, models: Iterable[str] = ("1a6f615e8b1b5ae4dbbc9440457e303e", "2b5953c986dd08f2f91663a74ccd2338"),
                 views: int = 20, short_model: str | None = None) -> dict[str, list[str]]:
    """``rendered_chairs.tar`` with ``rendered_chairs/<model>/renders/image_<iii>_p<020|030>_t<az>_r096.png``.

    Views alternate elevation 20/30 over azimuths; they are added to the tar in a shuffled order so
    the loader has to sort. ``view`` (0-based, sorted order) is filled with ``level(view)``.
    Returns the sorted render names per model.
    """
    raw.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[str]] = {}
    rng = np.random.default_rng(0)
    with tarfile.open(raw / "rendered_chairs.tar", "w") as tar:
        for model in models:
            n = 5 if model == short_model else views
            names = [f"image_{i:03d}_p{20 if i % 2 == 0 else 30:03d}_t{(i // 2) * 12:03d}_r096.png" for i in range(n)]
            out[model] = sorted(names)
            for i in rng.permutation(n):
                data = png_bytes(chair_render(int(i)))
                info = tarfile.TarInfo(f"rendered_chairs/{model}/renders/{names[i]}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo(f"rendered_chairs/{model}/{model}.obj")  # non-render files are ignored
            info.size = 4
            tar.addfile(info, io.BytesIO(b"v 0\n"))
    return out


# --------------------------------------------------------------------------- VGAN scenes ---

def stacked_jpeg(frames: int = 32, seed: int = 0) -> bytes:
    """One JPEG of ``frames`` vertically stacked 128x128 frames; frame ``i`` is flat ``level(i + seed)``."""
    from PIL import Image

    img = np.concatenate([np.full((128, 128, 3), level(i + seed), np.uint8) for i in range(frames)])
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def build_vgan(raw: Path, scene: str = "golf", clips: int = 4, listed: int | None = 3, bad: bool = False) -> list[str]:
    """``<scene>.tar.bz2`` of stacked-JPEG clips under ``frames-stable-many/<scene>/...`` and ``<scene>.txt``
    listing the first ``listed`` of them (paths relative to ``frames-stable-many/``). ``bad`` adds a
    JPEG that is not a 128-wide stack. Returns the listed paths."""
    raw.mkdir(parents=True, exist_ok=True)
    paths = [f"{scene}/{i % 2}/{i}/clip_{i:04d}.jpg" for i in range(clips)]
    with tarfile.open(raw / f"{scene}.tar.bz2", "w:bz2") as tar:
        entries = [(p, stacked_jpeg(32, seed=10 * i)) for i, p in enumerate(paths)]
        if bad:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(np.zeros((200, 100, 3), np.uint8)).save(buf, format="JPEG")
            entries.insert(1, (f"{scene}/bad/clip_bad.jpg", buf.getvalue()))
        for p, data in entries:
            info = tarfile.TarInfo(f"frames-stable-many/{p}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    listed_paths = paths[:listed] if listed is not None else paths
    if listed is not None:
        (raw / f"{scene}.txt").write_text("".join(p + "\n" for p in listed_paths + ([f"{scene}/bad/clip_bad.jpg"] if bad else [])))
    return listed_paths


# -------------------------------------------------------------------------------- UCF101 ---

UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")


def build_ucf101(raw: Path, classes: Iterable[str] = UCF_CLASSES, groups: Iterable[int] = (1, 2, 8, 9),
                 clips: int = 1, frames: int = 24, layout: str = "zip") -> dict[str, list[str]]:
    """The official split zip (``ucfTrainTestlist/classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``,
    CRLF lines) and the videos ``UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` (320x240) as ``UCF101.zip``
    (``layout="zip"``), an extracted ``UCF-101/`` folder (``"folder"``) or only a ``UCF101.rar``
    placeholder (``"rar"``). Groups 1-7 are test in fold 1 (as in the real lists), the rest train.
    Like the real lists, HandstandPushups videos are listed as ``v_HandStandPushups_...``.
    Returns ``{"train": [...], "test": [...]}`` stems of fold 1."""
    raw.mkdir(parents=True, exist_ok=True)
    classes = list(classes)
    video = avi_bytes(frames, size=(320, 240), color=True)
    split: dict[str, list[str]] = {"train": [], "test": []}
    members = []
    for cls in classes:
        for g in groups:
            for c in range(1, clips + 1):
                stem = f"v_{cls}_g{g:02d}_c{c:02d}"
                members.append(f"UCF-101/{cls}/{stem}.avi")
                split["test" if g <= 7 else "train"].append(stem)
    listed = lambda s: s.replace("HandstandPushups_", "HandStandPushups_")  # noqa: E731
    with zipfile.ZipFile(raw / "UCF101TrainTestSplits-RecognitionTask.zip", "w") as zf:
        zf.writestr("ucfTrainTestlist/classInd.txt", "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)))
        for fold in (1, 2, 3):
            tr = [s for s in split["train"]] if fold == 1 else split["test"]
            te = split["test"] if fold == 1 else split["train"]
            zf.writestr(f"ucfTrainTestlist/trainlist0{fold}.txt",
                        "".join(f"{s.split('_')[1]}/{listed(s)}.avi {classes.index(s.split('_')[1]) + 1}\r\n" for s in tr))
            zf.writestr(f"ucfTrainTestlist/testlist0{fold}.txt",
                        "".join(f"{s.split('_')[1]}/{listed(s)}.avi\r\n" for s in te))
    if layout == "zip":
        with zipfile.ZipFile(raw / "UCF101.zip", "w", zipfile.ZIP_STORED) as zf:
            for m in members:
                zf.writestr(m, video)
    elif layout == "folder":
        for m in members:
            (raw / m).parent.mkdir(parents=True, exist_ok=True)
            (raw / m).write_bytes(video)
    else:
        (raw / "UCF101.rar").write_bytes(b"Rar!\x1a\x07\x01\x00")
    return split


# ---------------------------------------------------------------------------- Kinetics ---

def mp4_bytes(num_frames: int, size: tuple[int, int] = (96, 72)) -> bytes:
    """An MP4 (MPEG-4 part 2) whose frame ``i`` is flat at ``level(i)`` with a red tint."""
    import av

    w, h = size
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"qscale": "2"}
        for i in range(num_frames):
            img = np.full((h, w, 3), level(i), np.uint8)
            img[..., 0] = 200
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def build_kinetics(raw: Path, labels: Iterable[str] = ("abseiling", "juggling balls", "yoga"), per_label: int = 3,
                   frames: int = 20, missing: Iterable[str] = ()) -> dict[str, list[dict]]:
    """CVDF annotation CSVs ``train.txt``/``val.txt`` (``label,youtube_id,time_start,time_end,split``)
    and a ``videos/<label>/`` folder of clips named ``<youtube_id>_<start:06d>_<end:06d>.mp4``;
    clips whose youtube id is in ``missing`` are listed but not written. Returns the rows per split."""
    raw.mkdir(parents=True, exist_ok=True)
    video = mp4_bytes(frames)
    rows: dict[str, list[dict]] = {}
    missing = set(missing)
    for split, fname, tag in (("train", "train.txt", "train"), ("val", "val.txt", "validate")):
        lines = ["label,youtube_id,time_start,time_end,split\n"]
        rows[split] = []
        for li, label in enumerate(labels):
            for k in range(per_label):
                yid = f"{split[:2]}{li}{k}-xY_{k}"
                start = 10 * k + li
                r = {"label": label, "youtube_id": yid, "time_start": start, "time_end": start + 10}
                rows[split].append(r)
                lines.append(f"{label},{yid},{start},{start + 10},{tag}\n")
                if yid not in missing:
                    d = raw / "videos" / label.replace(" ", "_")
                    d.mkdir(parents=True, exist_ok=True)
                    (d / f"{yid}_{start:06d}_{start + 10:06d}.mp4").write_bytes(video)
        (raw / fname).write_text("".join(lines))
    return rows
