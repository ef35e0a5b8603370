"""Dataset and protocol contracts.

A dataset declares its splits and its *protocols*: for each task it supports, one protocol used
for training and one used for evaluation (e.g. KTH prediction 10 -> 10 for training, 10 -> 30 at
test). Splits are served as uint8 arrays ``(N, T, C, H, W)`` plus per-video metadata.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["synthesis", "prediction"]
TASKS: tuple[str, ...] = ("synthesis", "prediction")
#: The optional inputs of a ``generate``/``predict`` call (:class:`benchmark.methods.Conditioning`).
CONDITIONING_FIELDS: tuple[str, ...] = ("context", "first_frame", "end_frame", "labels", "actions",
                                        "target_times")


@dataclass(frozen=True)
class Protocol:
    """How one task is trained or evaluated on one dataset.

    Attributes:
        name: e.g. ``"prediction-5to15"``.
        task: ``"synthesis"`` or ``"prediction"``.
        split: the split the clips come from.
        context_frames: frames given to a predictor (0 for synthesis).
        future_frames: frames to produce (for synthesis: the whole clip length).
        resolution: ``(H, W)``.
        channels: 1 (gray) or 3 (RGB).
        num_videos: evaluation clips (None = all clips of the split).
        samples_per_context: ``k`` samples per context for stochastic prediction (best-of-k).
        stride: temporal stride when cutting clips from longer videos.
        conditioning: the optional :class:`~benchmark.methods.Conditioning` fields this protocol
            provides to ``generate``/``predict`` besides the context frames of prediction, e.g.
            ``("end_frame",)`` (two-ended prediction), ``("actions",)`` (action-conditioned),
            ``("labels",)`` (class-conditional synthesis). The harness passes exactly these.
    """

    name: str
    task: str
    split: str
    context_frames: int
    future_frames: int
    resolution: tuple[int, int]
    channels: int
    num_videos: int | None = None
    samples_per_context: int = 1
    stride: int = 1
    conditioning: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [f for f in self.conditioning if f not in CONDITIONING_FIELDS or f == "context"]
        if unknown:
            raise ValueError(f"protocol {self.name}: unknown conditioning {unknown}; optional fields are "
                             f"{[f for f in CONDITIONING_FIELDS if f != 'context']} (context comes with prediction)")

    @property
    def num_frames(self) -> int:
        """Frames per clip: context + future."""
        return self.context_frames + self.future_frames

    def describe(self) -> str:
        h, w = self.resolution
        core = (f"{self.context_frames}->{self.future_frames} frames" if self.task == "prediction"
                else f"{self.future_frames} frames")
        k = f", k={self.samples_per_context}" if self.task == "prediction" else ""
        n = f", n={self.num_videos}" if self.num_videos else ""
        cond = f", given {'+'.join(self.conditioning)}" if self.conditioning else ""
        return f"{self.task} {core}, {h}x{w}x{self.channels}, split={self.split}{n}{k}{cond}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resolution"] = list(self.resolution)
        d["num_frames"] = self.num_frames
        d["conditioning"] = list(self.conditioning)
        return d

    def replace(self, **changes: Any) -> "Protocol":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TaskProtocols:
    """The protocols of one task on one dataset: one to train with, one to test with."""

    train: Protocol
    test: Protocol


class UnknownLabelError(ValueError):
    """A label name the dataset does not declare."""


@dataclass(frozen=True)
class LabelSpec:
    """A per-clip class label of a dataset (e.g. ``action``, ``identity``).

    The value sits in each clip's ``meta[key]``; its class index is its position in ``classes``
    (fixed per dataset, so indices agree across splits and runs).
    """

    key: str
    classes: tuple[Any, ...]

    def encode(self, meta: list[dict[str, Any]], source: str) -> np.ndarray:
        """``(N,)`` int64 class indices of the clips described by ``meta``."""
        index = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(meta), np.int64)
        for n, m in enumerate(meta):
            if self.key not in m:
                raise ValueError(f"{source}: clip {n} has no {self.key!r} in its metadata")
            value = m[self.key]
            if value not in index:
                shown = ", ".join(map(str, self.classes[:12])) + (" ..." if len(self.classes) > 12 else "")
                raise ValueError(f"{source}: clip {n} has {self.key}={value!r}, not one of the "
                                 f"{len(self.classes)} classes ({shown})")
            out[n] = index[value]
        return out


@dataclass
class SplitData:
    """The clips of one split: ``videos`` uint8 ``(N, T, C, H, W)``, per-video ``meta`` dicts."""

    videos: np.ndarray
    meta: list[dict[str, Any]] = field(default_factory=list)
    content_hash: str = ""

    def __len__(self) -> int:
        return len(self.videos)


class VideoDataset:
    """Base class for datasets. Subclasses set ``name``, ``protocols`` and implement ``load_split``."""

    name: str = ""
    description: str = ""
    splits: tuple[str, ...] = ("train", "val", "test")
    protocols: dict[str, TaskProtocols] = {}

    def load_split(self, split: str) -> SplitData:  # pragma: no cover - abstract
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What identifies this dataset's content for manifests (name, version, parameters)."""
        return {"name": self.name}

    def tasks(self) -> list[str]:
        return [t for t in TASKS if t in self.protocols]

    def label_specs(self) -> dict[str, LabelSpec]:
        """The per-clip class labels this dataset provides, by name (conventional names:
        ``action``, ``identity``); labelled methods (MoCoGAN's action code, NAVSLP's
        identity/action latents) name the one they use in their config. Default: none."""
        return {}

    def clip_labels(self, data: SplitData, names: tuple[str, ...] | list[str] | None = None
                    ) -> dict[str, np.ndarray]:
        """Label name -> ``(N,)`` int64 class indices of the clips of ``data`` (all labels, or ``names``).

        Raises :class:`UnknownLabelError` naming the labels the dataset has when one of ``names`` is not
        among them, ``ValueError`` when a clip's metadata lacks the label or has an unknown class.
        """
        specs = self.label_specs()
        names = list(specs) if names is None else list(names)
        missing = [n for n in names if n not in specs]
        if missing:
            have = ", ".join(sorted(specs)) or "none"
            raise UnknownLabelError(f"dataset {self.name!r} has no label {', '.join(map(repr, missing))}; its labels: {have}")
        return {n: specs[n].encode(data.meta, f"{self.name} label {n!r}") for n in names}

    def action_dim(self) -> int:
        """A of the per-step action vectors :meth:`clip_actions` returns; 0: the dataset records none."""
        return 0

    def clip_actions(self, data: SplitData, protocol: Protocol) -> np.ndarray:
        """Per-step action vectors ``(N, T, A)`` float32 of the clips ``data`` cut for ``protocol``
        (the ``actions`` conditioning of action-conditioned protocols). Datasets that record actions
        (BAIR) override this; the default says there are none."""
        raise UnknownLabelError(f"dataset {self.name!r} records no per-step actions; protocol {protocol.name} "
                                f"cannot provide 'actions' conditioning")

    def protocol(self, task: str, phase: str = "test") -> Protocol:
        if task not in self.protocols:
            raise ValueError(f"dataset {self.name!r} has no {task} protocol; it supports {self.tasks()}")
        return getattr(self.protocols[task], phase)

    def train_frames(self, split: str = "train") -> int:
        """Frames of every video ``load_split(split)`` serves (what a method can cut training clips
        from). Default: the longest training protocol on that split (the window length of real
        datasets); a dataset of longer videos overrides it. Needs no data."""
        lens = [tp.train.num_frames for tp in self.protocols.values() if tp.train.split == split]
        return max(lens) if lens else max(tp.train.num_frames for tp in self.protocols.values())

    def reference(self, task: str, max_clips: int | None = None) -> tuple[Protocol, SplitData]:
        """The test protocol of ``task`` and its clips (the first ``max_clips`` only, for quick checks):
        what samples are scored against."""
        protocol = self.protocol(task, "test")
        return protocol, self.clips(protocol, max_clips)

    def clips(self, protocol: Protocol, max_clips: int | None = None) -> SplitData:
        """Clips for ``protocol``: the first ``num_frames`` frames of each video of its split.

        Subclasses with long videos override this to cut several clips per video.
        """
        data = self.load_split(protocol.split)
        t = protocol.num_frames
        if data.videos.shape[1] < t:
            raise ValueError(f"{self.name}/{protocol.split}: videos have {data.videos.shape[1]} frames, "
                             f"protocol {protocol.name} needs {t}")
        n = protocol.num_videos or len(data)
        if max_clips is not None:
            n = min(n, max_clips)
        if n > len(data):
            raise ValueError(f"{self.name}/{protocol.split}: protocol {protocol.name} asks for {n} clips, "
                             f"the split has {len(data)}")
        videos = data.videos[:n, :t]
        key = (data.content_hash, n, t)  # the clips are a function of the split's content and the cut
        if not data.content_hash or key not in _CLIP_HASHES:
            from benchmark.utils import sha256_array

            digest = sha256_array(videos)
            if not data.content_hash:
                return SplitData(videos=videos, meta=data.meta[:n], content_hash=digest)
            _CLIP_HASHES[key] = digest
        return SplitData(videos=videos, meta=data.meta[:n], content_hash=_CLIP_HASHES[key])

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "splits": list(self.splits),
            "protocols": {t: {"train": p.train.to_dict(), "test": p.test.to_dict()}
                          for t, p in self.protocols.items()},
        }


#: (split content hash, clips, frames) -> content hash of those clips: each run of a `benchmark run`
#: asks for the same reference clips (sample and evaluate stages), hashed once per process
_CLIP_HASHES: dict[tuple[str, int, int], str] = {}


def check_split_array(videos: np.ndarray, source: str) -> np.ndarray:
    if videos.dtype != np.uint8 or videos.ndim != 5:
        raise ValueError(f"{source}: expected uint8 (N, T, C, H, W), got {videos.dtype} {videos.shape}")
    return videos
