"""The evaluate stage: score the saved samples (through :mod:`benchmark.evaluate`), then write the
run's ``results.json`` and ``manifest.json``.

The key covers the samples' bytes, the protocol, the reference clips, the metric names, the source of
the metric code (their import closures and :mod:`benchmark.evaluate`) and the resolved hashes of the
feature networks' weight files (:func:`benchmark.stages.cache.weights_identity`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import paths as P
from benchmark import video as V
from benchmark.data.base import VideoDataset
from benchmark.evaluate import applicable_metrics, evaluate
from benchmark.manifest import build_manifest
from benchmark.registry import METHODS
from benchmark.results import REAL, SCHEMA, is_comparable
from benchmark.stages.cache import Stages, metric_code_key, must_compute, weights_identity
from benchmark.stages.sample import load_likelihoods
from benchmark.stages.spec import RunSpec, open_dataset, reference_for, resolve_device
from benchmark.stages.train import read_train_records, train_outputs
from benchmark.utils import UserError, canonical_json, read_json, sha256_file, sha256_json, write_json_atomic

log = logging.getLogger(__name__)


def feature_cache_dir(spec: RunSpec) -> Path:
    return P.feature_cache_dir(spec.out)


def evaluate_key(stage: str, task: str, protocol: Any, reference_hash: str, names: list[str], weights: str,
                 **inputs: Any) -> str:
    """The content key of scoring ``names`` on ``task`` (the evaluate stage and the real-data bound)."""
    return sha256_json({"stage": stage, "task": task, "protocol": protocol.to_dict(), "reference": reference_hash,
                        "metrics": names, "code": metric_code_key(names),
                        "weights": {"mode": weights, "files": weights_identity(names, weights)}, **inputs})


def stage_evaluate(spec: RunSpec, task: str, ds: VideoDataset | None = None) -> dict[str, Any]:
    """Score the saved samples of ``task``; returns the task entry of results.json."""
    ds = ds or open_dataset(spec)
    protocol, ref = reference_for(spec, ds, task)
    run_dir = spec.run_dir
    rel = P.samples(task)
    samples_path = run_dir / rel
    if not samples_path.exists():
        raise UserError(f"{samples_path}: no samples; run `benchmark sample {spec.method} --dataset "
                        f"{spec.dataset}` first")
    lik_path = run_dir / P.likelihoods(task)
    sample_rec = Stages(run_dir).get(f"sample/{task}") or {}
    has_lik = "likelihood" in sample_rec and lik_path.exists()
    names = applicable_metrics(task, spec.metrics, likelihood=has_lik, dataset=ds.name)
    key = evaluate_key("evaluate", task, protocol, ref.content_hash, names, spec.weights,
                       samples=sha256_file(samples_path),
                       **({"likelihood": sha256_file(lik_path)} if has_lik else {}))
    stages = Stages(run_dir)
    out_rel = P.scores(task)
    if stages.fresh(f"evaluate/{task}", key):
        return read_json(run_dir / out_rel)
    must_compute(run_dir, f"evaluate/{task}")
    t0 = time.time()
    with np.load(samples_path) as z:
        k = int(z["num_samples"]) if "num_samples" in z else 1
    samples = V.load_npz(samples_path)
    if len(samples) != len(ref) * k:
        raise UserError(f"{samples_path}: {len(samples)} videos, expected {len(ref)} clips x k={k}; "
                        f"re-run the sample stage")
    values, protocols = evaluate(task, samples, k, ref.videos, names, context_frames=protocol.context_frames,
                                 weights=spec.weights, cache_dir=feature_cache_dir(spec),
                                 likelihood=load_likelihoods(lik_path) if has_lik else None,
                                 progress=spec.progress, label=spec.method,
                                 device=str(resolve_device(spec.device)))
    entry = {"protocol": protocol.to_dict() | {"samples_per_context_used": k},
             "reference": {"dataset": ds.name, "split": protocol.split, "num_clips": len(ref),
                           "sha256": ref.content_hash},
             "metric_protocols": protocols, "metrics": values, "samples": rel,
             "gallery": P.gallery(task),
             "extra_galleries": sample_rec.get("extra_galleries", {}),
             "conditioning": sample_rec.get("conditioning", {}),
             **({"likelihoods": P.likelihoods(task)} if has_lik else {}),
             "seconds": time.time() - t0}
    _warn_small_n(spec.method, task, values)
    write_json_atomic(run_dir / out_rel, entry)
    stages.record(f"evaluate/{task}", key, [out_rel])
    return entry


def _warn_small_n(method: str, task: str, values: dict[str, Any]) -> None:
    from benchmark.metrics.facts import metric_facts

    for name, v in values.items():
        if v.get("ci_low") is None or (isinstance(v.get("ci_low"), float) and math.isnan(v["ci_low"])):
            cls = metric_facts(name)
            if v.get("n", 0) < 2 and (cls is None or cls.kind != "set"):  # set metrics have no per-video CI
                log.warning("%s/%s: %s has n=%s, too few samples for a confidence interval",
                            method, task, name, v.get("n"))


def _already_written(run_dir: Path, results: dict[str, Any]) -> bool:
    """Whether ``run_dir`` holds a manifest and a results.json equal to ``results`` (as JSON)."""
    if not ((run_dir / P.RESULTS).is_file() and (run_dir / P.MANIFEST).is_file()):
        return False
    try:
        old = read_json(run_dir / P.RESULTS)
    except (OSError, ValueError):
        return False
    return canonical_json(old) == canonical_json(json.loads(json.dumps(results, default=str)))


def _imported_summary(train_records: dict[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    """For weights imported from an official checkpoint: the note, mapping version and source files."""
    for rec in reversed(list((train_records or {}).values())):
        if rec.get("imported"):
            imp = rec["imported"]
            return {"note": imp.get("note"), "mapping_version": imp.get("mapping_version"),
                    "sources": [{"file": s.get("file"), "sha256": s.get("sha256")} for s in imp.get("sources", [])]}
    return None


def _reference_kind(spec: RunSpec) -> str | None:
    """``Method.reference_row`` of a trivial predictor's run (never ranked), else None."""
    if spec.untrained or spec.method not in METHODS:
        return None
    return METHODS.get(spec.method).reference_row


