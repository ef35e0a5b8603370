"""Untrained baselines every video benchmark should beat.

* ``copy_last``   – prediction: repeat the last context frame (the classic KTH/BAIR floor).
* ``mean_context``– prediction: repeat the mean of the context frames.
* ``static_frame``– synthesis: a real training frame repeated over time, the "static" baseline
  of papers/002 (VGAN): right appearance, no motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.methods import DataSpec, Method, TrainData
from benchmark.registry import METHODS


@dataclass(frozen=True)
class NoConfig:
    """These baselines have no hyperparameters; both profiles are identical."""


def _no_config(spec: DataSpec) -> NoConfig:
    return NoConfig()


@METHODS.register("copy_last")
class CopyLastFrame(Method):
    """Predicts that nothing moves: every future frame equals the last context frame."""

    name = "copy_last"
    tasks = ("prediction",)
    paper = "baseline"
    profiles = {"smoke": _no_config, "paper": _no_config}

    def predict(self, context: torch.Tensor, num_future: int, num_samples: int, *, seed: int) -> torch.Tensor:
        last = context[:, -1:]  # (B, 1, C, H, W)
        return last.unsqueeze(1).expand(-1, 1, num_future, -1, -1, -1).clone()


@METHODS.register("mean_context")
class MeanOfContext(Method):
    """Predicts the per-pixel mean of the context frames for every future frame."""

    name = "mean_context"
    tasks = ("prediction",)
    paper = "baseline"
    profiles = {"smoke": _no_config, "paper": _no_config}

    def predict(self, context: torch.Tensor, num_future: int, num_samples: int, *, seed: int) -> torch.Tensor:
        mean = context.mean(dim=1, keepdim=True)
        return mean.unsqueeze(1).expand(-1, 1, num_future, -1, -1, -1).clone()


@dataclass(frozen=True)
class StaticFrameConfig:
    bank_size: int = 512  # training frames kept to sample from


@METHODS.register("static_frame")
class StaticRealFrame(Method):
    """Synthesis floor: a random real training frame, repeated over time (papers/002's static baseline)."""

    name = "static_frame"
    tasks = ("synthesis",)
    paper = "baseline (Vondrick et al. 2016, static-frame comparison)"
    profiles = {"smoke": lambda spec: StaticFrameConfig(), "paper": lambda spec: StaticFrameConfig()}

    def __init__(self, config: StaticFrameConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.bank = torch.empty(0, dtype=torch.uint8)

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True) -> dict[str, Any]:
        g = torch.Generator().manual_seed(seed)
        n, t = data.videos.shape[:2]
        size = min(self.config.bank_size, n)
        vid = torch.randperm(n, generator=g)[:size]
        frame = torch.randint(0, t, (size,), generator=g)
        self.bank = torch.stack([torch.from_numpy(data.videos[int(v), int(f)].copy())
                                 for v, f in zip(vid, frame)])  # (S, C, H, W) uint8
        return {"bank_size": size}

    def state_dict(self) -> dict[str, Any]:
        return {"bank": self.bank}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.bank = state["bank"]

    def generate(self, num_videos: int, num_frames: int, *, seed: int) -> torch.Tensor:
        if len(self.bank) == 0:
            raise RuntimeError("static_frame has no frames: call fit() or load a checkpoint first")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(0, len(self.bank), (num_videos,), generator=g)
        frames = self.bank[idx].float().div(255.0)  # (N, C, H, W)
        return frames.unsqueeze(1).expand(-1, num_frames, -1, -1, -1).clone()
