"""``weizmann``: the Weizmann human action dataset (Gorelick et al., PAMI 2007).

Raw files (``manifests/datasets.yaml``): ten per-action zips (``bend.zip`` ... ``wave2.zip``) of
``<person>_<action>.avi``, 9 persons x 10 actions = 90 clips, 180x144 colour, plus three
duplicate takes of lena (``lena_run2``, ``lena_skip2``, ``lena_walk2``; the first takes are named
``lena_run1`` ...). Duplicates are left out (and recorded) unless ``duplicates="keep"``. Each video
is one store segment, decoded with PyAV to RGB, optionally centre-cropped to a square, resized to
``size`` x ``size``; the per-video meta holds ``person``, ``identity`` (0-8), ``action``,
``action_index`` (0-9) and ``take``.

Split schemes (``split=``), recorded by ``identity()``:

``navslp`` (Aich et al. 2020, NAVSLP): no split, every video is a training and a reference video;
    centre crop, 64x64, synthesis of 16 frames (16 consecutive frames drawn per video).
``matrix_completion`` (Aich et al. 2020, Table 3): the identity x action cells marked in the table are
    the training videos; the unmarked cells of the same four actions (run, walk, jump, skip) are the
    held-out test videos; the other six actions are in neither split. As in the paper's text these
    videos are used "without any cropping" (``crop="none"``, the whole frame resized).

Identities P1..P9 of Table 3 are taken to be the persons in alphabetical order (the paper does not
name them) and the table's colour marks are lost in our transcription: both are assumptions,
recorded in ``identity()["assumptions"]``.

This module also holds the colour decoding helpers used by the other RGB video datasets.

>>> from benchmark.data.weizmann import parse_name
>>> parse_name("lena_walk2.avi"), parse_name("daria_wave1.avi")
(('lena', 'walk', 2), ('daria', 'wave1', 0))
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path
from typing import Any


from benchmark.data.base import LabelSpec, Protocol, TaskProtocols
from benchmark.data.decode import center_crop, decode_video, resize_rgb, square  # noqa: F401 (re-exported)
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.registry import DATASETS
from benchmark.utils import UserError

log = logging.getLogger(__name__)

ACTIONS = ("bend", "jack", "jump", "pjump", "run", "side", "skip", "walk", "wave1", "wave2")
PERSONS = ("daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar")
AVI_RE = re.compile(r"(?:^|/)([a-z]+)_([a-z]+\d?)\.avi$", re.I)

#: Aich et al. 2020 Table 3: training cells (identity numbers P1..P9) per action; the other cells of
#: these four actions are held out.
MATRIX_COMPLETION_TRAIN = {
    "run": (1, 2, 3, 5),
    "walk": (1, 2, 5, 7),
    "jump": (2, 4, 5, 6, 7, 8, 9),
    "skip": (1, 2, 3, 5, 6, 7, 8, 9),
}
SCHEMES = {"navslp": {"crop": "center"}, "matrix_completion": {"crop": "none"}}


def parse_name(member: str) -> tuple[str, str, int] | None:
    """``(person, action, take)`` of ``<person>_<action>[take].avi`` (take 0: no number), else None."""
    m = AVI_RE.search(member)
    if not m:
        return None
    person, stem = m.group(1).lower(), m.group(2).lower()
    if stem in ACTIONS:
        return person, stem, 0
    if stem[-1].isdigit() and stem[:-1] in ACTIONS:
        return person, stem[:-1], int(stem[-1])
    return None


# ------------------------------------------------------------------------------ dataset ---

@DATASETS.register("weizmann")
class Weizmann(RealVideoDataset):
    """Weizmann human actions, RGB, 64x64, one segment per video."""

    name = "weizmann"
    manifest_name = "weizmann"
    description = "Weizmann human action (9 persons x 10 actions, 180x144 colour); identity and action labels."

    def __init__(self, root: Any = None, split: str = "navslp", size: int = 64, crop: str | None = None,
                 frames: int = 16, duplicates: str = "drop", actions: tuple[str, ...] | list[str] = ACTIONS,
                 on_corrupt: str = "error", workers: int = 0,
                 strict_inputs: bool = True) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if split not in SCHEMES:
            raise UserError(f"weizmann: unknown split scheme {split!r}; choose one of {', '.join(SCHEMES)}")
        if duplicates not in ("drop", "keep"):
            raise UserError(f"weizmann: duplicates must be 'drop' or 'keep', got {duplicates!r}")
        bad = set(actions) - set(ACTIONS)
        if bad:
            raise UserError(f"weizmann: unknown actions {sorted(bad)}; actions are {', '.join(ACTIONS)}")
        self.scheme, self.size, self.duplicates = split, int(size), duplicates
        self.actions = tuple(a for a in ACTIONS if a in actions)
        self.crop = crop or SCHEMES[split]["crop"]
        self.splits = ("train",) if split == "navslp" else ("train", "test")
        s = (self.size, self.size)
        test_split = "train" if split == "navslp" else "test"
        self.protocols = {"synthesis": TaskProtocols(
            train=Protocol(f"synthesis-{frames}", "synthesis", "train", 0, frames, s, 3),
            test=Protocol(f"synthesis-{frames}", "synthesis", test_split, 0, frames, s, 3))}

    def options(self) -> dict[str, Any]:
        return {"split": self.scheme, "size": self.size, "crop": self.crop, "duplicates": self.duplicates,
                "actions": list(self.actions),
                "assumptions": ["Table 3 identities P1..P9 = persons in alphabetical order: " + ", ".join(PERSONS)]
                if self.scheme == "matrix_completion" else []}

    def label_specs(self) -> dict[str, LabelSpec]:
        """``action`` (the chosen actions) and ``identity`` (the 9 persons, alphabetical: P1..P9)."""
        return {"action": LabelSpec("action", self.actions), "identity": LabelSpec("person", PERSONS)}

    def preprocessing(self) -> dict[str, Any]:
        return {"size": self.size, "crop": self.crop, "color": "rgb", "resize": "pillow-bilinear",
                "duplicates": self.duplicates, "actions": list(self.actions)}

    def required_files(self) -> list[str]:
        return [f"{a}.zip" for a in self.actions]

    def frame_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        found: list[tuple[str, str, int, Path, str]] = []
        for action in self.actions:
            p = paths.get(f"{action}.zip")
            if p is None:
                continue
            try:
                with zipfile.ZipFile(p) as zf:
                    names = zf.namelist()
            except zipfile.BadZipFile as e:
                raise CorruptInputError(f"{p}: not a readable zip ({e}); delete it and fetch again") from e
            for member in sorted(names):
                parsed = parse_name(member)
                if parsed:
                    found.append((*parsed, p, member))
        for person, action, take, zp, member in sorted(found, key=lambda f: (f[1], f[0], f[2])):
            video = Path(member).stem
            if person not in PERSONS:
                writer.exclude(video, f"unknown person {person!r} (persons: {', '.join(PERSONS)})")
                continue
            if take > 1 and self.duplicates == "drop":
                writer.exclude(video, "duplicate take (the 90-video set keeps take 1)")
                continue
            try:
                with zipfile.ZipFile(zp) as zf:
                    data = zf.read(member)
                frames = decode_video(io.BytesIO(data), f"{zp.name}:{member}", fmt="avi")
            except (CorruptInputError, zipfile.BadZipFile, OSError, KeyError) as e:
                if self.on_corrupt != "skip":
                    raise CorruptInputError(f"weizmann: {e} (no store written; --skip-corrupt leaves it out "
                                            f"and records it)") from e
                writer.exclude(video, str(e))
                continue
            writer.add_segment(square(frames, self.size, self.crop), video=video, person=person,
                               identity=PERSONS.index(person), action=action, action_index=ACTIONS.index(action),
                               take=take, source_size=[int(frames.shape[2]), int(frames.shape[1])])

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        if self.scheme == "navslp":
            return "train"
        cells = MATRIX_COMPLETION_TRAIN.get(segment["action"])
        if cells is None:
            return None
        return "train" if segment["identity"] + 1 in cells else "test"
