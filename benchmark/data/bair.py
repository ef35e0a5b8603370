"""``bair``: BAIR robot pushing (Ebert et al., CoRL 2017), read from the official tar of TFRecords.

``bair_robot_pushing_dataset_v0.tar`` holds ``softmotion30_44k/{train,test}/traj_<a>_to_<b>.tfrecords``;
each ``tf.train.Example`` is one trajectory of 30 steps with ``<t>/image_aux1/encoded`` (raw
uint8 64x64x3 bytes, not JPEG), ``<t>/endeffector_pos`` (3 floats) and ``<t>/action`` (4 floats).
The tar is streamed (never extracted) and TFRecords are parsed without TensorFlow
(:mod:`benchmark.data.tfrecord`). Each trajectory is one store segment; actions and end-effector
positions are side arrays ``actions`` ``(N, 30, 4)`` and ``endeffector_pos`` ``(N, 30, 3)`` in
segment order (``FrameStore.array``).

Protocols (``protocol=``): ``svg`` (SVG, SAVP) prediction 2 -> 10 for training and 2 -> 28 at
test; ``svg_actions`` the same clips with the per-step actions as conditioning (SAVP's
action-conditioned BAIR); ``fvd`` prediction 1 -> 15 (the FVD leaderboards); ``videoflow``
prediction 3 -> 10 (VideoFlow's bits-per-pixel setting); all 64x64 RGB.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol, SplitData, TaskProtocols
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.tfrecord import TFRecordError, parse_example, read_records
from benchmark.data.two_ended import two_ended as two_ended_protocols
from benchmark.registry import DATASETS
from benchmark.utils import UserError

TAR = "bair_robot_pushing_dataset_v0.tar"
MEMBER_RE = re.compile(r"softmotion30_44k/(train|test)/(traj_(\d+)_to_(\d+)\.tfrecords)$")
STEPS = 30
ACTION_DIM = 4  # per-step action vector of softmotion30_44k


def _order(name: str) -> tuple[str, int]:
    m = MEMBER_RE.search(name)
    return (m.group(1), int(m.group(3))) if m else ("", 0)


@DATASETS.register("bair")
class BAIR(RealVideoDataset):
    """BAIR robot pushing, 64x64 RGB, 30-step trajectories."""

    name = "bair"
    manifest_name = "bair"
    description = "BAIR robot pushing (softmotion30_44k): 64x64 RGB, 30 frames, actions and end-effector positions."
    splits = ("train", "test")

    def __init__(self, root: Any = None, protocol: str = "svg", camera: str = "image_aux1",
                 max_trajectories: int | None = None, on_corrupt: str = "error", workers: int = 0,
                 strict_inputs: bool = True, two_ended: bool = False) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        if protocol not in ("svg", "svg_actions", "fvd", "videoflow"):
            raise UserError(f"bair: protocol must be 'svg', 'svg_actions', 'fvd' or 'videoflow', got {protocol!r}")
        self.protocol_name, self.camera, self.max_trajectories = protocol, camera, max_trajectories
        s = (64, 64)
        if protocol == "svg_actions":  # SAVP's action-conditioned BAIR: the svg clips plus the actions
            acts = ("actions",)
            pred = TaskProtocols(
                train=Protocol("prediction-2to10-actions", "prediction", "train", 2, 10, s, 3, conditioning=acts),
                test=Protocol("prediction-2to28-actions", "prediction", "test", 2, 28, s, 3,
                              samples_per_context=100, conditioning=acts))
        elif protocol == "svg":
            pred = TaskProtocols(train=Protocol("prediction-2to10", "prediction", "train", 2, 10, s, 3),
                                 test=Protocol("prediction-2to28", "prediction", "test", 2, 28, s, 3,
                                               samples_per_context=100))
        elif protocol == "fvd":
            pred = TaskProtocols(train=Protocol("prediction-1to15", "prediction", "train", 1, 15, s, 3),
                                 test=Protocol("prediction-1to15", "prediction", "test", 1, 15, s, 3))
        else:  # VideoFlow's bits-per-pixel setting (next_frame_glow_bair_quant): 3 input, 10 target frames
            pred = TaskProtocols(train=Protocol("prediction-3to10", "prediction", "train", 3, 10, s, 3),
                                 test=Protocol("prediction-3to10", "prediction", "test", 3, 10, s, 3))
        self.two_ended = bool(two_ended)
        if self.two_ended:  # P2P's protocol: start + end frame given, clips of 30 steps (P2P: max_seq_len 30)
            pred = two_ended_protocols(TaskProtocols(train=pred.train.replace(future_frames=30 - pred.train.context_frames),
                                           test=pred.test))
        self.protocols = {"prediction": pred}

    def options(self) -> dict[str, Any]:
        return {"protocol": self.protocol_name, "camera": self.camera, "max_trajectories": self.max_trajectories,
                **({"two_ended": True} if self.two_ended else {})}

    def preprocessing(self) -> dict[str, Any]:
        return {"camera": self.camera, "size": 64, "max_trajectories": self.max_trajectories}

    def frame_shape(self) -> tuple[int, int, int]:
        return (3, 64, 64)

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        actions, eef = [], []
        with tarfile.open(paths[TAR], "r:") as tar:
            members = sorted((m for m in tar.getmembers() if MEMBER_RE.search(m.name)), key=lambda m: _order(m.name))
            if not members:
                raise CorruptInputError(f"{paths[TAR]}: no softmotion30_44k/{{train,test}}/*.tfrecords inside")
            counts: dict[str, int] = {}
            for m in members:
                split, fname = MEMBER_RE.search(m.name).group(1, 2)
                f = tar.extractfile(m)
                try:
                    for k, rec in enumerate(read_records(f, f"{TAR}:{m.name}")):
                        if self.max_trajectories and counts.get(split, 0) >= self.max_trajectories:
                            break
                        frames, a, e = self._decode(rec, f"{m.name}[{k}]")
                        writer.add_segment(frames, split=split, video=f"{split}/{fname}/{k}", file=fname, record=k)
                        actions.append(a)
                        eef.append(e)
                        counts[split] = counts.get(split, 0) + 1
                except (TFRecordError, CorruptInputError) as err:
                    if self.on_corrupt != "skip":
                        raise CorruptInputError(f"bair: {err} (no store written; --skip-corrupt leaves the rest "
                                                f"of this file out and records it)") from err
                    writer.exclude(m.name, str(err))
        writer.add_array("actions", np.stack(actions).astype(np.float32))
        writer.add_array("endeffector_pos", np.stack(eef).astype(np.float32))

    def _decode(self, rec: bytes, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ex = parse_example(rec)
        frames = np.empty((STEPS, 3, 64, 64), np.uint8)
        act, pos = np.zeros((STEPS, ACTION_DIM), np.float32), np.zeros((STEPS, 3), np.float32)
        for t in range(STEPS):
            img = ex.get(f"{t}/{self.camera}/encoded")
            if not img or len(img[0]) != 64 * 64 * 3:
                raise CorruptInputError(f"{name}: step {t}: missing or malformed {self.camera}/encoded")
            frames[t] = np.frombuffer(img[0], np.uint8).reshape(64, 64, 3).transpose(2, 0, 1)
            a, e = ex.get(f"{t}/action"), ex.get(f"{t}/endeffector_pos")
            if a is not None and len(a) == 4:
                act[t] = a
            if e is not None and len(e) == 3:
                pos[t] = e
        return frames, act, pos

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        return segment["split"]

    def action_dim(self) -> int:
        return ACTION_DIM

    def clip_actions(self, data: SplitData, protocol: Protocol) -> np.ndarray:
        """``(N, T, 4)`` float32: the actions of the frames of each clip (meta ``segment``, ``offset``)."""
        actions = self.store.array("actions")
        t = data.videos.shape[1]
        out = np.empty((len(data), t, ACTION_DIM), np.float32)
        for i, m in enumerate(data.meta):
            seg, off = int(m["segment"]), int(m["offset"])
            out[i] = actions[seg, off:off + t]
        return out

    def conditioning(self, split: str) -> dict[str, np.ndarray]:
        """Actions and end-effector positions of the segments of ``split`` (action-conditioned models)."""
        idx = self.split_segments(split)
        return {"actions": np.asarray(self.store.array("actions")[idx]),
                "endeffector_pos": np.asarray(self.store.array("endeffector_pos")[idx])}
