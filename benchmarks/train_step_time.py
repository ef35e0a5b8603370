"""Training step time and generation throughput per method, on this machine.

For each method: the ``paper`` profile at batch 8 and the ``smoke`` profile (its own batch), each
trained for a few steps through the shared loop on random 64x64x3 clips (the loop's real code
path: clip sampling, the method's phases, optimiser steps). Reports the median seconds per step
after warm-up, the share of profiled CPU time spent in convolutions (forward + backward, incl.
transposed), flags methods whose step is *not* dominated by convolutions (share < 50%) with the top
non-conv ops, and samples/s of ``generate`` (``predict`` for prediction methods) at batch 8.
It also counts the FLOPs of one training step (``torch.utils.flop_counter``, forward + backward of
every phase) and prints the achieved TFLOP/s, so the first GPU that runs it
(``--device cuda --precision bf16 --paper-batch``) gives the per-method table of FLOPs/step and
utilisation from which full paper-schedule training times follow.

    .venv/bin/python benchmarks/train_step_time.py                         # VGAN family + TGAN
    .venv/bin/python benchmarks/train_step_time.py --methods vgan --profiles smoke --json out.json
    .venv/bin/python benchmarks/train_step_time.py --methods all --device cuda
    .venv/bin/python benchmarks/train_step_time.py --methods all --profiles paper --paper-batch --device cuda --precision bf16
    .venv/bin/python benchmarks/train_step_time.py --methods all --profiles paper --flops-only   # FLOPs/step table (CPU)

Not a test: numbers depend on the machine and its load (the 2-core CPU box is shared).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import os

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # silence the profiler's start/stop lines
import numpy as np
import torch

CONV_OPS = ("conv", "mkldnn_convolution", "convolution_backward", "slow_conv")
DEFAULT = "vgan,vgan_one_stream,vgan_future,tgan"


def _spec(frames: int, future: int, context: int = 1, conditioning: tuple[str, ...] = ()):
    from benchmark.data.base import Protocol, TaskProtocols
    from benchmark.methods import DataSpec

    syn = Protocol("synthesis", "synthesis", "train", 0, frames, (64, 64), 3)
    pred = Protocol("prediction", "prediction", "train", context, future, (64, 64), 3, conditioning=conditioning)
    return DataSpec("bench", 3, (64, 64), {"synthesis": TaskProtocols(syn, syn), "prediction": TaskProtocols(pred, pred)})


def _conv_share(prof) -> tuple[float, list[tuple[str, float]]]:
    total, conv, other = 0.0, 0.0, {}
    for e in prof.key_averages():
        t = e.self_cpu_time_total
        total += t
        if any(k in e.key for k in CONV_OPS):
            conv += t
        else:
            other[e.key] = other.get(e.key, 0.0) + t
    top = sorted(other.items(), key=lambda kv: -kv[1])[:3]
    return (conv / total if total else float("nan")), [(k, v / total) for k, v in top]


def step_flops(name: str, profile: str, device: str, batch: int | None) -> int:
    """FLOPs of one training step (forward + backward of every phase) of ``name``'s ``profile``."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.methods import TrainData
    from benchmark.registry import METHODS

    spec = _spec(16, 15)
    overrides = {"train.steps": 1, "train.checkpoint_every": 10**9, "train.log_every": 10**9}
    if batch:
        overrides["train.batch_size"] = batch
    method = METHODS.get(name).from_profile(profile, spec, overrides).to(device)
    frames = getattr(method.config, "frames", 16)
    videos = np.random.default_rng(0).integers(0, 256, size=(16, max(frames, 16), 3, 64, 64), dtype=np.uint8)
    data = TrainData(videos, {t: p.train for t, p in spec.protocols.items()}, "random")
    counter = FlopCounterMode(display=False)
    with counter, tempfile.TemporaryDirectory() as tmp:
        method.fit_stages(data, Path(tmp), seed=0, progress=False)
    return int(counter.get_total_flops())


def _train_fields(config) -> list[str]:
    """Names of ``config``'s training-loop configs (``train``, and e.g. ``lstm_train``, ``top_train``)."""
    import dataclasses

    return [f.name for f in dataclasses.fields(config)
            if dataclasses.is_dataclass(getattr(config, f.name)) and hasattr(getattr(config, f.name), "batch_size")]


def _stage_field(config, stage: str, fields: list[str]) -> str:
    """The training-loop config that stage ``stage`` runs with."""
    if hasattr(config, "stage_train"):
        chosen = config.stage_train(stage)
        return next(f for f in fields if getattr(config, f) == chosen)
    return f"{stage}_train" if f"{stage}_train" in fields else "train"


