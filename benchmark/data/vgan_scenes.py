"""``vgan-golf`` / ``vgan-beach``: the stabilised "tinyvideo" scenes of VGAN (Vondrick et al., NeurIPS 2016).

Raw files: ``<scene>.tar.bz2`` holding one JPEG per clip, the clip's frames (128x128, 32 of them,
25 fps, stabilised) stacked vertically (a 128 x 4096 image), and optionally ``<scene>.txt``, the
authors' list of clip paths (relative to their ``frames-stable-many/`` root). When the list is
present only the clips it names are kept (a member matches an entry when one ends with the other);
clips are kept in the tar's order. The bz2 tar is streamed once, never extracted or seeked.

Each clip is one store segment of ``H // 128`` frames resized to ``size`` x ``size`` (64); a JPEG
whose height is not a multiple of 128 or whose width is not 128 is excluded and recorded.
``max_clips`` keeps the first clips only (a subset: the golf set has ~600k clips); ``num_videos``
keeps a random subset of the stored clips, drawn with ``np.random.RandomState(video_seed)`` (Aich
et al. 2020 "randomly chose 500 videos"), which is then the training set and the scored set alike.

No split (synthesis from the data distribution). Protocols: synthesis 32 frames (VGAN), or
``frames=16`` (Aich et al. 2020: 16 frames per video), whose clips are the first 16 frames of each
clip (one per clip, the set a method that learns one window per clip is trained on); the training
split still holds every window, as on every real dataset.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.decode import resize_rgb
from benchmark.registry import DATASETS
from benchmark.utils import UserError

TILE = 128


def read_list(text: str) -> list[str]:
    """Clip paths of a ``<scene>.txt`` list (blank lines and ``#`` comments skipped, ``./`` stripped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.removeprefix("./").strip("/"))
    return out


def unstack(img: np.ndarray, name: str) -> np.ndarray:
    """``(T*128, 128, 3)`` stacked frames -> ``(T, 128, 128, 3)``."""
    h, w = img.shape[:2]
    if w != TILE or h % TILE or h == 0:
        raise CorruptInputError(f"{name}: {w}x{h} is not a vertical stack of {TILE}x{TILE} frames")
    return img.reshape(h // TILE, TILE, TILE, 3)


class VGANScenes(RealVideoDataset):
    """One VGAN scene category: stacked-JPEG clips, RGB, used at 64x64."""

    scene = ""
    splits = ("train",)

    def __init__(self, root: Any = None, size: int = 64, frames: int = 32, max_clips: int | None = None,
                 use_list: bool = True, on_corrupt: str = "error", workers: int = 0,
                 strict_inputs: bool = True, num_videos: int | None = None, video_seed: int = 0) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if frames not in (16, 32):
            raise UserError(f"{self.name}: frames must be 32 (VGAN) or 16, got {frames}")
        self.size, self.frames, self.max_clips, self.use_list = int(size), int(frames), max_clips, use_list
        if num_videos is not None and int(num_videos) < 1:
            raise UserError(f"{self.name}: num_videos must be a positive number of clips, got {num_videos}")
        self.num_videos, self.video_seed = (int(num_videos) if num_videos else None), int(video_seed)
        s = (self.size, self.size)
        p = Protocol(f"synthesis-{frames}", "synthesis", "train", 0, frames, s, 3)
        self.protocols = {"synthesis": TaskProtocols(train=p, test=p)}

    @property
    def tar_name(self) -> str:
        return f"{self.scene}.tar.bz2"

    @property
    def list_name(self) -> str:
        return f"{self.scene}.txt"

    def options(self) -> dict[str, Any]:
        out = {"size": self.size, "frames": self.frames, "max_clips": self.max_clips, "use_list": self.use_list}
        if self.num_videos:  # recorded only when set, so the identity of the whole set is unchanged
            out |= {"num_videos": self.num_videos, "video_seed": self.video_seed}
        return out

    def split_segments(self, split: str) -> list[int]:
        """The stored clips, or the ``num_videos`` of them drawn with ``RandomState(video_seed)``."""
        segs = super().split_segments(split)
        if self.num_videos:
            if self.num_videos > len(segs):
                raise UserError(f"{self.name}: num_videos={self.num_videos} but the store has {len(segs)} clips")
            pick = np.sort(np.random.RandomState(self.video_seed).choice(len(segs), self.num_videos, replace=False))
            segs = [segs[i] for i in pick]
        return segs

    def clip_windows(self, protocol: Protocol) -> np.ndarray:
        """The first ``num_frames`` frames of every clip (one window per clip)."""
        if protocol.num_videos:
            return super().clip_windows(protocol)
        segs = self.split_segments(protocol.split)
        longest = max(self.store.segments[i]["length"] for i in segs)
        return self.store.windows(protocol.num_frames, max(longest, protocol.num_frames), segs)

    def preprocessing(self) -> dict[str, Any]:
        # frames is not here: the store holds whole clips; 16-frame protocols take windows of them
        return {"size": self.size, "resize": "pillow-bilinear", "max_clips": self.max_clips, "use_list": self.use_list}

    def frame_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def required_files(self) -> list[str]:
        names = [self.tar_name]
        if self.use_list and (self.raw_dir / self.list_name).is_file():
            names.append(self.list_name)
        return names

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        from PIL import Image

        wanted: set[str] | None = None
        if self.list_name in paths:
            wanted = set(read_list(paths[self.list_name].read_text(errors="replace")))
            writer.info["list_entries"] = len(wanted)
        n = 0
        try:
            with tarfile.open(paths[self.tar_name], "r|bz2") as tar:
                for m in tar:
                    if not m.isfile() or not m.name.lower().endswith((".jpg", ".jpeg")):
                        continue
                    path = m.name.removeprefix("./")
                    if wanted is not None:
                        parts = path.split("/")
                        if not any("/".join(parts[i:]) in wanted for i in range(len(parts))):
                            continue
                    try:
                        img = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"))
                        clip = unstack(img, path)
                    except (OSError, CorruptInputError) as e:
                        if self.on_corrupt != "skip":
                            raise CorruptInputError(f"{self.name}: {path}: {e} (no store written; --skip-corrupt "
                                                    f"leaves it out and records it)") from e
                        writer.exclude(path, str(e))
                        continue
                    writer.add_segment(resize_rgb(clip, (self.size, self.size)), video=path)
                    n += 1
                    if self.max_clips and n >= self.max_clips:
                        break
        except (tarfile.TarError, EOFError) as e:
            raise CorruptInputError(f"{paths[self.tar_name]}: unreadable or truncated tar.bz2 ({e}); "
                                    f"delete it and fetch again") from e

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        return "train"


@DATASETS.register("vgan-golf")
class VGANGolf(VGANScenes):
    name = "vgan-golf"
    manifest_name = "vgan-golf"
    scene = "golf"
    description = "VGAN golf scenes: stabilised 32-frame clips (stacked 128x128 JPEGs), used at 64x64."


@DATASETS.register("vgan-beach")
class VGANBeach(VGANScenes):
    name = "vgan-beach"
    manifest_name = "vgan-beach"
    scene = "beach"
    description = "VGAN beach scenes: stabilised 32-frame clips (stacked 128x128 JPEGs), used at 64x64."
