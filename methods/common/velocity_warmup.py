"""A short training stage of the :class:`~methods.common.warp.VelocityNet` alone, before the model it serves
(cpu profiles; no paper has it).

Inside a joint cpu-profile schedule of ~120-200 steps the velocity net learns little: its only direct signal
(``velocity_loss``) competes with the whole model's, and the copy mask it feeds copies the still last frame
long before the field moves. Trained alone on the same clips with that direct loss (the moved last context
frame against the true future frames, plus the divergence penalty that keeps it from shrinking what it moves),
the net learns a usable constant-velocity field in a few hundred cheap steps (~4 CPU-s at 32x32): the moved copy
alone then scores best-of-1 SSIM ~0.82 and motion agreement ~0.39 on moving-shapes 5 -> 15, where the still
copy scores 0.76 and 0.16. The model's training then starts from a copy source that already moves.

For a two-ended model (P2P: start and end frame given) the net reads the first and last frame of a clip and its
field is the whole displacement between them; frame ``i`` of ``T`` is the first frame moved ``i / (T - 1)`` of the
way (:func:`two_ended_warmup_loss`).

It runs through :func:`benchmark.training.loop.train` like any stage (checkpointed, resumable, DDP), in its own
folder ``<run_dir>/velocity_warmup``, and is seeded apart from the main stage (``seed`` is mixed with a salt),
so the main stage's clip order and noise are those it had without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.methods import TrainData
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainConfig, TrainParts
from methods.common.warp import VelocityNet, carry_forward, divergence_penalty

#: the warm-up stage's folder under the method's run directory
WARMUP_DIR = "velocity_warmup"
#: mixed into the seed, so the warm-up's clips and RNG are not the main stage's
SEED_SALT = 7919
#: global clips per warm-up step (the net is small; 16 clips of 32x32 cost ~15 ms a step on one core)
BATCH_SIZE = 16


def velocity_warmup_loss(net: VelocityNet, clips: Tensor, context: int, pool: int, divergence_weight: float
                         ) -> tuple[Tensor, dict[str, Tensor]]:
    """The direct loss of ``net`` on ``clips (B, T, C, H, W)`` in [0, 1] (model resolution): the summed-over-time
    MSE between the last of the first ``context`` frames carried along the field and the ``T - context`` true
    frames after them, plus ``divergence_weight`` x the field's mean squared divergence (SVG's ``velocity_loss``
    and ``velocity_divergence`` terms at their scale; SAVP's and SV2P's average the MSE over time instead)."""
    future = clips.shape[1] - context
    if future < 1:
        raise ValueError(f"velocity warm-up: clips of {clips.shape[1]} frames leave no future after {context} "
                         "context frames")
    field = net.smoothed_field(clips[:, :context], pool)
    moved = carry_forward(clips[:, context - 1], field, future)
    warp = F.mse_loss(moved, clips[:, context:]) * future
    div = divergence_penalty(field)
    return warp + divergence_weight * div, {"warp_rec": warp.detach(), "divergence": div.detach()}


def two_ended_warmup_loss(net: VelocityNet, clips: Tensor, pool: int, divergence_weight: float
                          ) -> tuple[Tensor, dict[str, Tensor]]:
    """The direct loss of a two-ended ``net`` on ``clips (B, T, C, H, W)`` in [0, 1]: the net reads (first, last)
    frame and gives the displacement field between them; the summed-over-time MSE between the first frame moved
    ``i / (T - 1)`` of that field (a constant velocity of ``field / (T - 1)`` a frame) and frames ``i = 1 .. T - 1``,
    plus ``divergence_weight`` x the field's mean squared divergence. (P2P's ``motion`` and ``divergence`` terms with
    the control point at the clip's last frame.)"""
    t = clips.shape[1]
    if t < 3:
        raise ValueError(f"velocity warm-up (two-ended): clips of {t} frames have no frame between start and end")
    field = net.smoothed_field(clips[:, [0, t - 1]], pool)
    moved = carry_forward(clips[:, 0], field / (t - 1), t - 1)
    warp = F.mse_loss(moved, clips[:, 1:]) * (t - 1)
    div = divergence_penalty(field)
    return warp + divergence_weight * div, {"warp_rec": warp.detach(), "divergence": div.detach()}


def warm_up_velocity(net: VelocityNet, data: TrainData, run_dir: str | Path, *, method: str, seed: int, steps: int,
                     lr: float, context: int, clip_frames: int, pool: int,
                     divergence_weight: float, frames_in: Callable[[Tensor], Tensor], resume: bool = False,
                     progress: bool = True, batch_size: int = BATCH_SIZE, two_ended: bool = False) -> dict[str, Any]:
    """Train ``net`` alone for ``steps`` Adam steps at ``lr`` on ``batch_size`` clips of ``clip_frames`` frames
    (``frames_in`` maps a batch ``(B, T, C, H, W)`` in [0, 1] to the model's resolution) with
    :func:`velocity_warmup_loss` (``two_ended``: :func:`two_ended_warmup_loss`, ``context`` unused); the loop's
    summary (``<run_dir>/velocity_warmup``)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)

    def step(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        clips = frames_in(batch.videos)
        if two_ended:
            return two_ended_warmup_loss(net, clips, pool, divergence_weight)
        return velocity_warmup_loss(net, clips, context, pool, divergence_weight)

    # The lr ramps up linearly over the first fifth of the steps: at full lr from the first step, Adam's
    # equal-size steps on every weight of the last conv could drive the tanh into saturation within a few
    # steps (a constant field at max_velocity, no gradient back); it happened to DRNet's cpu profile
    # (seed 0, lr 2e-3), whose field then never moved.
    ramp = max(1, steps // 5)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / ramp))
    parts = TrainParts(method=f"{method}/{WARMUP_DIR}", modules={"velocity": net},
                       phases=[Phase("velocity", optimizer, step)], schedulers={"lr": schedule},
                       config={"steps": steps, "batch_size": batch_size, "lr": lr, "pool": pool,
                               "divergence_weight": divergence_weight, "clip_frames": clip_frames,
                               **({"objective": "two_ended"} if two_ended else {"context": context})})
    cfg = TrainConfig(steps=steps, batch_size=batch_size, checkpoint_every=max(steps, 1),
                      log_every=max(1, steps // 10))
    return loop.train(parts, data, cfg, Path(run_dir) / WARMUP_DIR, seed=seed * SEED_SALT + 1,
                      clip_frames=clip_frames, resume=resume, progress=progress)