def _hand_aid(spec: RunSpec, config: dict[str, Any]) -> str | None:
    """``Method.hand_aid`` of the run's resolved config (a trained run only), else None."""
    if spec.untrained or spec.method not in METHODS:
        return None
    return METHODS.get(spec.method).hand_aid(config)


def write_results(spec: RunSpec, tasks: dict[str, Any], train_records: dict[str, dict[str, Any]] | None,
                  config: dict[str, Any], timings: dict[str, float]) -> Path:
    """Write results.json and manifest.json for a run (atomically); a rerun whose results are unchanged
    rewrites neither (what the manifest says about how the numbers were made still holds)."""
    run_dir = spec.run_dir
    comparable = all(is_comparable(v) for t in tasks.values() for v in t["metrics"].values())
    stages = tuple(train_records or ())
    imported_from = _imported_summary(train_records)
    logs = {st: f"{P.train_dir(stages, st)}/{P.TRAIN_LOG}" for st in stages
            if (run_dir / P.train_dir(stages, st) / P.TRAIN_LOG).exists()}
    results = {"schema": SCHEMA, "method": spec.run_name, "dataset": spec.dataset,
               **({"reference": "untrained", "base_method": spec.method} if spec.untrained else {}),
               **({"base_method": spec.method, "dataset_variant": spec.variant} if spec.variant else {}),
               **({"reference": reference_kind} if (reference_kind := _reference_kind(spec)) else {}),
               **({"imported": imported_from} if imported_from else {}),
               **({"hand_aid": hand_aid} if (hand_aid := _hand_aid(spec, config)) else {}),
               "profile": spec.profile if spec.method != REAL else P.REAL_PROFILE, "seeds": [spec.seed],
               "comparable": comparable, "tasks": tasks,
               "train_log": list(logs.values())[-1] if logs else None,
               **({"train_logs": logs} if len(stages) > 1 else {}),
               "manifest": P.MANIFEST}
    if _already_written(run_dir, results):  # a cached rerun, or a second job of the same run: the files
        return run_dir / P.RESULTS          # hold these very numbers and the manifest of how they were made
    write_json_atomic(run_dir / P.RESULTS, results)
    artifacts = [P.RESULTS, *(f for t in tasks.values() for f in (t["samples"], t["gallery"]) if f)]
    artifacts += [f for t in tasks.values() for f in t.get("extra_galleries", {}).values()]
    artifacts += [t["likelihoods"] for t in tasks.values() if t.get("likelihoods")]
    artifacts += [P.scores(t) for t in tasks]
    artifacts += train_outputs(run_dir, stages)
    dataset = {**open_dataset(spec).identity(), "tasks": {t: v["reference"] for t, v in tasks.items()}}
    if train_records:
        dataset["train"] = list(train_records.values())[-1].get("data")
    extra: dict[str, Any] = {"results": {t: {k: v["value"] for k, v in e["metrics"].items()} for t, e in tasks.items()}}
    conditioning = {t: e["conditioning"] for t, e in tasks.items() if e.get("conditioning")}
    if conditioning:
        extra["conditioning"] = conditioning
    if train_records:  # where the weights were trained (the "hardware" entry is this evaluating machine)
        extra["training_hardware"] = {st: rec.get("hardware") for st, rec in train_records.items()}
    if len(stages) > 1:
        extra["training_stages"] = {st: rec.get("key") for st, rec in train_records.items()}
    imported = [rec["imported"] for rec in (train_records or {}).values() if rec.get("imported")]
    if imported:  # weights from an official checkpoint: its files' sha256, the mapping version
        extra["imported"] = imported[-1]
    manifest = build_manifest(
        run_dir=run_dir, config={"method": spec.method, "profile": spec.profile, "overrides": spec.overrides,
                                 **({"untrained": True} if spec.untrained else {}),
                                 "model": config, "device": spec.device,
                                 "dataset_options": spec.dataset_options,
                                 **({"max_clips": spec.max_clips} if spec.max_clips is not None else {}),
                                 **({"max_samples": spec.max_samples} if spec.max_samples is not None else {}),
                                 **({"max_train_steps": spec.max_train_steps}
                                    if spec.max_train_steps is not None else {})},
        seeds=[spec.seed], dataset=dataset,
        metric_protocols={t: v["metric_protocols"] for t, v in tasks.items()}, timings=timings,
        artifacts=artifacts, extra=extra)
    write_json_atomic(run_dir / P.MANIFEST, manifest)
    return run_dir / P.RESULTS


