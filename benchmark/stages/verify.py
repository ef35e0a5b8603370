"""``benchmark manifest verify``: re-hash every artifact of a run and recompute its metrics from the
saved samples (through the same :func:`benchmark.evaluate.evaluate` as the run)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmark import video as V
from benchmark.data import load_dataset
from benchmark.evaluate import evaluate
from benchmark.manifest import check_artifacts, validate_manifest
from benchmark.results import REAL
from benchmark.stages.sample import load_likelihoods
from benchmark.utils import UserError, read_json


def verify_run(path: Path, *, data_root: Path | None = None, rtol: float = 1e-6) -> list[str]:
    """Re-hash every artifact and recompute the metrics from the saved samples.

    Returns the list of mismatches (empty when the run verifies).
    """
    path = Path(path)
    run_dir = path.parent if path.is_file() else path
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise UserError(f"{manifest_path}: no manifest; pass a run folder or its manifest.json")
    manifest = read_json(manifest_path)
    problems = validate_manifest(manifest)
    problems += check_artifacts(run_dir, manifest)
    results = read_json(run_dir / "results.json") if (run_dir / "results.json").exists() else None
    if results is None:
        return problems + ["results.json missing"]
    if results["method"] == REAL:
        return problems  # real-data rows are recomputed by re-running `benchmark evaluate real`
    ds = load_dataset(results["dataset"], data_root, **manifest["config"].get("dataset_options", {}))
    for task, entry in results["tasks"].items():
        protocol, ref = ds.reference(task, manifest["config"].get("max_clips"))  # k comes from the samples file
        if ref.content_hash != entry["reference"]["sha256"]:
            problems.append(f"{task}: reference clips hash {ref.content_hash[:12]}… != recorded "
                            f"{entry['reference']['sha256'][:12]}… (dataset changed)")
            continue
        samples_path = run_dir / entry["samples"]
        if not samples_path.exists():
            problems.append(f"{task}: samples {entry['samples']} missing")
            continue
        with np.load(samples_path) as z:
            k = int(z["num_samples"]) if "num_samples" in z else 1
        samples = V.load_npz(samples_path)
        names = sorted(entry["metric_protocols"])
        lik = entry.get("likelihoods")
        values, _ = evaluate(task, samples, k, ref.videos, names, context_frames=protocol.context_frames,
                             likelihood=load_likelihoods(run_dir / lik) if lik else None)
        for key, recorded in entry["metrics"].items():
            new = values.get(key, {}).get("value")
            old = recorded["value"]
            if new is None:
                problems.append(f"{task}/{key}: could not be recomputed")
            elif not (old == new or (isinstance(old, float) and isinstance(new, float)
                                     and (math.isclose(old, new, rel_tol=rtol, abs_tol=1e-9)
                                          or (math.isnan(old) and math.isnan(new))))):
                problems.append(f"{task}/{key}: recorded {old!r}, recomputed {new!r}")
    return problems
