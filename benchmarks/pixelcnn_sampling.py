"""Autoregressive sampling speed of Video VQ-VAE's PixelCNN priors: cached vs uncached.

The cached sampler (:meth:`methods.common.pixelcnn.CausalPixelCNN.sample`) keeps every layer's
activations and the attention keys/values and computes one row of the vertical stream / one
position of the horizontal stream per step; the uncached one recomputes the full forward pass for
every position. Both draw identical samples (tests/methods/video_vqvae). Prints samples/s of the
top prior, of one bottom slice and of whole predicted clips (cached only), for a profile's sizes
with random weights (speed does not depend on the weights).

Usage: ``python benchmarks/pixelcnn_sampling.py [--profile cpu] [--batch 8] [--threads 1] [--device cpu]``
"""

from __future__ import annotations

import argparse
import time

import torch


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"))
    ap.add_argument("--dataset", default="moving-shapes")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-uncached", action="store_true", help="paper sizes: the uncached sampler takes hours")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from benchmark.methods import Conditioning
    from benchmark.pipeline import data_spec
    from benchmark.registry import DATASETS, METHODS

    import methods  # noqa: F401  (registers)

    ds = DATASETS.build(args.dataset)
    cls = METHODS.get("video_vqvae")
    method = cls.from_profile(args.profile, data_spec(ds, cls.tasks)).to(args.device)
    method._ready()
    cfg, n = method.config, args.batch
    top, bottom = method._nets["top_prior"].eval(), method._nets["bottom_prior"].eval()
    dev = torch.device(args.device)
    t_cond = torch.randn(n, cfg.top_cond_hidden, *top.pixelcnn.shape, device=dev)
    b_cond = torch.randn(n, cfg.bottom_cond_hidden, *bottom.pixelcnn.shape, device=dev)
    rows = []
    for name, net, cond in (("top prior", top.pixelcnn, t_cond), ("bottom slice", bottom.pixelcnn, b_cond)):
        g = lambda: torch.Generator(device=dev).manual_seed(0)  # noqa: E731
        cached = timed(lambda: net.sample(n, cond, generator=g()))
        uncached = None if args.skip_uncached else timed(lambda: net.sample_uncached(n, cond, generator=g()))
        rows.append((name, "x".join(map(str, net.shape)), cached, uncached))
    ctx = torch.rand(n, cfg.context_frames, cfg.channels, *cfg.resolution, device=dev)
    clip = timed(lambda: method.predict(Conditioning(n, cfg.frames - cfg.context_frames, context=ctx), seed=0))

    print(f"video_vqvae {args.profile} profile on {args.dataset}, batch {n}, {args.threads} thread(s), {args.device}")
    print(f"{'network':<14}{'grid':>10}{'cached samples/s':>18}{'uncached samples/s':>20}{'speed-up':>10}")
    for name, grid, c, u in rows:
        us = f"{n / u:20.3f}" if u else f"{'-':>20}"
        sp = f"{u / c:9.1f}x" if u else f"{'-':>10}"
        print(f"{name:<14}{grid:>10}{n / c:18.3f}{us}{sp}")
    print(f"whole clips ({cfg.context_frames} -> {cfg.frames - cfg.context_frames} frames, cached): "
          f"{n / clip:.3f} clips/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
