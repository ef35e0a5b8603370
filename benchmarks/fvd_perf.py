"""FVD performance on this machine (random I3D weights: speed does not depend on the values).

    python benchmarks/fvd_perf.py [--videos 32] [--batch 8] [--rounds 5] [--threads 2]
                                  [--skip-memory] [--skip-cache] [--json OUT]

Prints, one JSON object per line:

* ``i3d``: clips/s of the I3D forward on 16x64x64 clips (resized to 16x224x224 as FVD does) for the
  plain reference network (channels-last, intra-op threads, batch 8: the forward before this
  optimisation) and the optimised one (BatchNorm folded, conv+ReLU kernels, merged 1x1x1
  reductions, cheaper max pools, the batch split across single-threaded streams, the CPU batch
  size), plus two in-between variants that show what the batch size and the thread split add;
  timed in alternation in this run (so machine load hits all alike); their FLOPs per clip (``torch.utils.flop_counter``); the achieved GFLOP/s; a conv3d peak
  measured in the same run (the best GFLOP/s of a large 3x3x3 convolution of I3D's own shape on the
  fastest kernel) and the ceiling it implies (clips/s if every FLOP ran at that peak).
  Goal: optimised/plain >= 2 in float32.
* ``pipeline``: the whole streaming FVD update (checks, TF1 resize, network, float64 sums) over the
  bare optimised forward on the same batches (goal <= 1.10).
* ``memory``: peak RSS of a fresh process streaming N videos for two N (must not grow with N).
* ``cache``: the cache-hit speed-up of re-evaluating a set against a cached real split.
* ``load``: the 1/5/15-minute load averages before and after (the CPU is shared: read ratios, and
  absolute figures only next to the load they were measured under).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

BATCH = 8
FRAMES, SIZE = 16, 64


def clips(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, FRAMES, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def flops_per_clip(net: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one clip (``torch.utils.flop_counter``: 2 per multiply-add, convolutions and matmuls).

    Counted on the ``F.conv3d`` path: the counter does not know oneDNN's fused conv+ReLU op."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.metrics.extractors.inference import set_fused_cpu_kernel

    set_fused_cpu_kernel(False)
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            net(x[:1])
    finally:
        set_fused_cpu_kernel(None)
    return int(counter.get_total_flops())


def conv3d_peak(batch: int, rounds: int) -> dict:
    """Best GFLOP/s of I3D's largest 3x3x3 convolution shape (Mixed_3c Branch_1: 128 -> 192 channels
    at 8x28x28, SAME padding) on the fastest kernel the optimised network uses, channels-last, with
    intra-op threads and as single-threaded streams over the batch; the peak is the better."""
    from benchmark.metrics.extractors.inference import conv_relu, split_across_threads

    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 128, 8, 28, 28, generator=g).contiguous(memory_format=torch.channels_last_3d)
    w, b = torch.randn(192, 128, 3, 3, 3, generator=g) * 0.03, torch.zeros(192)
    flops = 2 * batch * 192 * 8 * 28 * 28 * 128 * 27

    def conv(xs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return conv_relu(xs, w, b, (1, 1, 1), (1, 1, 1), True)

    ways = {"intra_op": lambda: conv(x), "streams": lambda: split_across_threads(conv, x)}
    best = {k: float("inf") for k in ways}
    for fn in ways.values():
        fn()
    for _ in range(3 * rounds):
        for k, fn in ways.items():
            best[k] = min(best[k], _timed(fn))
    gflops = {k: flops / t / 1e9 for k, t in best.items()}
    return {"shape": f"{batch}x128x8x28x28 -> 192, 3x3x3", "gflops_per_s": max(gflops.values()),
            **{f"gflops_per_s_{k}": v for k, v in gflops.items()}}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _timed_cpu(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: every thread, spin-waits included)."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def i3d_throughput(n: int, batch: int, rounds: int) -> dict:
    """Plain vs optimised I3D forward, alternating whole passes over the same preprocessed clips.

    Variants (name: network, CPU threads, clips per forward pass):
    ``plain``: reference, intra-op, ``batch`` (the forward before this work, batch 8 by default);
    ``plain_small_batch``: reference, intra-op, the optimised batch (what the batch size alone gives);
    ``optimised_intra_op``: fused, intra-op, ``batch``; ``optimised``: fused, streams, the batch
    :class:`I3DFeatures` chooses for this device.
    """
    from benchmark.metrics.extractors.i3d import I3DFeatures, preprocess

    chosen = I3DFeatures(weights="random").batch_for(FRAMES)
    plain = I3DFeatures(weights="random", fused=False, split_threads=False)
    fused = I3DFeatures(weights="random")
    fused_intra = I3DFeatures(weights="random", split_threads=False)
    fused_intra.model = fused.model  # one set of weights for both fused variants
    variants = {"plain": (plain.forward, batch), "plain_small_batch": (plain.forward, chosen),
                "optimised_intra_op": (fused_intra.forward, batch), "optimised": (fused.forward, chosen)}
    x = preprocess(clips(n)).contiguous(memory_format=torch.channels_last_3d)

    def passes(fn, b: int) -> None:
        for i in range(0, n, b):
            fn(x[i:i + b])

    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for fn, b in variants.values():  # oneDNN builds its kernels per input shape on first use
        fn(x[:b])
    for _ in range(rounds):
        for name, (fn, b) in variants.items():
            wall, used = _timed_cpu(lambda: passes(fn, b))
            times[name].append(wall)
            cpu[name].append(used)
    diff = float((fused.forward(x[:batch]) - plain.forward(x[:batch])).abs().max())
    flops = {"plain": flops_per_clip(plain.model, x), "optimised": flops_per_clip(fused.model, x)}
    out: dict = {"clip": f"{FRAMES}x{SIZE}x{SIZE} -> {FRAMES}x224x224", "videos": n, "rounds": rounds,
                 "max_abs_diff": diff}
    for k, (_, b) in variants.items():
        f = flops["plain" if k.startswith("plain") else "optimised"]
        med = statistics.median(times[k])
        out[k] = {"batch": b, "clips_per_s": n / med, "clips_per_s_best": n / min(times[k]),
                  "gflop_per_clip": f / 1e9, "gflops_per_s": f * n / med / 1e9,
                  "cpu_s_per_clip": statistics.median(cpu[k]) / n}
    for k in ("optimised", "optimised_intra_op", "plain_small_batch"):
        paired = [p / o for p, o in zip(times["plain"], times[k])]
        out[f"{k}_over_plain"] = statistics.median(paired)
        if k == "optimised":
            out["optimised_over_plain_rounds"] = [round(r, 3) for r in paired]
    out["optimised_over_plain_cpu_time"] = statistics.median(p / o for p, o in zip(cpu["plain"], cpu["optimised"]))
    return out


def pipeline_overhead(n: int, batch: int, rounds: int) -> dict:
    """The streaming FVD update over the bare optimised forward, alternating on the same batches."""
    from benchmark.metrics.extractors.i3d import preprocess
    from benchmark.metrics.fvd import FrechetVideoDistance

    m = FrechetVideoDistance(weights="random", batch_size=batch)
    x = clips(n)
    batches = [preprocess(x[i:i + batch]).contiguous(memory_format=torch.channels_last_3d)
               for i in range(0, n, batch)]

    def bare() -> None:
        for b in batches:
            m.extractor.forward(b)

    def whole() -> None:
        m.reset()
        for i in range(0, n, batch):
            m.update(x[i:i + batch], real=False)

    bare()
    whole()
    t_bare, t_whole = [], []
    for _ in range(rounds):
        t_bare.append(_timed(bare))
        t_whole.append(_timed(whole))
    paired = [w / b for w, b in zip(t_whole, t_bare)]
    return {"videos": n, "forward_clips_per_s": n / statistics.median(t_bare),
            "pipeline_clips_per_s": n / statistics.median(t_whole), "pipeline_over_forward": statistics.median(paired)}


def stream(n: int) -> None:
    """Child process: stream n videos (generated batch by batch) and print peak RSS in MiB."""
    from benchmark.metrics.fvd import FrechetVideoDistance

    m = FrechetVideoDistance(weights="random", batch_size=BATCH)
    for i in range(0, n, BATCH):
        m.update(clips(min(BATCH, n - i), seed=i), real=i % 2 == 0)
    print(json.dumps({"videos": n, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def cache_speedup(n: int) -> dict:
    from benchmark.metrics.fvd import FrechetVideoDistance

    real = clips(n, 1)
    with tempfile.TemporaryDirectory() as d:
        times = []
        for _ in range(2):
            m = FrechetVideoDistance(weights="random", batch_size=BATCH, cache_dir=d)
            t0 = time.perf_counter()
            for i in range(0, n, BATCH):
                m.update(real[i:i + BATCH], real=True)
            times.append(time.perf_counter() - t0)
    return {"videos": n, "real_side_cold_s": times[0], "real_side_cached_s": times[1],
            "speedup": times[0] / times[1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=32)
    p.add_argument("--batch", type=int, default=BATCH, help="clips per forward pass (the CPU default is 8)")
    p.add_argument("--rounds", type=int, default=5, help="alternating timed passes per variant")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mem-small", type=int, default=64)
    p.add_argument("--mem-large", type=int, default=512)
    p.add_argument("--cache-videos", type=int, default=512)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-cache", action="store_true")
    p.add_argument("--json", help="also write every figure to this file")
    p.add_argument("--stream", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(min(args.threads, os.cpu_count() or 1))
    if args.stream is not None:
        stream(args.stream)
        return 0

    def emit(key: str, value) -> None:
        out[key] = value
        print(json.dumps({key: value}), flush=True)

    out: dict = {}
    emit("setup", {"threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
                   "load_before": load()})
    i3d = i3d_throughput(args.videos, args.batch, args.rounds)
    peak = conv3d_peak(args.batch, args.rounds)
    gflop = i3d["optimised"]["gflop_per_clip"]
    i3d["conv3d_peak"] = {**peak, "ceiling_clips_per_s": peak["gflops_per_s"] / gflop,
                          **{f"{k}_share_of_peak": i3d[k]["gflops_per_s"] / peak["gflops_per_s"]
                             for k in ("plain", "plain_small_batch", "optimised_intra_op", "optimised")}}
    emit("i3d", i3d)
    emit("pipeline", pipeline_overhead(args.videos, args.batch, args.rounds))
    if not args.skip_memory:
        emit("memory", [json.loads(subprocess.check_output([sys.executable, __file__, "--stream", str(n)]))
                        for n in (args.mem_small, args.mem_large)])
    if not args.skip_cache:
        emit("cache", cache_speedup(args.cache_videos))
    emit("load", {"before": out["setup"]["load_before"], "after": load()})
    if args.json:
        from benchmark.utils import write_json_atomic

        write_json_atomic(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
