"""SAVP (+ ablations) and SV2P on this machine: paper-profile training step and generation speed.

For each method, the ``paper`` profile on BAIR-shaped data (64x64 RGB, 2 -> 10 training clips):

* training step: median seconds of a full step (every phase: discriminator then generator for the GAN
  variants) at ``--batch`` clips, after a warm-up step;
* where the time goes, from one profiled step: the share of CPU time in convolutions (forward and
  backward, incl. transposed and 3D) and in the transformation layers (CDNA/DNA application and the
  masked composite, forward + backward, measured in isolation on the step's tensor shapes and multiplied
  by the number of calls per step);
* generation: videos/s of ``predict`` at ``k = 100`` samples per context on the BAIR test protocol
  (2 -> 28), ``--contexts`` contexts.

    .venv/bin/python benchmarks/savp_sv2p_perf.py                      # all five, CPU
    .venv/bin/python benchmarks/savp_sv2p_perf.py --methods savp --batch 2 --json out.json
    .venv/bin/python benchmarks/savp_sv2p_perf.py --device cuda --batch 16

Not a test: the figures depend on the machine and its load (print ``os.getloadavg()`` alongside).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("KINETO_LOG_LEVEL", "5")
import numpy as np  # noqa: E402
import torch  # noqa: E402

CONV_OPS = ("conv", "mkldnn_convolution", "convolution_backward", "slow_conv", "cudnn_convolution")
ALL = "savp,savp_vae,savp_gan,savp_det,sv2p"


def _spec():
    from benchmark.data.base import Protocol, TaskProtocols
    from benchmark.methods import DataSpec

    train = Protocol("prediction-2to10", "prediction", "train", 2, 10, (64, 64), 3)
    test = Protocol("prediction-2to28", "prediction", "test", 2, 28, (64, 64), 3, samples_per_context=100)
    return DataSpec("bair", 3, (64, 64), {"prediction": TaskProtocols(train, test)})


def _batch(method, batch: int, device: torch.device):
    from benchmark.training.loop import Batch

    cfg = method.config
    t = cfg.context_frames + cfg.future_frames
    x = torch.rand(batch, t, cfg.channels, *cfg.resolution, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    return Batch(videos=x, index=torch.zeros(batch, dtype=torch.long), start=torch.zeros(batch, dtype=torch.long),
                 step=150_000, generator=g)  # a step in the last phase: every loss term and path is active


def _step_fn(method):
    """One training step (all phases, with zero_grad/backward/step) as the shared loop runs it."""
    params = [p for m in method.modules().values() for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-4)
    if hasattr(method, "_forward_train"):  # SAVP family: make_batch, then D phase, then G phase
        def step(batch):
            out = method._forward_train(batch)
            if method.disc is not None:
                opt.zero_grad(set_to_none=True)
                method._d_loss(out)[0].backward()
                opt.step()
            opt.zero_grad(set_to_none=True)
            method._g_loss(out)[0].backward()
            opt.step()
    else:
        def step(batch):
            opt.zero_grad(set_to_none=True)
            method._loss(batch)[0].backward()
            opt.step()
    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _transform_seconds(method, batch: int, device: torch.device) -> tuple[float, int]:
    """Seconds per training step spent in the transformation layers (fwd + bwd, measured alone)."""
    from methods.common.transforms import apply_cdna, composite

    cfg = method.config
    h, w = cfg.resolution[0] // cfg.frame_scale, cfg.resolution[1] // cfg.frame_scale
    steps = cfg.context_frames + cfg.future_frames - 1
    if hasattr(method, "_forward_train"):
        n_kernels, n_masks = cfg.num_transformed_images, method.generator.num_masks
        paths = int(method.encoder is not None) + int(method.disc is not None or method.encoder is None)
    else:
        n_kernels, n_masks, paths = cfg.num_masks, cfg.num_masks + 1, 1
    k = cfg.kernel_size
    img = torch.rand(batch, cfg.channels, h, w, device=device, requires_grad=True)
    ker = torch.rand(batch, n_kernels, k, k, device=device, requires_grad=True)
    masks = torch.rand(batch, n_masks, 1, h, w, device=device, requires_grad=True)
    pad = "symmetric" if hasattr(method, "_forward_train") else "zeros"

    def once():
        t = apply_cdna(img, ker / ker.sum((2, 3), keepdim=True), padding=pad)
        cands = torch.cat([t, img[:, None].expand(-1, n_masks - n_kernels, -1, -1, -1)], dim=1)
        composite(cands, masks).sum().backward()

    once()
    _sync(device)
    reps = 5
    clock = time.process_time if device.type == "cpu" else time.perf_counter  # CPU: load-robust CPU seconds
    t0 = clock()
    for _ in range(reps):
        once()
    _sync(device)
    calls = steps * paths
    return (clock() - t0) / reps * calls, calls


def bench(name: str, batch: int, contexts: int, device: torch.device, steps: int) -> dict:
    from benchmark.registry import METHODS
    import methods  # noqa: F401

    cls = METHODS.get(name)
    method = cls.from_profile("paper", _spec()).to(device)
    for m in method.modules().values():
        m.train()
    step = _step_fn(method)
    b = _batch(method, batch, device)
    step(b)  # warm-up
    _sync(device)
    times, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step(b)
        _sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = statistics.median(times)

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(b)
        _sync(device)
    total = conv = 0.0
    for e in prof.key_averages():
        total += e.self_cpu_time_total
        if any(k in e.key for k in CONV_OPS):
            conv += e.self_cpu_time_total
    transform_s, calls = _transform_seconds(method, batch, device)

    for m in method.modules().values():
        m.eval()
    context = torch.rand(contexts, 2, 3, 64, 64)
    method.predict_frames(context[:1], 28, 2, None, seed=0)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    out = method.predict_frames(context, 28, 100, None, seed=0)
    gen_s, gen_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in method.modules().items()}
    return {"method": name, "batch": batch, "step_s": round(med, 3), "step_times": [round(t, 3) for t in times],
            "step_cpu_s": round(statistics.median(cpu), 3),  # CPU seconds of this process (load-independent-ish)
            "conv_share": round(conv / total, 3) if total else None,
            "transform_share": round(min(transform_s / (statistics.median(cpu) if device.type == "cpu" else med), 1.0), 3),
            "transform_calls_per_step": calls,
            "videos_per_s_k100": round(out.shape[0] * out.shape[1] / gen_s, 2),
            "videos_per_cpu_s_k100": round(out.shape[0] * out.shape[1] / gen_cpu, 2), "generated": list(out.shape),
            "params": n_params}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default=ALL)
    ap.add_argument("--batch", type=int, default=4, help="training clips per step (paper: 16 or 32)")
    ap.add_argument("--contexts", type=int, default=2, help="contexts for generation (x 100 samples)")
    ap.add_argument("--steps", type=int, default=2, help="timed training steps after the warm-up")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for name in args.methods.split(","):
        r = bench(name, args.batch, args.contexts, device, args.steps)
        rows.append(r)
        print(json.dumps(r), flush=True)
    meta = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "loadavg": os.getloadavg(), "device": str(device)}
    print(json.dumps(meta))
    print(f"\n{'method':10s} {'step (s)':>9s} {'step CPU s':>11s} {'conv':>6s} {'transforms':>11s} "
          f"{'videos/s @k=100':>16s} {'videos/CPU-s':>13s}")
    for r in rows:
        print(f"{r['method']:10s} {r['step_s']:9.2f} {r['step_cpu_s']:11.2f} {r['conv_share']:6.0%} "
              f"{r['transform_share']:11.1%} {r['videos_per_s_k100']:16.2f} {r['videos_per_cpu_s_k100']:13.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
