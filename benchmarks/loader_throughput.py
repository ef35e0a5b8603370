"""Loader throughput from a prepared store vs. the raw speed of reading the same bytes.

Builds a KTH-shaped store (gray 64x64 segments of ~120 frames; sizes configurable), then measures

* ``raw``: sequential reads of ``frames.npy`` (MB/s, expressed as clips/s of the same bytes);
* ``iter_batches``: shuffled prediction batches (B, 20, 1, 64, 64) from the virtual ClipArray;
* ``train-loop``: the shared training loop's access pattern ``videos[i, s:s+T]`` (random windows);
* ``to-float``: the above plus the uint8 -> float [0, 1] conversion the loop applies.

    .venv/bin/python benchmarks/loader_throughput.py [--frames 60000] [--size 64] [--batch 64]

Pages are dropped from the cache only if run as root with --cold (otherwise figures are warm-cache).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmark.data.store import FrameStore, StoreWriter, iter_batches  # noqa: E402


def build(root: Path, frames: int, size: int, seg_len: int) -> FrameStore:
    rng = np.random.default_rng(0)
    with StoreWriter(root, "bench", "k", (1, size, size)) as w:
        left = frames
        while left > 0:
            n = min(left, seg_len + int(rng.integers(-20, 21)))
            w.add_segment(rng.integers(0, 256, (n, 1, size, size), dtype=np.uint8), video=f"v{left}")
            left -= n
    return FrameStore(w.path)


def timed(fn, min_s: float = 2.0) -> tuple[float, int]:
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < min_s:
        n += fn()
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--clip", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = build(Path(tmp), args.frames, args.size, 120)
        build_s = time.perf_counter() - t0
        clips = store.clip_array(store.windows(args.clip, 1), args.clip)
        clip_bytes = clips.length * int(np.prod(clips.shape[2:]))
        out = {"frames": args.frames, "clips": len(clips), "clip_shape": list(clips.shape[1:]),
               "store_MB": round(os.path.getsize(store.path / "frames.npy") / 2**20, 1), "build_s": round(build_s, 2)}

        def raw() -> int:
            with open(store.path / "frames.npy", "rb", buffering=0) as f:
                n = 0
                while b := f.read(8 << 20):
                    n += len(b)
            return n
        s, n = timed(raw, args.seconds)
        out["raw_read_MBps"] = round(n / s / 2**20)
        out["raw_read_clips_per_s"] = round(n / s / clip_bytes)

        state = {"epoch": 0, "it": None}

        def batches() -> int:
            if state["it"] is None:
                state["it"] = iter_batches(clips, args.batch, seed=0, epoch=state["epoch"])
            try:
                return len(next(state["it"]))
            except StopIteration:
                state["epoch"] += 1
                state["it"] = None
                return 0
        s, n = timed(batches, args.seconds)
        out["iter_batches_clips_per_s"] = round(n / s)

        rng = np.random.default_rng(1)
        longer = store.clip_array(store.windows(args.clip, 1), args.clip)

        def loop_pattern() -> int:
            idx = rng.integers(0, len(longer), args.batch)
            np.stack([longer[int(i), 0:args.clip] for i in idx])
            return args.batch
        s, n = timed(loop_pattern, args.seconds)
        out["train_loop_pattern_clips_per_s"] = round(n / s)

        import torch

        def to_float() -> int:
            idx = rng.integers(0, len(longer), args.batch)
            torch.from_numpy(np.stack([longer[int(i), 0:args.clip] for i in idx])).float().div_(255.0)
            return args.batch
        s, n = timed(to_float, args.seconds)
        out["train_loop_with_float_clips_per_s"] = round(n / s)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
