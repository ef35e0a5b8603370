"""The prediction recipes' metric conventions: PSNR / SSIM recomputed under a paper's named preset.

A run scores PSNR and SSIM with the metrics' defaults (SAVP's conventions). A recipe whose paper column
comes from another paper's evaluation code re-scores each row's saved samples with that paper's preset
(:data:`benchmark.metrics.psnr.PRESETS`, :data:`benchmark.metrics.ssim.PRESETS`: ``savp``, ``svg``,
``srvp``) through the same :func:`benchmark.evaluate.evaluate` as the run, so its "ours" column is
computed the way the published numbers were. The values carry the preset in their metric protocol
and are written beside the recipe page (``<recipe>-preset-<preset>.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.utils import read_json

#: the metrics that have presets
PRESET_METRICS = ("psnr", "ssim")
#: the metrics' defaults are this preset's conventions: a run's own values need no re-scoring
DEFAULT_PRESET = "savp"


def preset_values(run_dir: Path, task: str, metrics: tuple[str, ...], preset: str,
                  data_root: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(values, protocols)`` of ``metrics`` (those with presets) recomputed from the run's saved samples
    of ``task`` under ``preset``, on the reference clips the run was scored on (its manifest's dataset
    options and clip limit). Empty when the run has no samples of ``task``."""
    from benchmark import video as V
    from benchmark.data import load_dataset
    from benchmark.evaluate import evaluate

    names = [m for m in metrics if m in PRESET_METRICS]
    results, manifest = read_json(run_dir / "results.json"), read_json(run_dir / "manifest.json")
    entry = (results.get("tasks") or {}).get(task)
    if not names or not entry or not (run_dir / entry["samples"]).exists():
        return {}, {}
    config = manifest.get("config", {})
    ds = load_dataset(results["dataset"], data_root, **config.get("dataset_options", {}))
    protocol, ref = ds.reference(task, config.get("max_clips"))
    if ref.content_hash != entry["reference"]["sha256"]:
        raise ValueError(f"{run_dir}: the reference clips changed since the run (hash mismatch); re-run it")
    samples_path = run_dir / entry["samples"]
    with np.load(samples_path) as z:
        k = int(z["num_samples"]) if "num_samples" in z.files else 1
    return evaluate(task, V.load_npz(samples_path), k, ref.videos, names, context_frames=protocol.context_frames,
                    preset=preset)


def with_preset(metrics: dict[str, Any], run_dir: Path, task: str, names: tuple[str, ...], preset: str | None,
                data_root: Path | None, record: dict[str, Any], label: str) -> dict[str, Any]:
    """``metrics`` (a results.json task's metrics) with the entries of ``names`` replaced by their
    ``preset`` values (each carrying ``protocol``); ``record[label]`` gets the protocols."""
    if not preset:
        return metrics
    if preset == DEFAULT_PRESET:  # the run computed these already
        record[label] = {"preset": preset, "note": "the run's own values (the metrics' defaults are SAVP's)"}
        return {**metrics, **{k: {**v, "preset": preset} for k, v in metrics.items()
                              if k.split("_")[0] in names and k.split("_")[0] in PRESET_METRICS}}
    values, protocols = preset_values(run_dir, task, names, preset, data_root)
    if values:
        record[label] = {"preset": preset, "protocols": protocols,
                         "values": {k: v.get("value") for k, v in values.items()}}
    return {**metrics, **{k: {**v, "preset": preset} for k, v in values.items()}}
