"""Shared machinery of the real (downloaded) datasets: raw files -> prepared store -> clips.

A :class:`RealVideoDataset` subclass says which raw files it needs, how to decode them into
segments (:meth:`RealVideoDataset.write_store`) and which split each segment belongs to under the
chosen split scheme (:meth:`RealVideoDataset.segment_split`). The base class does the rest:

* ``prepare()`` decodes once into a :mod:`benchmark.data.store` store keyed by the inputs'
  fingerprint and the preprocessing parameters (split schemes share one store);
* ``load_split(split)`` serves fixed-length windows as a virtual ``(N, T, C, H, W)`` array. For
  the training split these are *all* windows of ``T`` frames at step 1 (``T`` = the longest train
  protocol), so the training loop's uniform draw over ``N`` is a uniform draw over every
  ``T``-frame window of every segment; other splits get non-overlapping windows;
* ``clips(protocol)`` cuts non-overlapping ``num_frames`` windows from each segment of the split,
  or, when the protocol fixes ``num_videos``, draws that many windows once with a recorded seed
  (``np.random.RandomState(clip_seed)``: a segment uniformly among those long enough, then a start
  uniformly), which makes a fixed, listable test set such as SRVP's 1000 KTH clips.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data import fetch as F
from benchmark.data.base import Protocol, SplitData, VideoDataset
from benchmark.data.store import ClipArray, FrameStore, StoreWriter, store_key
from benchmark.utils import UserError, sha256_bytes, sha256_json

log = logging.getLogger(__name__)


class CorruptInputError(UserError):
    """A raw video/record could not be decoded; the message names it."""


def default_data_root() -> Path:
    return Path(os.environ.get("VIDBENCH_DATA", "data"))


class RealVideoDataset(VideoDataset):
    """Base of datasets that are fetched, verified and prepared into a store."""

    manifest_name: str = ""       # key in manifests/datasets.yaml
    store_version: int = 1        # bump when decoding/preprocessing output changes
    clip_seed: int = 0            # seed of fixed clip draws (protocol.num_videos)

    def __init__(self, root: str | os.PathLike | None = None, on_corrupt: str = "error",
                 workers: int = 0, strict_inputs: bool = True) -> None:
        if on_corrupt not in ("error", "skip"):
            raise ValueError(f"on_corrupt must be 'error' or 'skip', got {on_corrupt!r}")
        self.root = Path(root) if root is not None else default_data_root()
        self.on_corrupt = on_corrupt
        self.workers = workers
        self.strict_inputs = strict_inputs  # False: accept raw files whose size differs from the pin (subsets, tests)
        self._store: FrameStore | None = None
        self._split_cache: dict[str, SplitData] = {}

    # ---------------------------------------------------------------- subclass hooks ---
    def preprocessing(self) -> dict[str, Any]:
        """Parameters that change the store's bytes (size, crop, colour ...)."""
        raise NotImplementedError

    def frame_shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        raise NotImplementedError

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        """The split of a segment under the chosen scheme (None: in no split)."""
        raise NotImplementedError

    def required_files(self) -> list[str] | None:
        """Raw file names needed by prepare (None: every required file of the manifest)."""
        return None

    # ---------------------------------------------------------------------- store ---
    @property
    def raw_dir(self) -> Path:
        return F.raw_dir(self.root, self.manifest_name or self.name)

    def _inputs(self) -> tuple[dict[str, Path], dict[str, Any]]:
        name = self.manifest_name or self.name
        manifest = F.load_manifest()
        paths = F.require(name, self.root, self.required_files(), manifest, strict=self.strict_inputs)
        return paths, F.input_fingerprint(paths, F.raw_files(name, manifest))

    def store_key(self) -> str:
        _, fp = self._inputs()
        return store_key(fp, {"dataset": self.name, "version": self.store_version,
                              "on_corrupt": self.on_corrupt, **self.preprocessing()})

    def prepare(self) -> Path:
        """Decode the raw files once into the store (no-op when a complete one exists)."""
        paths, fp = self._inputs()
        params = {"dataset": self.name, "version": self.store_version, "on_corrupt": self.on_corrupt,
                  **self.preprocessing()}
        key = store_key(fp, params)
        path = self.root / self.name / key
        if FrameStore.complete(path):
            return path
        with StoreWriter(self.root, self.name, key, self.frame_shape(),
                         info={"params": params, "inputs": fp}) as w:
            self.write_store(w, paths)
            if not w.segments:
                raise CorruptInputError(f"{self.name}: no segment could be decoded from {self.raw_dir}")
        if w.excluded:
            log.warning("%s: %d item(s) excluded while preparing (listed in %s/index.json): %s",
                        self.name, len(w.excluded), path,
                        "; ".join(f"{e['item']}: {e['reason']}" for e in w.excluded[:5]))
        return path

    @property
    def store(self) -> FrameStore:
        if self._store is None:
            self._store = FrameStore(self.prepare())
        return self._store

    def excluded(self) -> list[dict[str, Any]]:
        return self.store.index.get("excluded", [])

    # --------------------------------------------------------------------- splits ---
    def split_segments(self, split: str) -> list[int]:
        if split not in self.splits:
            raise ValueError(f"{self.name}: split {split!r} is not one of {self.splits}")
        return [i for i, s in enumerate(self.store.segments) if self.segment_split(s) == split]

    def _train_splits(self) -> set[str]:
        return {p.train.split for p in self.protocols.values()}

    def window_length(self, split: str) -> int:
        """Frames per item of ``load_split(split)``: the longest protocol using that split."""
        lens = [p.num_frames for tp in self.protocols.values() for p in (tp.train, tp.test) if p.split == split]
        train = [tp.train.num_frames for tp in self.protocols.values() if tp.train.split == split]
        return max(train or lens or [max(tp.test.num_frames for tp in self.protocols.values())])

    def _split_data(self, split: str, windows: np.ndarray, length: int, extra: dict[str, Any]) -> SplitData:
        clips = self.store.clip_array(windows, length)
        h = sha256_json({"store": self.store.content_hash, "split": split, "length": length, **extra,
                         "windows": sha256_bytes(np.ascontiguousarray(windows, np.int64).tobytes())})
        return SplitData(videos=clips, meta=self.store.clip_meta(windows), content_hash=h)

    def load_split(self, split: str) -> SplitData:
        """Fixed-length windows of ``split`` (see the module docstring); a virtual, memory-mapped array."""
        if split not in self._split_cache:
            length = self.window_length(split)
            step = 1 if split in self._train_splits() else length
            windows = self.store.windows(length, step, self.split_segments(split))
            if not len(windows):
                raise UserError(f"{self.name}/{split}: no segment has {length} frames")
            self._split_cache[split] = self._split_data(split, windows, length, {"step": step})
        return self._split_cache[split]

    def clip_windows(self, protocol: Protocol) -> np.ndarray:
        t = protocol.num_frames
        segs = self.split_segments(protocol.split)
        if not protocol.num_videos:
            return self.store.windows(t, t, segs)
        long_enough = [i for i in segs if self.store.segments[i]["length"] >= t]
        if not long_enough:
            raise UserError(f"{self.name}/{protocol.split}: no segment has {t} frames")
        rng = np.random.RandomState(self.clip_seed)
        rows = []
        for _ in range(protocol.num_videos):
            seg = long_enough[rng.randint(len(long_enough))]
            s = self.store.segments[seg]
            rows.append((seg, s["start"] + rng.randint(s["length"] - t + 1)))
        return np.asarray(rows, np.int64)

    def clips(self, protocol: Protocol, max_clips: int | None = None) -> SplitData:
        windows = self.clip_windows(protocol)
        if max_clips is not None:
            windows = windows[:max_clips]
        if not len(windows):
            raise UserError(f"{self.name}/{protocol.split}: no clip of {protocol.num_frames} frames")
        return self._split_data(protocol.split, windows, protocol.num_frames,
                                {"protocol": protocol.to_dict(), "clip_seed": self.clip_seed})

    def list_clips(self, protocol: Protocol) -> list[dict[str, Any]]:
        """The clips of ``protocol`` as rows ``id, source, frames`` (for ``manifests/splits``)."""
        rows = []
        for i, m in enumerate(self.clips(protocol).meta):
            rows.append({"id": i, **{k: v for k, v in m.items() if k not in ("segment",)},
                         "frames": protocol.num_frames})
        return rows

    # ----------------------------------------------------------------------- info ---
    def split_info(self, split: str) -> dict[str, Any]:
        """Source videos, segments, clips (per protocol) and frame shape of one split."""
        segs = self.split_segments(split)
        videos = {self.store.segments[i].get("video", i) for i in segs}
        data = self.load_split(split)
        out: dict[str, Any] = {
            "num_videos": len(videos), "num_segments": len(segs),
            "num_frames_total": int(sum(self.store.segments[i]["length"] for i in segs)),
            "num_clips": len(data), "frames": int(data.videos.shape[1]),
            "frame_shape": list(data.videos.shape[2:]), "sha256": data.content_hash, "protocol_clips": {}}
        for task, tp in self.protocols.items():
            for phase in ("train", "test"):
                p = getattr(tp, phase)
                if p.split == split:
                    out["protocol_clips"][f"{task}/{phase}:{p.name}"] = len(self.clip_windows(p))
        return out

    def identity(self) -> dict[str, Any]:
        ident = {"name": self.name, "version": self.store_version, **self.options(),
                 "preprocessing": self.preprocessing(),
                 "protocols": {t: {"train": p.train.name, "test": p.test.name} for t, p in self.protocols.items()}}
        if FrameStore.complete(self._maybe_store_path()):
            ident["store"] = self.store.path.name
            ident["store_sha256"] = self.store.content_hash
            ident["excluded"] = [e["item"] for e in self.excluded()]
        return ident

    def _maybe_store_path(self) -> Path:
        if self._store is not None:
            return self._store.path
        try:
            return self.root / self.name / self.store_key()
        except UserError:
            return self.root / self.name / "(not prepared)"

    def options(self) -> dict[str, Any]:
        """Constructor options recorded by ``identity()`` (split scheme, size ...)."""
        return {}

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["options"] = self.options()
        out["raw_dir"] = str(self.raw_dir)
        return out
