"""``ucf101``: UCF101 action videos (Soomro et al. 2012) under the TGAN/MoCoGAN synthesis protocol.

Raw files (``manifests/datasets.yaml``): the official split zip
``UCF101TrainTestSplits-RecognitionTask.zip`` (``ucfTrainTestlist/classInd.txt``,
``trainlist0N.txt``, ``testlist0N.txt``; pinned sha256) and the videos
``UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` (13,320 clips, 101 classes, 320x240). The official video
archive is a RAR, which neither the standard library nor an offline pip install can read (the
``rarfile`` package needs an external ``unrar``/``bsdtar`` binary). Videos are therefore read from,
in order: ``videos_dir=`` (a folder), ``<raw>/ucf101/UCF-101/`` (the RAR extracted in place), or
``<raw>/ucf101/UCF101.zip`` (a zip mirror, or the RAR converted). Only a ``.rar`` present is a
clear error saying so.

Preprocessing (TGAN, MoCoGAN): each frame resized to 85x64 (W x H), centre-cropped to 64x64, RGB.
Each video is one store segment with ``class``, ``label`` (0-based, ``classInd.txt`` order),
``group`` and ``clip``. Split lists are matched case-insensitively by file name (the official lists
spell ``HandStandPushups`` where the folder is ``HandstandPushups``). ``fold`` (1-3) picks the
official train/test lists; every fold shares one store.

Protocols: synthesis 16 frames at 64x64x3; training draws a uniformly random 16-frame window of a
training video (every window is an item of ``load_split("train")``); evaluation cuts windows of
test videos. ``train_frames=N`` (default: ``frames``) trains on N-frame windows while the test
protocol keeps ``frames``: e.g. VGAN's 32-frame clips scored on their first 16 (a model's
``generate`` returns the first ``num_frames`` of its clip); recorded as a dataset option.

>>> from benchmark.data.ucf101 import parse_class_ind
>>> parse_class_ind("1 ApplyEyeMakeup\\r\\n2 ApplyLipstick\\r\\n")
['ApplyEyeMakeup', 'ApplyLipstick']
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from benchmark.data.base import LabelSpec, Protocol, TaskProtocols
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.decode import center_crop, decode_video, resize_rgb
from benchmark.registry import DATASETS
from benchmark.utils import UserError

SPLITS_ZIP = "UCF101TrainTestSplits-RecognitionTask.zip"
VIDEOS_ZIP = "UCF101.zip"
VIDEOS_RAR = "UCF101.rar"
EXTRACTED = "UCF-101"
VIDEO_RE = re.compile(r"(?:^|/)(v_([A-Za-z0-9]+)_g(\d+)_c(\d+))\.avi$")
RESIZE = (64, 85)  # (H, W) before the centre crop


def parse_class_ind(text: str) -> list[str]:
    """Class names in ``classInd.txt`` order (line ``<1-based index> <Class>``)."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            rows.append((int(parts[0]), parts[1]))
    if not rows:
        raise UserError("classInd.txt: no '<index> <Class>' lines")
    return [c for _, c in sorted(rows)]


def parse_list(text: str) -> list[str]:
    """Video stems (``v_<Class>_gXX_cYY``, lower case) of a ``trainlist0N``/``testlist0N`` file."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            out.append(Path(line.split()[0]).stem.lower())
    return out


def read_splits(path: Path) -> tuple[list[str], dict[int, dict[str, set[str]]]]:
    """``(classes, {fold: {"train": stems, "test": stems}})`` from the official split zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            files = {Path(n).name.lower(): n for n in zf.namelist()}
            if "classind.txt" not in files:
                raise CorruptInputError(f"{path}: no classInd.txt inside")
            classes = parse_class_ind(zf.read(files["classind.txt"]).decode("utf-8", "replace"))
            folds: dict[int, dict[str, set[str]]] = {}
            for fold in (1, 2, 3):
                for part in ("train", "test"):
                    n = files.get(f"{part}list0{fold}.txt")
                    if n:
                        folds.setdefault(fold, {})[part] = set(parse_list(zf.read(n).decode("utf-8", "replace")))
    except zipfile.BadZipFile as e:
        raise CorruptInputError(f"{path}: not a readable zip ({e}); delete it and fetch again") from e
    return classes, folds