#: method -> (dataset, options) of the paper setting its FLOPs are counted on with --flops-only (the
#: dataset's training protocol: frames, resolution, channels; no data is read). Others (TGAN and MoCoGAN's
#: UCF101 needs its files to tell its protocol) use the bench spec, which is UCF101's 16 x 64 x 64 x 3.
PAPER_DATA: dict[str, tuple[str, dict]] = {
    "vgan": ("vgan-golf", {}), "vgan_one_stream": ("vgan-golf", {}), "vgan_ae_gmm": ("vgan-golf", {}),
    "svg_lp": ("kth", {}), "svg_fp": ("kth", {}), "drnet": ("kth", {}), "p2p": ("kth", {"two_ended": True}),
    "vrnn_hier": ("bair", {}), "savp": ("bair", {}), "savp_vae": ("bair", {}), "savp_gan": ("bair", {}),
    "savp_det": ("bair", {}), "sv2p": ("bair", {}), "videoflow": ("bair", {"protocol": "videoflow"}),
    "ddpae": ("mmnist", {"motion": "deterministic"}), "encodedec": ("mmnist", {"motion": "deterministic"}),
    "video_vqvae": ("kinetics600", {"size": 256}),
}


def paper_step_flops(name: str, profile: str, device: str, counted_batch: int) -> dict:
    """FLOPs of one optimiser step of every training stage at the profile's own batch sizes.

    Counted on a real step at ``min(counted_batch, batch)`` clips and scaled by ``batch / counted``:
    the counter's ops (convolutions, matrix products, attention) act on each clip independently, so
    their FLOPs are linear in the batch; BatchNorm and element-wise ops are not counted by
    ``torch.utils.flop_counter`` at any batch. Returns stage -> {batch, counted_batch, flops}."""
    import dataclasses

    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.methods import TrainData
    from benchmark.registry import METHODS

    cls = METHODS.get(name)
    if name in PAPER_DATA:
        from benchmark.data import load_dataset
        from benchmark.stages.spec import data_spec

        dataset, options = PAPER_DATA[name]
        with tempfile.TemporaryDirectory() as root:
            ds = load_dataset(dataset, root, **options)
            spec = data_spec(ds, [t for t in cls.tasks if t in ds.protocols])
    else:
        two_ended = ("end_frame",) if cls.dataset_options.get("two_ended") else ()
        spec = _spec(16, 14, context=2, conditioning=two_ended)  # SVG-style models need 2 context frames
    config = cls.profile_config(profile, spec)
    fields = _train_fields(config)
    paper_batch = {f: getattr(config, f).batch_size for f in fields}
    counted = {f: min(counted_batch, b) for f, b in paper_batch.items()}
    small = dataclasses.replace(config, **{f: dataclasses.replace(getattr(config, f), steps=1, batch_size=counted[f],
                                                                   checkpoint_every=10**9, log_every=10**9)
                                           for f in fields})
    method = cls(small, spec).to(device)
    protocols = {t: p.train for t, p in spec.protocols.items()}
    frames = max([getattr(small, "frames", 16), *(p.num_frames for p in protocols.values())])
    first = next(iter(protocols.values()))
    (h, w), c = first.resolution, first.channels
    videos = np.random.default_rng(0).integers(0, 256, size=(16, frames, c, h, w), dtype=np.uint8)
    data = TrainData(videos, protocols, "random")
    if spec.action_dim:
        data = dataclasses.replace(data, actions=np.zeros((16, frames, spec.action_dim), np.float32))
    out = {"dataset": {"name": spec.dataset, "protocols": {t: p.describe() for t, p in protocols.items()}}}
    with tempfile.TemporaryDirectory() as tmp:
        stages = method.stages()
        for stage in stages:
            counter = FlopCounterMode(display=False)
            with counter:
                method.fit(data, Path(tmp) / stage, seed=0, progress=False, stage=stage)
            method.load_state_dict(method.state_dict())
            field = _stage_field(config, stage, fields)
            flops = int(counter.get_total_flops())
            out[stage] = {"batch": paper_batch[field], "counted_batch": counted[field],
                          "flops": flops * paper_batch[field] / counted[field]}
    return out


def flops_table(names: list[str], profile: str, device: str, counted_batch: int) -> list[dict]:
    """Print and return the per-method FLOPs of one training step at the profile's batch."""
    from benchmark.methods import ProfileUnavailable
    from benchmark.utils import UserError

    rows = []
    print(f"{'method':16s} {'stage':13s} {'batch':>5s} {'counted':>7s} {'GFLOP/step':>12s}   "
          f"(profile {profile}; each on its paper's training protocol, else 64x64x3, 16 frames / 2 -> 14)", flush=True)
    for name in names:
        try:
            stages = paper_step_flops(name, profile, device, counted_batch)
        except (MemoryError, RuntimeError, ProfileUnavailable, UserError) as e:  # e.g. a billion-parameter prior in 24 GiB
            print(f"{name:16s} not counted: {type(e).__name__}: {str(e)[:120]}", flush=True)
            rows.append({"method": name, "profile": profile, "error": f"{type(e).__name__}: {e}"})
            continue
        data = stages.pop("dataset")
        print(f"{name:16s} on {data['name']}: " + "; ".join(data["protocols"].values()), flush=True)
        for stage, r in stages.items():
            print(f"{name:16s} {stage:13s} {r['batch']:5d} {r['counted_batch']:7d} {r['flops'] / 1e9:12.2f}", flush=True)
            rows.append({"method": name, "profile": profile, "stage": stage, "dataset": data, **r})
    return rows


