"""The shared training loop: seeding, clip sampling, optimiser phases, checkpoints, exact resume,
DDP (torchrun; NCCL on GPUs, gloo on CPU), JSON-lines logs and progress.

Methods build :class:`TrainParts` (modules + optimiser phases) and call :func:`train`; see
``benchmark/training/loop.py`` for the full story.
"""

from benchmark.training.checkpoint import CheckpointError, git_revision, load_checkpoint, save_checkpoint
from benchmark.training.loop import (Batch, ClipSampler, NonFiniteLossError, Phase, TrainConfig, TrainParts,
                                     seed_everything, train)

__all__ = ["Batch", "CheckpointError", "ClipSampler", "NonFiniteLossError", "Phase", "TrainConfig",
           "TrainParts", "git_revision", "load_checkpoint", "save_checkpoint", "seed_everything", "train"]
