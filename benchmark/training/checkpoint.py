"""Checkpoints of the shared training loop: what they hold, how they are written and read.

A checkpoint is a plain dict of tensors and Python primitives (never pickled modules), so it
loads with ``torch.load(weights_only=True)``::

    {"format": 1, "method": str, "step": int (completed optimiser steps), "elapsed_s": float,
     "modules": {name: state_dict}, "optimizers": {phase: state_dict},
     "schedulers": {name: state_dict}, "rng": [per-rank RNG states], "seed": int,
     "world_size": int, "train_config": asdict(TrainConfig), "method_config": dict,
     "git": {"commit": str, "dirty": bool} | None, "torch": str}

Files are written through :func:`benchmark.utils.atomic_path`, so a kill during a save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.utils import UserError, atomic_path, repo_root

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(UserError):
    """A checkpoint is missing, corrupt, or does not belong to this run."""


def git_revision(root: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout, or None outside git / before a commit."""
    cwd = Path(root) if root is not None else repo_root()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


# ------------------------------------------------------------------------------- RNG states ---

def capture_rng_state() -> dict[str, Any]:
    """The global Python, NumPy, torch CPU and CUDA generator states, as checkpoint-safe values."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`. CUDA states are restored only if the device count matches."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


# ------------------------------------------------------------------------------ read / write ---

def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically with ``torch.save``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by the loop (``weights_only=True``: no code is unpickled).

    Raises:
        CheckpointError: the file is missing, unreadable, or not a vidbench training checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint here")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for truncated/corrupt zips
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e}); "
                              f"delete it to start the run from scratch") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a vidbench training checkpoint (format "
                              f"{state.get('format') if isinstance(state, dict) else type(state).__name__}, "
                              f"expected {CHECKPOINT_FORMAT})")
    return state
