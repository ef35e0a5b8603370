"""Untrained baselines every video benchmark should beat.

* ``copy_last``   – prediction: repeat the last context frame (the classic KTH/BAIR floor).
* ``mean_context``– prediction: repeat the mean of the context frames.
* ``static_frame``– synthesis: a real training frame repeated over time, the "static" baseline
  of Vondrick et al. 2016 (VGAN): right appearance, no motion.
* ``uniform_grey``– synthesis: a uniform 0.5 grey video, the floor of a Fréchet distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS


@dataclass(frozen=True)
class NoConfig:
    """These baselines have no hyperparameters; all profiles are identical."""


def _no_config(spec: DataSpec) -> NoConfig:
    return NoConfig()


@METHODS.register("copy_last")
class CopyLastFrame(Method):
    """Predicts that nothing moves: every future frame equals the last context frame."""

    tasks = ("prediction",)
    paper = "baseline"
    profiles = {"smoke": _no_config, "cpu": _no_config, "paper": _no_config}

    def predict(self, cond: Conditioning, *, seed: int) -> torch.Tensor:
        last = cond.context[:, -1:]  # (B, 1, C, H, W)
        return last.unsqueeze(1).expand(-1, 1, cond.num_frames, -1, -1, -1).clone()


@METHODS.register("mean_context")
class MeanOfContext(Method):
    """Predicts the per-pixel mean of the context frames for every future frame."""

    tasks = ("prediction",)
    paper = "baseline"
    profiles = {"smoke": _no_config, "cpu": _no_config, "paper": _no_config}

    def predict(self, cond: Conditioning, *, seed: int) -> torch.Tensor:
        mean = cond.context.mean(dim=1, keepdim=True)
        return mean.unsqueeze(1).expand(-1, 1, cond.num_frames, -1, -1, -1).clone()


@dataclass(frozen=True)
class StaticFrameConfig:
    bank_size: int = 512  # training frames kept to sample from


@METHODS.register("static_frame")
class StaticRealFrame(Method):
    """Synthesis floor: a random real training frame, repeated over time (Vondrick et al. 2016's static
    baseline). A reference row, never ranked: its frames are real, so per-frame appearance scores it
    near the data while it has no motion at all (on moving-shapes' evaluator its Fréchet distance,
    405.9, is below every cpu-profile generator's)."""

    tasks = ("synthesis",)
    paper = "baseline (Vondrick et al. 2016, static-frame comparison)"
    reference_row = "real frame held still"
    profiles = {"smoke": lambda spec: StaticFrameConfig(), "cpu": lambda spec: StaticFrameConfig(),
                "paper": lambda spec: StaticFrameConfig()}

    def __init__(self, config: StaticFrameConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.bank = torch.empty(0, dtype=torch.uint8)

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
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

    def generate(self, cond: Conditioning, *, seed: int) -> torch.Tensor:
        if len(self.bank) == 0:
            raise RuntimeError("static_frame has no frames: call fit() or load a checkpoint first")
        idx = torch.randint(0, len(self.bank), (cond.batch_size,), generator=self.rng(seed))
        frames = self.bank[idx].float().div(255.0)  # (N, C, H, W)
        return frames.unsqueeze(1).expand(-1, cond.num_frames, -1, -1, -1).clone()


@METHODS.register("uniform_grey")
class UniformGrey(Method):
    """Synthesis floor: every pixel of every frame 0.5 grey. A trained generator that does not beat
    it on a Fréchet distance has learnt nothing about the data; its FCS is 1 (a frozen video), which is
    why FCS alone must never rank a method."""

    tasks = ("synthesis",)
    paper = "baseline (uniform grey video)"
    profiles = {"smoke": _no_config, "cpu": _no_config, "paper": _no_config}
    reference_row = "grey floor"

    def generate(self, cond: Conditioning, *, seed: int) -> torch.Tensor:
        c, h, w = self.spec.channels, *self.spec.resolution
        return torch.full((cond.batch_size, cond.num_frames, c, h, w), 0.5)


def most_frequent_colour(frames: torch.Tensor) -> torch.Tensor:
    """The most frequent colour of each frame ``(B, C, H, W)`` in [0, 1] -> ``(B, C)`` (exact on
    8-bit values; ties -> the smallest colour).

    >>> f = torch.zeros(1, 3, 4, 4); f[0, :, 0, 0] = 1.0
    >>> most_frequent_colour(f).tolist()
    [[0.0, 0.0, 0.0]]
    """
    codes = frames.mul(255).round().to(torch.int64)  # (B, C, H, W) 8-bit values
    out = []
    for frame in codes:
        colours, counts = torch.unique(frame.flatten(1).T, dim=0, return_counts=True)  # (K, C), (K,)
        out.append(colours[counts.argmax()])
    return torch.stack(out).to(frames.dtype) / 255


@METHODS.register("background_fill")
class BackgroundFill(Method):
    """Erases every object: each future frame is filled with the most frequent colour of the last
    context frame (on moving-shapes, exactly the background). A **reference row**, shown for scale and
    never ranked: on small objects over flat backgrounds the paired pixel metrics (SSIM, PSNR) score
    this blank prediction above copy_last and above every learned method of the main job (best-of-k
    SSIM 0.839 vs copy_last 0.762 on moving-shapes 5 -> 15), so a method's SSIM win there can come
    from fading its objects; the evaluator's ``factors_shapes`` and ``fvd_shapes`` say whether the
    objects and their motion were kept."""

    tasks = ("prediction",)
    paper = "baseline (the last context frame's most frequent colour; a reference row, never ranked)"
    profiles = {"smoke": _no_config, "cpu": _no_config, "paper": _no_config}
    reference_row = "trivial fill"

    def predict(self, cond: Conditioning, *, seed: int) -> torch.Tensor:
        colour = most_frequent_colour(cond.context[:, -1])  # (B, C)
        b, (h, w) = colour.shape[0], cond.context.shape[-2:]
        return colour[:, None, None, :, None, None].expand(b, 1, cond.num_frames, -1, h, w).clone()
