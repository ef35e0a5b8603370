"""Where the scoring of a run's saved samples goes: CPU seconds per metric of one ``evaluate`` call.

Scores a samples npz (``samples/<task>.npz`` of a run) against its dataset's reference clips through
:func:`benchmark.evaluate.evaluate`, exactly as the evaluate stage does, and prints the one-thread CPU
seconds (user + sys, ``time.process_time``) spent in each metric's ``update`` (its validation
included), in preparing the batches (uint8 -> float) and in ``compute()``; with ``--json`` it also
writes every value, so two versions of the code can be compared number by number (``--compare``).

    .venv/bin/python benchmarks/eval_cost.py RUN/samples/prediction.npz --dataset moving-shapes --root DATA
    .venv/bin/python benchmarks/eval_cost.py S.npz --root DATA --json new.json --compare old.json

``--warm`` first scores two clips, so the figures leave out what a process pays once (imports, the
evaluator's weight file). Defaults: one torch thread (the main job scores each method in a worker with one thread), the task
and k from the npz (its name and ``num_samples``), the dataset's default protocol for that task.
Not a test: the figures depend on the machine and its load (the load average is printed alongside).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch


def _timed_feed(totals: dict[str, float]):
    """A wrapper of :func:`benchmark.evaluate._feed` that adds each metric's CPU seconds to ``totals``."""
    import benchmark.evaluate as E

    feed = E._feed

    def timed(m, *args, **kwargs):
        t0 = time.process_time()
        try:
            return feed(m, *args, **kwargs)
        finally:
            totals[m.name] += time.process_time() - t0

    return feed, timed


def score(samples_path: Path, dataset: str, root: str | None, metrics: list[str] | None, warm: bool = False
          ) -> tuple[dict[str, float], dict[str, dict]]:
    """``(cpu seconds by part, values)`` of one ``evaluate`` call on ``samples_path`` (``warm``: after a
    warm-up call on two clips that takes the imports and weight loading out of the figures)."""
    import benchmark.evaluate as E
    from benchmark import video as V
    from benchmark.registry import DATASETS

    task = samples_path.stem
    with np.load(samples_path) as z:
        k = int(z["num_samples"]) if "num_samples" in z else 1
    samples = V.load_npz(samples_path)
    ds = DATASETS.get(dataset)(**({"root": root} if root else {}))
    protocol, ref = ds.reference(task, None)
    names = E.applicable_metrics(task, metrics, dataset=dataset)
    totals: dict[str, float] = defaultdict(float)
    feed, timed = _timed_feed(totals)
    collect = E.collect

    def timed_collect(*args, **kwargs):
        t0 = time.process_time()
        try:
            return collect(*args, **kwargs)
        finally:
            totals["compute()"] += time.process_time() - t0

    setup = 0.0
    if warm:  # imports, weight files, first-call allocations: once per process, not per scored clip
        t0 = time.process_time()
        E.evaluate(task, samples[:2 * k], k, ref.videos[:2], names, context_frames=protocol.context_frames)
        setup = time.process_time() - t0
    E._feed, E.collect = timed, timed_collect
    try:
        t0 = time.process_time()
        values, _ = E.evaluate(task, samples, k, ref.videos, names, context_frames=protocol.context_frames)
        total = time.process_time() - t0
    finally:
        E._feed, E.collect = feed, collect
    parts = {name: totals[name] for name in names}
    parts["compute()"] = totals["compute()"]
    parts["batches (uint8 -> float), rest"] = total - sum(parts.values())
    parts["total"] = total
    if warm:
        parts["(before it: warm-up on 2 clips)"] = setup
    print(f"{samples_path}: {task}, k={k}, {len(ref)} clips, {tuple(samples.shape[1:])} per video")
    return parts, values


def compare(new: dict[str, dict], old: dict[str, dict]) -> float:
    """Largest absolute difference over every number of ``new``'s values and the same keys of ``old``
    (value, CI, curves, extra); other entries must be equal."""
    worst = 0.0

    def walk(a, b, where: str) -> None:
        nonlocal worst
        if isinstance(a, dict):
            if set(a) != set(b):
                raise SystemExit(f"{where}: keys differ: {sorted(set(a) ^ set(b))}")
            for key in a:
                walk(a[key], b[key], f"{where}.{key}")
        elif isinstance(a, list):
            if len(a) != len(b):
                raise SystemExit(f"{where}: lengths differ")
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif isinstance(a, float) or isinstance(b, float):
            if math.isnan(a) and math.isnan(b):
                return
            worst = max(worst, abs(a - b))
        elif a != b:
            raise SystemExit(f"{where}: {a!r} != {b!r}")

    missing = sorted(set(new) - set(old))
    if missing:
        raise SystemExit(f"not in the other file: {missing}")
    walk(new, {key: old[key] for key in new}, "values")  # a --metrics subset: its own keys
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples", type=Path, help="a run's samples/<task>.npz")
    ap.add_argument("--dataset", default="moving-shapes")
    ap.add_argument("--root", default=None, help="dataset root (default: the dataset's own)")
    ap.add_argument("--metrics", default=None, help="comma-separated (default: every applicable one)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warm", action="store_true", help="score 2 clips first: imports and weight files "
                    "(once per process) leave the figures")
    ap.add_argument("--json", type=Path, default=None, help="write the timings and every value here")
    ap.add_argument("--compare", type=Path, default=None, help="a --json file of another version: max |diff|")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parts, values = score(args.samples, args.dataset, args.root, args.metrics.split(",") if args.metrics else None,
                          warm=args.warm)
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'part':32s} {'cpu s':>7s} {'share':>6s}")
    for name, sec in parts.items():
        share = f"{sec / parts['total']:6.1%}" if not name.startswith("(") else ""
        print(f"{name:32s} {sec:7.2f} {share}")
    if args.json:
        args.json.write_text(json.dumps({"seconds": parts, "values": values}, indent=1))
    if args.compare:
        old = json.loads(args.compare.read_text())
        print(f"max |difference| of every number vs {args.compare}: {compare(values, old['values']):.3g} "
              f"(old total {old['seconds']['total']:.2f} s)")


if __name__ == "__main__":
    main()