def bench(name: str, profile: str, device: str, warmup: int, steps: int, batch: int | None) -> dict:
    from benchmark.methods import Conditioning, TrainData
    from benchmark.registry import METHODS

    cls = METHODS.get(name)
    spec = _spec(16, 15)
    # warm-up steps, timed steps, then one profiled step (the profiler's overhead stays out of the timing)
    overrides = {"train.steps": warmup + steps + 1, "train.checkpoint_every": 10**9, "train.log_every": 10**9}
    if batch:
        overrides["train.batch_size"] = batch
    method = cls.from_profile(profile, spec, overrides).to(device)
    cfg = method.config
    frames = getattr(cfg, "frames", 16)
    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, size=(16, max(frames, 16), 3, 64, 64), dtype=np.uint8)
    data = TrainData(videos, {t: p.train for t, p in spec.protocols.items()}, "random")
    times: list[float] = []
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    last = [time.perf_counter()]

    def callback(done: int, losses: dict) -> None:
        now = time.perf_counter()
        if warmup < done <= warmup + steps:
            times.append(now - last[0])
        if done == warmup + steps:
            prof.start()
        last[0] = now

    from benchmark.training import loop

    real_train = loop.train

    def timed_train(*a, **kw):
        return real_train(*a, **{**kw, "callback": callback})

    loop.train = timed_train
    try:
        with tempfile.TemporaryDirectory() as tmp:
            method.fit_stages(data, Path(tmp), seed=0, progress=False)
    finally:
        loop.train = real_train
    prof.stop()
    share, top = _conv_share(prof)
    params = sum(p.numel() for m in method.modules().values() for p in m.parameters())

    # Generation throughput at batch 8 (after one warm-up call).
    with torch.no_grad():
        if "synthesis" in cls.tasks:
            def run():
                return method.generate(Conditioning(8, min(frames, 16)), seed=0)
        else:
            ctx = torch.rand(8, 1, 3, 64, 64)

            def run():
                return method.predict(Conditioning(8, 15, context=ctx), seed=0)
        run()
        run()
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            run()
        gen = 8 * reps / (time.perf_counter() - t0)
    return {"method": name, "profile": profile, "batch": cfg.train.batch_size, "frames": frames,
            "params_m": params / 1e6, "step_s": statistics.median(times), "steps_timed": len(times),
            "conv_share": share, "top_other_ops": top, "samples_per_s": gen,
            "flag": bool(share < 0.5)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=DEFAULT, help="comma list, or 'all' (every trainable method)")
    p.add_argument("--profiles", default="smoke,paper")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"),
                   help="training precision (benchmark.training.runtime), as `benchmark train --precision`")
    p.add_argument("--paper-batch", action="store_true",
                   help="paper profile at its own (paper) batch size instead of batch 8")
    p.add_argument("--flops-only", action="store_true",
                   help="only the FLOPs of one step of every training stage at the profile's own batch "
                        "(counted at --flops-batch clips and scaled; no timing): the table a GPU run divides by")
    p.add_argument("--flops-batch", type=int, default=4, help="clips per counted step with --flops-only")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from benchmark.registry import METHODS

    names = [n for n in METHODS.list() if METHODS.get(n).trainable] if args.methods == "all" else args.methods.split(",")
    if args.flops_only:
        rows = [r for profile in args.profiles.split(",")
                for r in flops_table(names, profile, args.device, args.flops_batch)]
        if args.json:
            args.json.write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=2))
        return 0
    from benchmark.training.runtime import RuntimeOptions, applied

    rows = []
    for profile in args.profiles.split(","):
        for name in names:
            paper = profile == "paper"
            batch = None if (not paper or args.paper_batch) else 8
            with applied(RuntimeOptions(precision=args.precision)):
                row = bench(name, profile, args.device, warmup=1 if paper else 4, steps=2 if paper else 8,
                            batch=batch)
                row["flops_per_step"] = step_flops(name, profile, args.device, batch)
            row["tflops_per_s"] = row["flops_per_step"] / row["step_s"] / 1e12
            row["precision"] = args.precision
            rows.append(row)
            print(f"{name:16s} {profile:5s} batch {row['batch']:3d} {row['frames']:2d}f {row['params_m']:8.2f}M "
                  f"step {row['step_s']:7.3f}s  {row['flops_per_step'] / 1e9:9.1f} GFLOP/step "
                  f"{row['tflops_per_s']:7.3f} TFLOP/s  conv {row['conv_share']:5.1%}  gen {row['samples_per_s']:7.1f}/s"
                  + ("  FLAG: not conv-dominated: " + ", ".join(f"{k} {v:.0%}" for k, v in row["top_other_ops"])
                     if row["flag"] else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                         "threads": args.threads, "torch": torch.__version__, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
