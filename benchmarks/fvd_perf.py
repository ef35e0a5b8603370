"""FVD performance on this machine (random I3D weights: speed does not depend on the values).

    python benchmarks/fvd_perf.py [--videos 32] [--mem-small 64] [--mem-large 512] [--cache-videos 512]

Prints: I3D forward videos/s for 16x64x64 clips; the whole streaming FVD update (checks, TF1 resize,
network, float64 sums) vs the bare forward on the same batches (goal <= 1.15); peak RSS of a fresh
process streaming N videos for two N (must not grow with N); the cache-hit speed-up of re-evaluating
a set against a cached real split.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import torch

BATCH = 8


def clips(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 16, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def throughput(n: int) -> dict:
    from benchmark.metrics.extractors.i3d import preprocess
    from benchmark.metrics.fvd import FrechetVideoDistance

    m = FrechetVideoDistance(weights="random", batch_size=BATCH)
    net = m.extractor.model
    x = clips(n)
    with torch.no_grad():
        # warm up both paths on a full batch (oneDNN builds its kernels per input shape on first use)
        net(preprocess(x[:BATCH]).to(memory_format=torch.channels_last_3d))
        batches = [preprocess(x[i:i + BATCH]).to(memory_format=torch.channels_last_3d) for i in range(0, n, BATCH)]
        t0 = time.perf_counter()
        for b in batches:
            net(b)
        bare = time.perf_counter() - t0
    m.update(x[:BATCH], real=False)
    m.reset()
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        m.update(x[i:i + BATCH], real=False)
    whole = time.perf_counter() - t0
    return {"videos": n, "forward_videos_per_s": n / bare, "pipeline_videos_per_s": n / whole,
            "pipeline_over_forward": whole / bare}


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
    p.add_argument("--mem-small", type=int, default=64)
    p.add_argument("--mem-large", type=int, default=512)
    p.add_argument("--cache-videos", type=int, default=512)
    p.add_argument("--stream", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.stream is not None:
        stream(args.stream)
        return 0
    out = {"threads": torch.get_num_threads(), "throughput": throughput(args.videos)}
    print(json.dumps(out["throughput"]), flush=True)
    out["memory"] = [json.loads(subprocess.check_output([sys.executable, __file__, "--stream", str(n)]))
                     for n in (args.mem_small, args.mem_large)]
    print(json.dumps(out["memory"]), flush=True)
    out["cache"] = cache_speedup(args.cache_videos)
    print(json.dumps(out["cache"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
