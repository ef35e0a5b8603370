"""``kth``: the KTH human actions dataset (Schuldt et al., ICPR 2004).

Raw files (``manifests/datasets.yaml``): six action zips of ``personXX_<action>_dY_uncomp.avi``
(25 persons x 4 scenarios; 160x120 gray, 25 fps) and ``00sequences.txt``, which lists for every
video its subsequences as 1-based inclusive frame ranges (in the file's order, overlaps kept) and
marks ``person13_handclapping_d3`` as ``*missing*``. Each listed range becomes one segment of the
store (decoded with PyAV, converted to gray, resized to ``size`` x ``size``).

Split schemes (``split=``), recorded by ``identity()``:

========== ================================== ====================================== =====
scheme     train                              test                                   size
========== ================================== ====================================== =====
svg        persons 1-20                       21-25                                  64
savp       1-16 (95 % train / 5 % val, by     17-25                                  64
           video, seeded)
openstl    1-16                               17-25                                  128
official   11-18 (val 19-21, 23-25, 1, 4)     22, 2, 3, 5-10 (header of the file)    64
========== ================================== ====================================== =====

Protocols: prediction 10 -> 10 for training; 10 -> 30 at test (openstl: 10 -> 20), or
``test_future=40`` for 10 -> 40; ``fixed_test=True`` replaces the test set by ``fixed_test_clips``
(1000) clips of 40 frames drawn once with ``np.random.RandomState(42)`` (SRVP-style; see
:mod:`benchmark.data.real` for the draw); synthesis 16 frames.

What cannot be decoded is excluded and recorded in the store's ``index.json`` (and in
``identity()["excluded"]``): a listed range past the last decodable frame (the official
``person01_boxing_d4`` is truncated) is always dropped; a video that does not decode at all is an
error naming it, unless ``on_corrupt="skip"``.

>>> from benchmark.data.kth import parse_sequences
>>> seqs = parse_sequences("person01_boxing_d1\\t\\tframes\\t1-95, 96-185\\nperson13_handclapping_d3\\t\\t*missing*\\n")
>>> seqs.ranges["person01_boxing_d1"], seqs.missing
([(1, 95), (96, 185)], ['person13_handclapping_d3'])
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from benchmark.data.base import LabelSpec, Protocol, TaskProtocols
from benchmark.data.decode import decode_video
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.two_ended import two_ended as two_ended_protocols
from benchmark.registry import DATASETS
from benchmark.utils import UserError

log = logging.getLogger(__name__)

ACTIONS = ("walking", "jogging", "running", "boxing", "handwaving", "handclapping")
SEQUENCES_FILE = "00sequences.txt"
NAME_RE = re.compile(r"^person(\d{2})_([a-z]+)_d(\d)$")
AVI_RE = re.compile(r"(?:^|/)(person\d{2}_[a-z]+_d\d)_uncomp\.avi$")

#: The dataset authors' split (the header of 00sequences.txt); used when the header is absent.
OFFICIAL = {"train": (11, 12, 13, 14, 15, 16, 17, 18),
            "val": (19, 20, 21, 23, 24, 25, 1, 4),
            "test": (22, 2, 3, 5, 6, 7, 8, 9, 10)}
SCHEMES: dict[str, dict[str, Any]] = {
    "svg": {"splits": {"train": range(1, 21), "test": range(21, 26)}, "size": 64, "test_future": 30},
    "savp": {"splits": {"train": range(1, 17), "test": range(17, 26)}, "size": 64, "test_future": 30,
             "val_fraction": 0.05},
    "openstl": {"splits": {"train": range(1, 17), "test": range(17, 26)}, "size": 128, "test_future": 20},
    "official": {"splits": OFFICIAL, "size": 64, "test_future": 30},
}


@dataclass
class Sequences:
    """Parsed ``00sequences.txt``: ranges per video (file order), missing videos, header split."""

    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    split: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def num_subsequences(self) -> int:
        return sum(len(r) for r in self.ranges.values())


def parse_sequences(text: str, source: str = SEQUENCES_FILE) -> Sequences:
    """Parse the sequences file. Ranges are 1-based and inclusive, kept in the file's order.

    Raises:
        UserError: a line names a video but has neither ranges nor a ``missing`` mark, or a range
            is empty (start > end); the message gives the line number.
    """
    out = Sequences()
    header = {"training": "train", "validation": "val", "test": "test"}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = re.match(r"^(training|validation|test)\s*:\s*(.*)$", line, re.I)
        if m:
            out.split[header[m.group(1).lower()]] = tuple(int(p) for p in re.findall(r"person\s*(\d+)", m.group(2)))
            continue
        m = re.match(r"^(person\d{2}_[a-z]+_d\d)\b\s*(.*)$", line)
        if not m:
            continue  # free text (titles, notes)
        video, rest = m.groups()
        if "missing" in rest.lower():
            out.missing.append(video)
            continue
        ranges = [(int(a), int(b)) for a, b in re.findall(r"(\d+)\s*-\s*(\d+)", rest)]
        if not ranges:
            raise UserError(f"{source}:{n}: {video} has no frame ranges: {raw!r}")
        for a, b in ranges:
            if a < 1 or b < a:
                raise UserError(f"{source}:{n}: {video}: bad range {a}-{b} (1-based, inclusive)")
        if video in out.ranges:
            raise UserError(f"{source}:{n}: {video} is listed twice")
        out.ranges[video] = ranges
    if not out.ranges:
        raise UserError(f"{source}: no 'personXX_<action>_dY  frames a-b, ...' lines found")
    return out


def resize_frames(frames: np.ndarray, size: int, crop: str) -> np.ndarray:
    """uint8 ``(T, H, W)`` gray -> ``(T, size, size)``: optional centre square crop, then a
    bilinear (antialiased) resize with Pillow."""
    from PIL import Image

    t, h, w = frames.shape
    if crop == "center":
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        frames = frames[:, y:y + s, x:x + s]
    elif crop != "none":
        raise ValueError(f"crop must be 'none' or 'center', got {crop!r}")
    if frames.shape[1:] == (size, size):
        return np.ascontiguousarray(frames)
    out = np.empty((t, size, size), np.uint8)
    for i in range(t):
        out[i] = np.asarray(Image.fromarray(frames[i]).resize((size, size), Image.BILINEAR))
    return out


def decode_avi(data_or_path: Any, name: str) -> np.ndarray:
    """Decode every frame of an AVI (path or file-like) to gray uint8 ``(T, H, W)`` with PyAV.

    Frames decoded before a mid-stream error are kept (a truncated file yields its readable
    prefix); a file with no decodable frame raises :class:`CorruptInputError` naming ``name``.
    """
    return decode_video(data_or_path, name, fmt="avi", pix_fmt="gray")


def _decode_member(args: tuple[str, str, str, int, str]) -> tuple[str, np.ndarray | None, int, str]:
    """Worker: decode one zip member and resize; returns (video, frames, decoded count, error)."""
    zip_path, member, video, size, crop = args
    try:
        with zipfile.ZipFile(zip_path) as zf:
            data = zf.read(member)  # a few MB; seeking inside a deflated member would re-inflate it
        frames = decode_avi(io.BytesIO(data), f"{Path(zip_path).name}:{member}")
        return video, resize_frames(frames, size, crop)[:, None], len(frames), ""
    except (CorruptInputError, zipfile.BadZipFile, OSError, EOFError, KeyError) as e:
        return video, None, 0, str(e)


def scan_zips(paths: dict[str, Path]) -> dict[str, tuple[Path, str]]:
    """``{video: (zip path, member)}`` of every ``..._uncomp.avi`` in the action zips."""
    found: dict[str, tuple[Path, str]] = {}
    for action in ACTIONS:
        p = paths.get(f"{action}.zip")
        if p is None:
            continue
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile as e:
            raise CorruptInputError(f"{p}: not a readable zip ({e}); delete it and fetch again") from e
        for member in names:
            m = AVI_RE.search(member)
            if m:
                found[m.group(1)] = (p, member)
    return found


@DATASETS.register("kth")
class KTH(RealVideoDataset):
    """KTH actions, gray, 64x64 or 128x128, under a named split scheme."""

    name = "kth"
    manifest_name = "kth"
    description = "KTH human actions (6 actions, 25 persons, 4 scenarios); gray; subsequences from 00sequences.txt."

    def __init__(self, root: Any = None, split: str = "svg", size: int | None = None, crop: str = "none",
                 test_future: int | None = None, fixed_test: bool = False, fixed_test_clips: int = 1000,
                 fixed_test_seed: int = 42, val_seed: int = 0, actions: tuple[str, ...] | list[str] = ACTIONS,
                 on_corrupt: str = "error", workers: int = 0,
                 strict_inputs: bool = True, two_ended: bool = False) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if split not in SCHEMES:
            raise UserError(f"kth: unknown split scheme {split!r}; choose one of {', '.join(SCHEMES)}")
        bad = set(actions) - set(ACTIONS)
        if bad:
            raise UserError(f"kth: unknown actions {sorted(bad)}; actions are {', '.join(ACTIONS)}")
        self.scheme, self.crop, self.actions = split, crop, tuple(a for a in ACTIONS if a in actions)
        sch = SCHEMES[split]
        self.size = int(size or sch["size"])
        self.val_seed = val_seed
        self.fixed_test, self.fixed_test_clips, self.clip_seed = fixed_test, fixed_test_clips, fixed_test_seed
        self.splits = ("train", "val", "test") if split in ("savp", "official") else ("train", "test")
        future = int(test_future or sch["test_future"])
        s = (self.size, self.size)
        if fixed_test:
            test = Protocol(f"prediction-10to30-fixed{fixed_test_clips}", "prediction", "test", 10, 30, s, 1,
                            num_videos=fixed_test_clips, samples_per_context=100)
        else:
            test = Protocol(f"prediction-10to{future}", "prediction", "test", 10, future, s, 1,
                            samples_per_context=100)
        self.protocols = {
            "prediction": TaskProtocols(
                train=Protocol("prediction-10to10", "prediction", "train", 10, 10, s, 1), test=test),
            "synthesis": TaskProtocols(
                train=Protocol("synthesis-16", "synthesis", "train", 0, 16, s, 1),
                test=Protocol("synthesis-16", "synthesis", "test", 0, 16, s, 1)),
        }
        self.two_ended = bool(two_ended)
        if self.two_ended:  # P2P's protocol: start + end frame given (benchmark.data.two_ended)
            self.protocols["prediction"] = two_ended_protocols(self.protocols["prediction"])
        self._persons: dict[str, set[int]] | None = None
        self._val_videos: set[str] | None = None

    # ----------------------------------------------------------------- options ---
    def options(self) -> dict[str, Any]:
        return {"split": self.scheme, "size": self.size, "crop": self.crop, "actions": list(self.actions),
                "fixed_test": self.fixed_test, "fixed_test_clips": self.fixed_test_clips if self.fixed_test else None,
                "fixed_test_seed": self.clip_seed if self.fixed_test else None,
                "val_seed": self.val_seed if self.scheme == "savp" else None, "on_corrupt": self.on_corrupt,
                **({"two_ended": True} if self.two_ended else {})}

    def label_specs(self) -> dict[str, LabelSpec]:
        """``action`` (the chosen actions, in KTH's order) and ``identity`` (persons 1-25)."""
        return {"action": LabelSpec("action", self.actions), "identity": LabelSpec("person", tuple(range(1, 26)))}

    def preprocessing(self) -> dict[str, Any]:
        return {"size": self.size, "crop": self.crop, "color": "gray", "resize": "pillow-bilinear",
                "actions": list(self.actions)}

    def frame_shape(self) -> tuple[int, int, int]:
        return (1, self.size, self.size)

    def required_files(self) -> list[str]:
        return [SEQUENCES_FILE] + [f"{a}.zip" for a in self.actions]

    def sequences(self) -> Sequences:
        p = self.raw_dir / SEQUENCES_FILE
        if not p.is_file():
            raise UserError(f"{p}: missing (run `benchmark data fetch kth --data-root {self.root}`)")
        return parse_sequences(p.read_text(errors="replace"), str(p))

    # ----------------------------------------------------------------- decoding ---
    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        seqs = parse_sequences(paths[SEQUENCES_FILE].read_text(errors="replace"), str(paths[SEQUENCES_FILE]))
        found = scan_zips(paths)
        writer.info["official_split"] = {k: list(v) for k, v in (seqs.split or OFFICIAL).items()}
        for video in seqs.missing:
            writer.exclude(video, "marked *missing* in 00sequences.txt")
        jobs, problems = [], []
        for video in seqs.ranges:
            m = NAME_RE.match(video)
            if not m or m.group(2) not in self.actions:
                continue
            if video not in found:
                problems.append(f"{video}_uncomp.avi: listed in {SEQUENCES_FILE} but not in {m.group(2)}.zip")
                continue
            zp, member = found[video]
            jobs.append((str(zp), member, video, self.size, self.crop))
        extra = sorted(set(v for v in found if NAME_RE.match(v) and NAME_RE.match(v).group(2) in self.actions)
                       - set(seqs.ranges) - set(seqs.missing))
        for v in extra:
            writer.exclude(v, f"in the zip but not listed in {SEQUENCES_FILE}")
        self._check(problems, writer)
        for video, frames, decoded, err in self._decode_all(jobs):
            if frames is None:
                self._check([err], writer, item=video)
                continue
            person, action, scen = NAME_RE.match(video).groups()
            for k, (a, b) in enumerate(seqs.ranges[video]):
                if b > decoded:
                    writer.exclude(f"{video}[{a}-{b}]", f"range ends at frame {b} but only {decoded} frames decode",
                                   decoded=decoded)
                    continue
                writer.add_segment(frames[a - 1:b], video=video, person=int(person), action=action,
                                   scenario=int(scen), range=[a, b], subsequence=k)

    def _check(self, problems: list[str], writer: StoreWriter, item: str | None = None) -> None:
        if not problems:
            return
        if self.on_corrupt == "skip":
            for p in problems:
                log.warning("kth: skipping (on_corrupt='skip'): %s", p)
                writer.exclude(item or p.split(":")[0], p)
            return
        raise CorruptInputError("kth: cannot prepare (no store written):\n  " + "\n  ".join(problems)
                                + "\n(pass on_corrupt='skip' / --skip-corrupt to leave these out and record them)")

    def _decode_all(self, jobs: list[tuple]) -> Iterator[tuple[str, np.ndarray | None, int, str]]:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="kth: decoding", unit="video", leave=False, disable=len(jobs) < 50)
        if self.workers and self.workers > 1:
            with ProcessPoolExecutor(self.workers) as ex:
                for r in ex.map(_decode_member, jobs, chunksize=4):  # map keeps the file order
                    bar.update()
                    yield r
        else:
            for job in jobs:
                bar.update()
                yield _decode_member(job)
        bar.close()

    # ------------------------------------------------------------------- splits ---
    def persons(self) -> dict[str, set[int]]:
        if self._persons is None:
            sch = SCHEMES[self.scheme]["splits"]
            if self.scheme == "official":
                header = self.store.index.get("official_split") or {k: list(v) for k, v in OFFICIAL.items()}
                if {k: sorted(v) for k, v in header.items()} != {k: sorted(v) for k, v in OFFICIAL.items()}:
                    log.warning("kth: the header of %s declares %s, which differs from the documented "
                                "split %s; using the file's", SEQUENCES_FILE, header, OFFICIAL)
                sch = header
            self._persons = {k: set(v) for k, v in sch.items()}
        return self._persons

    def val_videos(self) -> set[str]:
        """savp: the 5 % of train-person videos held out for validation (seeded, by video)."""
        if self._val_videos is None:
            train = self.persons()["train"]
            videos = sorted({s["video"] for s in self.store.segments if s["person"] in train})
            n = int(round(len(videos) * SCHEMES["savp"]["val_fraction"]))
            order = np.random.default_rng(self.val_seed).permutation(len(videos))
            self._val_videos = {videos[i] for i in order[:n]}
        return self._val_videos

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        person = segment["person"]
        for split, members in self.persons().items():
            if person in members:
                if self.scheme == "savp" and split == "train" and segment["video"] in self.val_videos():
                    return "val"
                return split
        return None
