"""Small synthetic run folders for trying the crowd tools (and for their tests and load script).

:func:`build_demo_runs` writes ``<runs>/<dataset>/<method>/smoke/seed0/`` with ``samples/<task>.npz``
and a minimal ``results.json`` (schema of :mod:`benchmark.results`), plus a real run
(``real/data/seed0``) holding the real clips. Prediction samples share each clip's context frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.results import SCHEMA
from benchmark.utils import write_json_atomic

DATASET = "moving-shapes"


def _clip(rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """A square moving across a flat background: uint8 (T, H, W, 3)."""
    bg = rng.integers(0, 256, 3)
    video = np.broadcast_to(bg, (frames, size, size, 3)).astype(np.uint8).copy()
    x, y = rng.integers(0, size // 2, 2)
    vx, vy = rng.integers(1, 3, 2)
    colour = rng.integers(0, 256, 3)
    for t in range(frames):
        px, py = (x + vx * t) % (size - 4), (y + vy * t) % (size - 4)
        video[t, py:py + 4, px:px + 4] = colour
    return video


def build_demo_runs(runs: Path, methods: tuple[str, ...] = ("method_alpha", "method_beta"),
                    task: str = "prediction", clips: int = 6, frames: int = 8, context: int = 3,
                    k: int = 2, size: int = 16, seed: int = 0, dataset: str = DATASET) -> Path:
    """Write demo runs; each method's predictions are the real future plus method-specific noise."""
    from benchmark.video import save_npz

    rng = np.random.default_rng(seed)
    real = np.stack([_clip(rng, frames, size) for _ in range(clips)])  # (N, T, H, W, 3)
    ctx = context if task == "prediction" else 0
    for i, m in enumerate(methods):
        vids = np.repeat(real, k if task == "prediction" else 1, axis=0).astype(np.int16)
        noise = rng.integers(-12 * (i + 1), 12 * (i + 1) + 1, size=vids[:, ctx:].shape)
        vids[:, ctx:] += noise
        vids = np.clip(vids, 0, 255).astype(np.uint8)
        folder = Path(runs) / dataset / m / "smoke" / "seed0"
        extra = {"num_samples": np.array(k if task == "prediction" else 1), "context_frames": np.array(ctx)}
        save_npz(folder / "samples" / f"{task}.npz", np.moveaxis(vids, -1, 2), **extra)
        _results(folder, m, dataset, task)
    folder = Path(runs) / dataset / "real" / "data" / "seed0"
    save_npz(folder / "samples" / f"{task}.npz", np.moveaxis(real, -1, 2))
    _results(folder, "real", dataset, task)
    return Path(runs)


def _results(folder: Path, method: str, dataset: str, task: str) -> None:
    write_json_atomic(folder / "results.json", {
        "schema": SCHEMA, "method": method, "dataset": dataset, "profile": "smoke" if method != "real" else "data",
        "seeds": [0], "comparable": True, "train_log": None, "manifest": "manifest.json",
        "tasks": {task: {"protocol": {"name": f"{task}-demo", "task": task}, "metric_protocols": {},
                         "metrics": {}, "samples": f"samples/{task}.npz", "gallery": None}}})
