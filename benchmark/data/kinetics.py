"""``kinetics600``: a user-chosen subset of Kinetics-600 (Carreira et al. 2018) for video prediction.

Raw files (``manifests/datasets.yaml``): the CVDF annotation CSVs ``train.txt`` / ``val.txt``
(columns ``label, youtube_id, time_start, time_end, split``; CVDF names them ``.txt``) and, for
fetching the clip tarballs yourself, the CVDF path lists ``k600_<split>_path.txt``. The full set is
~500k clips, so the clips are not fetched here: point ``videos_dir=`` (default
``<raw>/kinetics600/videos/``) at a folder of already-downloaded clips named as the CSV implies,
``<youtube_id>_<time_start:06d>_<time_end:06d>.<mp4|webm|mkv>`` (the CVDF naming; sub-folders,
e.g. one per class, are searched too).

Subset: ``classes=[...]`` (label names as in the CSV) or ``num_classes=N`` (the first N labels in
sorted order), and ``max_per_class=K`` (the first K rows of each label in the CSV's order). Rows
whose clip is not in the folder are excluded and recorded (YouTube clips disappear; the record
says which clips a score was computed on). Each clip is one store segment: decoded with PyAV,
centre-cropped to a square, resized to ``size`` x ``size`` RGB (``max_frames`` caps decoding).

Protocols (``protocol=``): ``fvd64`` prediction 5 -> 11 at 64x64 (the FVD leaderboards);
``p003`` prediction 4 -> 12 at 256x256 (Walker et al. 2021, which downsamples to 64x64 for FVD).
Train on ``train``, evaluate on ``val``.

>>> from benchmark.data.kinetics import clip_stem
>>> clip_stem("--07WQ2iBlw", 1, 11)
'--07WQ2iBlw_000001_000011'
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from benchmark.data.base import LabelSpec, Protocol, TaskProtocols
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.ucf101 import folder_fingerprint
from benchmark.data.decode import decode_video, square
from benchmark.registry import DATASETS
from benchmark.utils import UserError

ANNOTATIONS = {"train": "train.txt", "val": "val.txt"}
SUFFIXES = (".mp4", ".webm", ".mkv")
PROTOCOLS = {"fvd64": (5, 11, 64), "p003": (4, 12, 256)}


def clip_stem(youtube_id: str, time_start: Any, time_end: Any) -> str:
    """File stem of a clip as the CVDF tarballs name it."""
    return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}"


def read_annotations(text: str, source: str) -> list[dict[str, Any]]:
    """Rows of an annotation CSV: ``label, youtube_id, time_start, time_end, split`` (+ ``stem``)."""
    reader = csv.DictReader(io.StringIO(text))
    need = {"label", "youtube_id", "time_start", "time_end"}
    if not reader.fieldnames or not need <= set(reader.fieldnames):
        raise UserError(f"{source}: expected a CSV header with {', '.join(sorted(need))}, got {reader.fieldnames}")
    rows = []
    for n, r in enumerate(reader, 2):
        try:
            rows.append({"label": r["label"].strip(), "youtube_id": r["youtube_id"].strip(),
                         "time_start": int(float(r["time_start"])), "time_end": int(float(r["time_end"])),
                         "split": (r.get("split") or "").strip(),
                         "stem": clip_stem(r["youtube_id"].strip(), r["time_start"], r["time_end"])})
        except (TypeError, ValueError) as e:
            raise UserError(f"{source}:{n}: bad row {r} ({e})") from e
    return rows


@DATASETS.register("kinetics600")
class Kinetics600(RealVideoDataset):
    """A subset of Kinetics-600 from a local folder of clips, RGB, 64x64 or 256x256."""

    name = "kinetics600"
    manifest_name = "kinetics600"
    description = "Kinetics-600 (user-chosen subset of already-downloaded clips); prediction 5->11 or 4->12."
    splits = ("train", "val")

    def __init__(self, root: Any = None, protocol: str = "fvd64", size: int | None = None,
                 classes: list[str] | None = None, num_classes: int | None = None,
                 max_per_class: int | None = None, videos_dir: str | None = None, max_frames: int | None = None,
                 on_corrupt: str = "error", workers: int = 0, strict_inputs: bool = True) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if protocol not in PROTOCOLS:
            raise UserError(f"kinetics600: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        if classes and num_classes:
            raise UserError("kinetics600: give classes or num_classes, not both")
        ctx, fut, default_size = PROTOCOLS[protocol]
        self.protocol_name, self.size = protocol, int(size or default_size)
        self.classes = sorted(classes) if classes else None
        self.num_classes, self.max_per_class, self.max_frames = num_classes, max_per_class, max_frames
        self.videos_dir = Path(videos_dir) if videos_dir else None
        s = (self.size, self.size)
        name = f"prediction-{ctx}to{fut}"
        self.protocols = {"prediction": TaskProtocols(
            train=Protocol(name, "prediction", "train", ctx, fut, s, 3),
            test=Protocol(name, "prediction", "val", ctx, fut, s, 3))}

    @property
    def clips_dir(self) -> Path:
        return self.videos_dir or self.raw_dir / "videos"

    def options(self) -> dict[str, Any]:
        return {"protocol": self.protocol_name, "size": self.size, "classes": self.classes,
                "num_classes": self.num_classes, "max_per_class": self.max_per_class,
                "max_frames": self.max_frames, "videos_dir": str(self.clips_dir)}

    def preprocessing(self) -> dict[str, Any]:
        return {"size": self.size, "crop": "center", "resize": "pillow-bilinear", "classes": self.classes,
                "num_classes": self.num_classes, "max_per_class": self.max_per_class, "max_frames": self.max_frames}

    def frame_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def label_specs(self) -> dict[str, LabelSpec]:
        """``action``: the labels of the prepared subset (sorted annotation names)."""
        return {"action": LabelSpec("label", tuple(self.store.index.get("labels", [])))}

    def required_files(self) -> list[str]:
        return list(ANNOTATIONS.values())

    def _inputs(self) -> tuple[dict[str, Path], dict[str, Any]]:
        paths, fp = super()._inputs()
        if not self.clips_dir.is_dir():
            raise UserError(f"kinetics600: no clip folder at {self.clips_dir}: download the clips of your subset "
                            f"(CVDF tarballs listed in k600_<split>_path.txt) and put them there named "
                            f"<youtube_id>_<start:06d>_<end:06d>.mp4, or pass videos_dir=<folder>")
        return paths, {**fp, "videos": folder_fingerprint(self.clips_dir, SUFFIXES)}

    def select(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The subset of ``rows``: chosen labels, at most ``max_per_class`` rows each (CSV order)."""
        labels = sorted({r["label"] for r in rows})
        if self.classes:
            unknown = set(self.classes) - set(labels)
            if unknown:
                raise UserError(f"kinetics600: unknown classes {sorted(unknown)} (not in the annotations)")
            labels = self.classes
        elif self.num_classes:
            labels = labels[:self.num_classes]
        keep, count = set(labels), {}
        out = []
        for r in rows:
            if r["label"] in keep and (not self.max_per_class or count.get(r["label"], 0) < self.max_per_class):
                count[r["label"]] = count.get(r["label"], 0) + 1
                out.append(r)
        return out

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        files = {p.stem: p for p in sorted(self.clips_dir.rglob("*")) if p.suffix.lower() in SUFFIXES}
        labels: list[str] = []
        wanted = 0
        for split, fname in ANNOTATIONS.items():
            rows = self.select(read_annotations(paths[fname].read_text(errors="replace"), str(paths[fname])))
            labels = sorted(set(labels) | {r["label"] for r in rows})
            wanted += len(rows)
            for r in rows:
                p = files.get(r["stem"])
                if p is None:
                    writer.exclude(r["stem"], f"not downloaded (no {r['stem']}.mp4 under {self.clips_dir})",
                                   split=split, label=r["label"])
                    continue
                try:
                    frames = decode_video(str(p), p.name, max_frames=self.max_frames)
                except CorruptInputError as e:
                    if self.on_corrupt != "skip":
                        raise CorruptInputError(f"kinetics600: {e} (no store written; --skip-corrupt leaves it "
                                                f"out and records it)") from e
                    writer.exclude(r["stem"], str(e), split=split, label=r["label"])
                    continue
                writer.add_segment(square(frames, self.size, "center"), video=r["stem"], split=split,
                                   label=r["label"], youtube_id=r["youtube_id"], time_start=r["time_start"],
                                   time_end=r["time_end"])
        writer.info["labels"] = labels
        if not writer.segments:
            raise UserError(f"kinetics600: none of the {wanted} clips of the chosen subset is in {self.clips_dir} "
                            f"(expected files named <youtube_id>_<start:06d>_<end:06d>.mp4; "
                            f"{len(files)} video files found there)")

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        return segment["split"]