def folder_fingerprint(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Any]:
    """Cheap identity of a folder of videos: sha256 of the sorted ``(relative path, size)`` list."""
    h = hashlib.sha256()
    n = 0
    for p in sorted(q for q in folder.rglob("*") if q.suffix.lower() in suffixes and q.is_file()):
        h.update(f"{p.relative_to(folder).as_posix()}|{p.stat().st_size}\n".encode())
        n += 1
    return {"folder": str(folder), "files": n, "listing_sha256": h.hexdigest()}


@DATASETS.register("ucf101")
class UCF101(RealVideoDataset):
    """UCF101, RGB 64x64 (resize 85x64, centre crop), official folds."""

    name = "ucf101"
    manifest_name = "ucf101"
    description = "UCF101 (101 action classes, 13,320 clips); TGAN/MoCoGAN synthesis protocol, class labels."
    splits = ("train", "test")

    def __init__(self, root: Any = None, fold: int = 1, frames: int = 16, classes: list[str] | None = None,
                 videos_dir: str | None = None, max_frames: int | None = None, on_corrupt: str = "error",
                 workers: int = 0, strict_inputs: bool = True, train_frames: int | None = None) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if fold not in (1, 2, 3):
            raise UserError(f"ucf101: fold must be 1, 2 or 3, got {fold!r}")
        self.fold, self.frames, self.max_frames = fold, int(frames), max_frames
        self.train_frames_option = int(train_frames) if train_frames else None
        if self.train_frames_option is not None and self.train_frames_option < self.frames:
            raise UserError(f"ucf101: train_frames ({train_frames}) must be at least frames ({frames}): the test "
                            "clips are scored on the first `frames` frames of a model's training-length clip")
        train_t = self.train_frames_option or self.frames
        self.classes = sorted(classes) if classes else None
        self.videos_dir = Path(videos_dir) if videos_dir else None
        s = (64, 64)
        self.protocols = {"synthesis": TaskProtocols(
            train=Protocol(f"synthesis-{train_t}", "synthesis", "train", 0, train_t, s, 3),
            test=Protocol(f"synthesis-{frames}", "synthesis", "test", 0, frames, s, 3))}
        self._folds: dict[int, dict[str, set[str]]] | None = None

    def options(self) -> dict[str, Any]:
        opts = {"fold": self.fold, "frames": self.frames, "classes": self.classes, "max_frames": self.max_frames,
                "videos": self._source()[0] if self._has_raw() else None}
        if self.train_frames_option is not None:  # only when set: the default identity stays as it was
            opts["train_frames"] = self.train_frames_option
        return opts

    def _has_raw(self) -> bool:
        try:
            self._source()
            return True
        except UserError:
            return False

    def preprocessing(self) -> dict[str, Any]:
        return {"resize_hw": list(RESIZE), "crop": "center-64", "resize": "pillow-bilinear",
                "classes": self.classes, "max_frames": self.max_frames}

    def frame_shape(self) -> tuple[int, int, int]:
        return (3, 64, 64)

    # ----------------------------------------------------------------- inputs ---
    def _source(self) -> tuple[str, Path]:
        """``("folder" | "zip", path)`` of the videos, or a UserError saying what to do."""
        if self.videos_dir is not None:
            if not self.videos_dir.is_dir():
                raise UserError(f"ucf101: videos_dir {self.videos_dir} is not a folder")
            return "folder", self.videos_dir
        if (self.raw_dir / EXTRACTED).is_dir():
            return "folder", self.raw_dir / EXTRACTED
        if (self.raw_dir / VIDEOS_ZIP).is_file():
            return "zip", self.raw_dir / VIDEOS_ZIP
        rar = self.raw_dir / VIDEOS_RAR
        head = (f"ucf101: {rar} is present but RAR archives cannot be read here (the standard library has no "
                f"RAR reader and `rarfile` needs an external unrar/bsdtar binary)" if rar.is_file() else
                f"ucf101: no videos found (looked for {self.raw_dir / EXTRACTED}/ and {self.raw_dir / VIDEOS_ZIP})")
        raise UserError(head + f". Extract the official RAR so that {self.raw_dir / EXTRACTED}/<Class>/v_*.avi "
                        f"exists (`unrar x UCF101.rar {self.raw_dir}/` or `7z x`), or put a zip of the same tree at "
                        f"{self.raw_dir / VIDEOS_ZIP}, or pass videos_dir=<folder> (-o videos_dir=...)")

    def required_files(self) -> list[str]:
        names = [SPLITS_ZIP]
        kind, _ = self._source()
        return names + ([VIDEOS_ZIP] if kind == "zip" and self.videos_dir is None else [])

    def _inputs(self) -> tuple[dict[str, Path], dict[str, Any]]:
        paths, fp = super()._inputs()
        kind, src = self._source()
        if kind == "folder":
            fp = {**fp, EXTRACTED: folder_fingerprint(src, (".avi",))}
        return paths, fp

    def _videos(self) -> Iterator[tuple[str, Any]]:
        """``(member or path name, opener)`` of each ``v_*.avi``, sorted by name."""
        kind, src = self._source()
        if kind == "folder":
            for p in sorted(src.rglob("*.avi"), key=lambda q: q.name.lower()):
                yield p.name, (lambda p=p: str(p))
        else:
            try:
                zf = zipfile.ZipFile(src)
            except zipfile.BadZipFile as e:
                raise CorruptInputError(f"{src}: not a readable zip ({e})") from e
            with zf:
                for n in sorted((n for n in zf.namelist() if n.lower().endswith(".avi")),
                                key=lambda n: Path(n).name.lower()):
                    yield n, (lambda n=n: io.BytesIO(zf.read(n)))

    # ---------------------------------------------------------------- decoding ---
    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        classes, folds = read_splits(paths[SPLITS_ZIP])
        writer.info["classes"] = classes
        writer.info["folds"] = {f: {k: sorted(v) for k, v in d.items()} for f, d in folds.items()}
        lower = {c.lower(): i for i, c in enumerate(classes)}
        keep = {c.lower() for c in self.classes} if self.classes else None
        if keep and keep - set(lower):
            raise UserError(f"ucf101: unknown classes {sorted(keep - set(lower))} (see classInd.txt)")
        for name, open_ in self._videos():
            m = VIDEO_RE.search(name)
            if not m:
                continue
            stem, cls, group, clip = m.groups()
            if keep is not None and cls.lower() not in keep:
                continue
            if cls.lower() not in lower:
                writer.exclude(stem, f"class {cls} is not in classInd.txt")
                continue
            try:
                frames = decode_video(open_(), name, max_frames=self.max_frames)
            except CorruptInputError as e:
                if self.on_corrupt != "skip":
                    raise CorruptInputError(f"ucf101: {e} (no store written; --skip-corrupt leaves it out "
                                            f"and records it)") from e
                writer.exclude(stem, str(e))
                continue
            label = lower[cls.lower()]
            out = center_crop(resize_rgb(frames, RESIZE).transpose(0, 2, 3, 1), 64, 64).transpose(0, 3, 1, 2)
            writer.add_segment(np.ascontiguousarray(out), video=stem, **{"class": classes[label]}, label=label,
                               group=int(group), clip=int(clip))

    # ------------------------------------------------------------------ splits ---
    def folds(self) -> dict[int, dict[str, set[str]]]:
        if self._folds is None:
            self._folds = {int(f): {k: set(v) for k, v in d.items()}
                           for f, d in self.store.index.get("folds", {}).items()}
            if self.fold not in self._folds:
                raise UserError(f"ucf101: the split zip has no trainlist0{self.fold}/testlist0{self.fold}")
        return self._folds

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        stem = segment["video"].lower()
        for part in ("train", "test"):
            if stem in self.folds()[self.fold].get(part, ()):
                return part
        return None

    def class_names(self) -> list[str]:
        return list(self.store.index.get("classes", []))

    def label_specs(self) -> dict[str, LabelSpec]:
        """``action``: the classes of the prepared store (classInd.txt order; the chosen subset if any)."""
        keep = {c.lower() for c in self.classes} if self.classes else None
        return {"action": LabelSpec("class", tuple(c for c in self.class_names() if keep is None or c.lower() in keep))}

