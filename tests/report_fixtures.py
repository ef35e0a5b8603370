"""Fake-but-valid run folders for the report tests.

:func:`build_run_root` writes ``<root>/<dataset>/<method>/<profile>/seed<seed>/`` folders, each with
a ``results.json`` in the :mod:`benchmark.results` schema, a manifest, GIF galleries written with
:func:`benchmark.video.write_video`, per-timestep curves and (for some) a JSON-lines train log:

* ``alpha``  – both tasks, comparable, train log with ``phase`` records (and a broken line);
* ``beta``   – both tasks, ``comparable: false`` (the best raw numbers, which must never be ranked);
* ``gamma``  – prediction only, no train log, one metric without a CI;
* ``real``   – the real-data bound for both tasks.

The numbers are made up; only their shape follows the contract.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol
from benchmark.metrics.base import MetricValue
from benchmark.results import SCHEMA
from benchmark.utils import write_json_atomic
from benchmark.video import video_grid, write_video

DATASET = "moving-shapes"
PROFILE = "cpu"  # a profile that compares (smoke rows are a pipeline check, never ranked)
PRED = Protocol("prediction-5to15", "prediction", "test", 5, 15, (64, 64), 3, num_videos=128,
                samples_per_context=10)
SYNTH = Protocol("synthesis-16", "synthesis", "test", 0, 16, (64, 64), 3, num_videos=256)
METRIC_PROTOCOLS = {
    "prediction": {"psnr": {"data_range": 1.0, "context_counted": False},
                   "ssim": {"window": 11, "gaussian": True, "sigma": 1.5, "data_range": 1.0},
                   "lpips": {"net": "alex", "version": "0.1"},
                   "fvd": {"extractor": "i3d_400", "frames": 16, "resize": 224}},
    "synthesis": {"fvd": {"extractor": "i3d_400", "frames": 16, "resize": 224},
                  "is": {"extractor": "c3d_ucf101", "splits": 1}},
}

# method -> task -> metric -> (value, half-width or None, higher_is_better)
VALUES: dict[str, dict[str, dict[str, tuple[float, float | None, bool]]]] = {
    "alpha": {
        "prediction": {"psnr_best": (27.3123, 0.42, True), "psnr_mean": (24.05, 0.37, True),
                       "ssim_best": (0.8012, 0.0061, True), "ssim_mean": (0.7411, 0.0058, True),
                       "lpips_best": (0.1213, 0.0044, False), "fvd": (310.4, 12.3, False)},
        "synthesis": {"fvd": (420.7, 15.2, False), "is": (3.112, 0.104, True)},
    },
    "beta": {
        "prediction": {"psnr_best": (28.91, 0.51, True), "psnr_mean": (25.6, 0.4, True),
                       "ssim_best": (0.7033, 0.0072, True), "ssim_mean": (0.6512, 0.007, True),
                       "lpips_best": (0.1001, 0.005, False), "fvd": (201.3, 9.8, False)},
        "synthesis": {"fvd": (380.2, 14.1, False), "is": (3.5, 0.11, True)},
    },
    "gamma": {
        "prediction": {"psnr_best": (25.104, 0.39, True), "psnr_mean": (23.02, 0.35, True),
                       "ssim_best": (0.8477, 0.0055, True), "ssim_mean": (0.7901, 0.006, True),
                       "lpips_best": (0.1507, 0.0049, False), "fvd": (350.9, None, False)},
    },
    "real": {
        "prediction": {"fvd": (35.21, 2.1, False)},
        "synthesis": {"fvd": (12.8, 1.3, False), "is": (4.21, 0.09, True)},
    },
}
COMPARABLE = {"alpha": True, "beta": False, "gamma": True, "real": True}
PROTOCOLS = {"prediction": PRED, "synthesis": SYNTH}


def _metric(method: str, task: str, name: str, value: float, half: float | None, higher: bool,
            rng: np.random.Generator) -> MetricValue:
    protocol = PROTOCOLS[task]
    n = protocol.num_videos or 0
    mv = MetricValue(value=value, ci_low=None if half is None else value - half,
                     ci_high=None if half is None else value + half, n=n, higher_is_better=higher)
    if task == "prediction" and name.split("_")[0] in ("psnr", "ssim", "lpips"):
        t = np.arange(protocol.future_frames)
        # quality decays with the horizon; the curve averages to about the value
        slope = -0.03 if higher else 0.03
        curve = value * (1 + slope * (t - t.mean()) / len(t) * 4) + rng.normal(0, abs(value) * 0.004, len(t))
        band = (half or 0) * (1 + t / len(t))
        mv.curve = [float(x) for x in curve]
        mv.curve_ci_low = [float(x) for x in curve - band]
        mv.curve_ci_high = [float(x) for x in curve + band]
    if method == "beta" and name == "fvd":
        mv.extra = {"weights": "random-init (pinned i3d_400 weights missing)"}
    return mv


def _write_train_log(path: Path, method: str, rng: np.random.Generator) -> None:
    lines = []
    for step in range(0, 300, 10):
        if method == "alpha":
            lines.append(json.dumps({"step": step, "phase": "train", "loss": 2.0 * np.exp(-step / 90)
                                     + 0.05 + rng.uniform(0, 0.02), "lr": 1e-3}))
            if step % 50 == 0:
                lines.append(json.dumps({"step": step, "phase": "val", "loss": 2.1 * np.exp(-step / 100) + 0.1}))
        else:
            lines.append(json.dumps({"step": step, "loss_g": 1.5 + 0.5 * np.sin(step / 30) + rng.uniform(0, 0.1),
                                     "loss_d": 0.7 - 0.2 * np.sin(step / 30), "time": step * 0.1}))
    lines.insert(3, "{this line is broken")
    lines.insert(5, "")
    lines.insert(7, "[1, 2, 3]")
    path.write_text("\n".join(lines) + "\n")


def build_run_root(root: str | Path, dataset: str = DATASET) -> dict[str, Path]:
    """Write the fake runs under ``root``; returns ``{method: path of its results.json}``."""
    root = Path(root)
    rng = np.random.default_rng(0)
    out: dict[str, Path] = {}
    for method, tasks in VALUES.items():
        run = root / dataset / method / PROFILE / "seed0"
        (run / "samples").mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {
            "schema": SCHEMA, "method": method, "dataset": dataset, "profile": PROFILE, "seeds": [0],
            "comparable": COMPARABLE[method], "tasks": {},
            "train_log": None, "manifest": "manifest.json",
        }
        if not COMPARABLE[method]:
            results["not_comparable_reason"] = "FVD computed with random-init I3D <weights> (not pinned)"
        for task, metrics in tasks.items():
            protocol = PROTOCOLS[task]
            videos = rng.integers(0, 256, size=(4, 6, 3, 16, 16), dtype=np.uint8)
            write_video(run / "samples" / f"{task}.gif", video_grid(videos, ncol=4), fps=4)
            results["tasks"][task] = {
                "protocol": protocol.to_dict(),
                "metric_protocols": METRIC_PROTOCOLS[task],
                "metrics": {name: _metric(method, task, name, v, h, hib, rng).to_dict()
                            for name, (v, h, hib) in metrics.items()},
                "samples": f"samples/{task}.npz",
                "gallery": f"samples/{task}.gif",
            }
        if method in ("alpha", "beta"):
            _write_train_log(run / "train_log.jsonl", method, rng)
            results["train_log"] = "train_log.jsonl"
        write_json_atomic(run / "manifest.json", {
            "schema": "vidbench.manifest/1", "method": method, "dataset": dataset, "profile": PROFILE,
            "seeds": [0], "code": {"commit": "0" * 40, "dirty": False}, "command": "benchmark run (fixture)",
        })
        out[method] = write_json_atomic(run / "results.json", results)
    return out


def expected_row_count() -> int:
    """Rows of the long-format table the fixture produces."""
    return sum(len(m) for tasks in VALUES.values() for m in tasks.values())
