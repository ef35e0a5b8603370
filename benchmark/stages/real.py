"""The real-data bound: the metrics of the real test clips themselves (``runs/<dataset>/real/data/``).

Only metrics whose class says a bound applies (``VideoMetric.real_bound``) are scored: intrinsic
ones on the test clips; set ones (FVD, MCS) between two *disjoint* real sets, never a set against
itself (that is 0 by construction and proves nothing): the test clips against the validation split
where the dataset has one, else the first half of the test clips against the second half. Which split
each side came from, its n, and whether the sides share a clip are recorded in the task entry
(``real_bound_sides``) and on each set metric's value (``extra.real_bound_sides``); a value whose
sides are the same set (fewer than two clips, no val split) is marked ``extra.same_set`` and the
leaderboard shows "n/a (same set)" for it.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import paths as P
from benchmark import video as V
from benchmark.evaluate import applicable_metrics, evaluate
from benchmark.registry import METRICS
from benchmark.stages.cache import Stages
from benchmark.stages.evaluate import evaluate_key, feature_cache_dir, write_results
from benchmark.stages.sample import GALLERY_VIDEOS
from benchmark.stages.spec import RunSpec, open_dataset, reference_for, resolve_device
from benchmark.utils import read_json, write_json_atomic


def _clip_hashes(videos: Any) -> set[str]:
    return {hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for v in videos}


def real_sides(test: Any, split: str, val: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """The two real sets a set metric's bound compares: ``(generated side, real side, record)``.

    ``test``: the reference clips ``(N, T, C, H, W)`` of ``split``; ``val``: the validation split's
    clips, or None where the dataset has none. The record says where each side came from, its n, and
    whether the sides share a clip (checked by content).

    >>> clips = np.arange(5 * 2, dtype=np.uint8).reshape(5, 2, 1, 1, 1)
    >>> a, b, rec = real_sides(clips, "test")
    >>> len(a), len(b), rec["generated_side"]["clips"], rec["real_side"]["clips"], rec["overlap"]
    (2, 2, '0..1', '2..3', False)
    >>> real_sides(clips[:1], "test")[2]["overlap"]
    True
    """
    n = len(test)
    if val is not None and len(val):
        fake, real = test, val
        record = {"how": f"{split} split vs val split",
                  "generated_side": {"split": split, "n": n, "clips": "all"},
                  "real_side": {"split": "val", "n": len(val), "clips": "all"}}
    elif n >= 2:
        h = n // 2  # equal halves (an odd last clip is left out): FVD's bias depends on n
        fake, real = test[:h], test[h:2 * h]
        record = {"how": f"two disjoint halves of the {split} split (no val split)",
                  "generated_side": {"split": split, "n": h, "clips": f"0..{h - 1}"},
                  "real_side": {"split": split, "n": h, "clips": f"{h}..{2 * h - 1}"}}
    else:
        fake, real = test, test
        record = {"how": f"the {split} split against itself (fewer than two clips, no val split)",
                  "generated_side": {"split": split, "n": n, "clips": "all"},
                  "real_side": {"split": split, "n": n, "clips": "all"}}
    record["overlap"] = bool(_clip_hashes(fake) & _clip_hashes(real))
    return fake, real, record


def run_real(spec: RunSpec) -> Path:
    """The "real data" bound: metrics of the real test clips (set metrics: two disjoint real sets,
    see :func:`real_sides`)."""
    ds = open_dataset(spec)
    run_dir = spec.run_dir
    t0 = time.time()
    tasks = {}
    for task in ds.tasks():
        protocol, ref = reference_for(spec, ds, task)
        names = applicable_metrics(task, spec.metrics, real=True, dataset=ds.name)
        key = evaluate_key("real", task, protocol, ref.content_hash, names, spec.weights)
        stages = Stages(run_dir)
        out_rel = P.scores(task)
        if stages.fresh(f"evaluate/{task}", key):
            tasks[task] = read_json(run_dir / out_rel)
            continue
        set_names = [n for n in names if METRICS.info(n).kind == "set"]
        own_names = [n for n in names if n not in set_names]
        sides = None
        # Intrinsic bounds: the real clips play the role of samples (k = 1).
        values, protocols = evaluate(task, np.asarray(ref.videos), 1, ref.videos, own_names,
                                     context_frames=protocol.context_frames, weights=spec.weights,
                                     cache_dir=feature_cache_dir(spec), progress=spec.progress,
                                     label="real", device=str(resolve_device(spec.device))) if own_names else ({}, {})
        if set_names:
            val = None
            if "val" in ds.splits and protocol.split != "val":
                val = ds.clips(protocol.replace(split="val", num_videos=None)).videos
            fake, real, sides = real_sides(np.asarray(ref.videos), protocol.split,
                                           None if val is None else np.asarray(val))
            set_values, set_protocols = evaluate(task, fake, 1, fake, set_names,
                                                 context_frames=protocol.context_frames, real_reference=real,
                                                 weights=spec.weights, cache_dir=feature_cache_dir(spec),
                                                 progress=spec.progress, label="real",
                                                 device=str(resolve_device(spec.device)))
            for v in set_values.values():
                v["extra"] = {**(v.get("extra") or {}), "real_bound_sides": sides,
                              **({"same_set": True} if sides["overlap"] else {})}
            for p in set_protocols.values():
                p["real_bound_sides"] = sides
            values.update(set_values)
            protocols.update(set_protocols)
        rel = P.samples(task)
        V.save_npz(run_dir / rel, np.asarray(ref.videos[:GALLERY_VIDEOS]))
        gallery = P.gallery(task)
        V.write_video(run_dir / gallery, V.video_grid(np.asarray(ref.videos[:GALLERY_VIDEOS]), ncol=4), fps=4)
        tasks[task] = {"protocol": protocol.to_dict() | {"samples_per_context_used": 1},
                       "reference": {"dataset": ds.name, "split": protocol.split, "num_clips": len(ref),
                                     "sha256": ref.content_hash},
                       **({"real_bound_sides": sides} if sides else {}),
                       "metric_protocols": protocols, "metrics": values, "samples": rel,
                       "gallery": gallery, "seconds": time.time() - t0}
        write_json_atomic(run_dir / out_rel, tasks[task])
        stages.record(f"evaluate/{task}", key, [out_rel])
    return write_results(spec, tasks, None, {}, {"wall_s": time.time() - t0})