def sampling_speed(sample_record: dict[str, Any]) -> dict[str, Any]:
    """The ``sampling`` entry of a task in results.json: how many videos the method generated, how many
    of them are distinct (``distinct_videos``: exact copies count once; absent in records older than
    the count) and how fast (``generate_s``: the method's sampling calls alone, on the run's device);
    empty for samples recorded before the sample stage timed generation.

    >>> sampling_speed({"num_videos": 640, "num_samples": 5, "generate_s": 12.8, "videos_per_s": 50.0})
    {'sampling': {'videos': 640, 'samples_per_context': 5, 'generate_s': 12.8, 'videos_per_s': 50.0}}
    >>> sampling_speed({"num_videos": 8, "distinct_videos": 6, "generate_s": 1.0, "videos_per_s": 8.0})["sampling"]
    {'videos': 8, 'samples_per_context': 1, 'generate_s': 1.0, 'videos_per_s': 8.0, 'distinct_videos': 6}
    >>> sampling_speed({"num_videos": 8})
    {}
    """
    if "generate_s" not in sample_record:
        return {}
    out = {"videos": int(sample_record["num_videos"]),
           "samples_per_context": int(sample_record.get("num_samples", 1)),
           "generate_s": float(sample_record["generate_s"]),
           "videos_per_s": float(sample_record["videos_per_s"])}
    if "distinct_videos" in sample_record:
        out["distinct_videos"] = int(sample_record["distinct_videos"])
    return {"sampling": out}


def evaluate_run(spec: RunSpec, ds: VideoDataset | None = None, tasks: list[str] | None = None) -> Path:
    """Score every task's saved samples and write results.json + manifest.json (``tasks``: the ones
    the method runs on this dataset; default: those of :func:`runnable_tasks`)."""
    from benchmark.stages.sample import runnable_tasks
    from benchmark.stages.spec import build_method

    ds = ds or open_dataset(spec)
    cls = METHODS.get(spec.method)
    if tasks is None:
        tasks_run = [t for t in cls.tasks if t in ds.protocols]
        if any(Stages(spec.run_dir).get(f"sample/{t}") is None for t in tasks_run):
            tasks_run, _ = runnable_tasks(build_method(spec, ds), ds)
    else:
        tasks_run = list(tasks)
    stages = Stages(spec.run_dir)
    train_recs = read_train_records(spec.run_dir)
    if not train_recs:
        raise UserError(f"{spec.run_dir}: not trained; run `benchmark train {spec.method} --dataset {spec.dataset}`")
    timings: dict[str, float] = {"train_s": float(sum(r.get("seconds", 0.0) for r in train_recs.values()))}
    if len(train_recs) > 1:
        timings |= {f"train_{st}_s": float(r.get("seconds", 0.0)) for st, r in train_recs.items()}
    tasks = {}
    for task in tasks_run:
        srec = stages.get(f"sample/{task}")
        if srec is None:
            raise UserError(f"{spec.run_dir}: no {task} samples; run `benchmark sample {spec.method} "
                            f"--dataset {spec.dataset}`")
        tasks[task] = stage_evaluate(spec, task, ds) | sampling_speed(srec)
        timings[f"sample_{task}_s"] = float(srec.get("seconds", 0.0))
        timings[f"evaluate_{task}_s"] = float(tasks[task].get("seconds", 0.0))
    last = P.train_dir(tuple(train_recs), list(train_recs)[-1])
    config = read_json(spec.run_dir / last / P.CONFIG).get("config", {})
    return write_results(spec, tasks, train_recs, config, timings)
