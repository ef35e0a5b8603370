"""The real-data bound: the metrics of the real test clips themselves (``runs/<dataset>/real/data/``).

Only metrics whose class says a bound applies (``VideoMetric.real_bound``) are scored: intrinsic
ones on the test clips, set ones between the test clips and the validation split.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmark import paths as P
from benchmark import video as V
from benchmark.evaluate import applicable_metrics, evaluate
from benchmark.registry import METRICS
from benchmark.stages.cache import Stages
from benchmark.stages.evaluate import evaluate_key, feature_cache_dir, write_results
from benchmark.stages.sample import GALLERY_VIDEOS
from benchmark.stages.spec import RunSpec, open_dataset, reference_for
from benchmark.utils import read_json, write_json_atomic


def run_real(spec: RunSpec) -> Path:
    """The "real data" bound: metrics of the real test clips (set metrics: test vs val split)."""
    ds = open_dataset(spec)
    run_dir = spec.run_dir
    t0 = time.time()
    tasks = {}
    for task in ds.tasks():
        protocol, ref = reference_for(spec, ds, task)
        names = applicable_metrics(task, spec.metrics, real=True)
        key = evaluate_key("real", task, protocol, ref.content_hash, names, spec.weights)
        stages = Stages(run_dir)
        out_rel = P.scores(task)
        if stages.fresh(f"evaluate/{task}", key):
            tasks[task] = read_json(run_dir / out_rel)
            continue
        other = None
        if any(METRICS.get(n).kind == "set" for n in names) and "val" in ds.splits:
            other = ds.clips(protocol.replace(split="val", num_videos=None)).videos
        # The real clips play the role of samples (k = 1); set metrics compare them with `other`.
        values, protocols = evaluate(task, np.asarray(ref.videos), 1, ref.videos, names,
                                     context_frames=protocol.context_frames, real_reference=other,
                                     weights=spec.weights, cache_dir=feature_cache_dir(spec),
                                     progress=spec.progress, label="real")
        rel = P.samples(task)
        V.save_npz(run_dir / rel, np.asarray(ref.videos[:GALLERY_VIDEOS]))
        gallery = P.gallery(task)
        V.write_video(run_dir / gallery, V.video_grid(np.asarray(ref.videos[:GALLERY_VIDEOS]), ncol=4), fps=4)
        tasks[task] = {"protocol": protocol.to_dict() | {"samples_per_context_used": 1},
                       "reference": {"dataset": ds.name, "split": protocol.split, "num_clips": len(ref),
                                     "sha256": ref.content_hash},
                       "metric_protocols": protocols, "metrics": values, "samples": rel,
                       "gallery": gallery, "seconds": time.time() - t0}
        write_json_atomic(run_dir / out_rel, tasks[task])
        stages.record(f"evaluate/{task}", key, [out_rel])
    return write_results(spec, tasks, None, {}, {"wall_s": time.time() - t0})
