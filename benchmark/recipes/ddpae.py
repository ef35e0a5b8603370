"""Hsieh et al., "Learning to Decompose and Disentangle Representations for Video Prediction"
(NeurIPS 2018, arXiv:1806.04166) as a recipe: Moving MNIST 10 -> 10, the paper's per-frame
binary cross-entropy and squared error.

The paper's metrics (upstream ``utils/metrics.py``) are, per predicted frame, the BCE and the
squared error *summed over the 64x64 pixels* (frames in [0, 1], predictions clipped to
[1e-4, 1 - 1e-4] for the BCE), averaged over frames and test sequences. They are not harness
metrics, so the runner computes them from the run's saved samples (``samples/prediction.npz``,
first sample of each clip) and the reference clips, after the ordinary run (which also scores
PSNR/SSIM). The DDPAE row's printed values are from the paper's Table 1 and stay [unverified] until
re-checked there.
"""

from __future__ import annotations

import numpy as np

from benchmark.reproduce import (Ours, Recipe, RecipeContext, RecipeOutcome, Reported, register_recipe,
                                 results_path, run_methods)

PAPER = ("Hsieh, Liu, Huang, Fei-Fei & Niebles, Learning to Decompose and Disentangle Representations "
         "for Video Prediction (NeurIPS 2018, arXiv:1806.04166)")
SOURCE = "arXiv:1806.04166 Table 1 (Moving MNIST)"
BCE, MSE = "bce_per_frame", "mse_per_frame"
NOTE = "[unverified] per predicted frame, summed over the pixels"


def per_frame_errors(samples: np.ndarray, reference: np.ndarray, context: int, k: int) -> tuple[float, float, int]:
    """``(BCE, MSE, n)``: per predicted frame, summed over pixels, averaged over frames and clips.

    ``samples`` uint8 ``(N*k, c+p, C, H, W)`` (context then predictions, ``k`` samples per clip in a
    row, as the sample stage saves them); ``reference`` uint8 ``(N, >= c+p, C, H, W)``. The first
    sample of each clip is scored.
    """
    pred = samples[::k, context:].astype(np.float64) / 255
    true = reference[:, context:context + pred.shape[1]].astype(np.float64) / 255
    sq = ((pred - true) ** 2).reshape(*pred.shape[:2], -1).sum(-1)
    p = np.clip(pred, 1e-4, 1 - 1e-4)
    bce = -(true * np.log(p) + (1 - true) * np.log(1 - p)).reshape(*pred.shape[:2], -1).sum(-1)
    return float(bce.mean()), float(sq.mean()), len(pred)


def _runner(recipe: Recipe, ctx: RecipeContext) -> RecipeOutcome:
    from benchmark.pipeline import load_dataset, reference_clips
    from benchmark.video import load_npz

    outcome = run_methods(recipe, ctx)
    ds = load_dataset(ctx.dataset, ctx.data_root, **ctx.dataset_options)
    protocol, ref = reference_clips(ds, "prediction")
    for row in recipe.rows():
        path = results_path(ctx.out, ctx, row.method).parent / "samples" / "prediction.npz"
        if not path.exists():
            continue
        with np.load(path) as z:
            k = int(z["num_samples"]) if "num_samples" in z else 1
        bce, mse, n = per_frame_errors(load_npz(path), np.asarray(ref.videos), protocol.context_frames, k)
        common = {"n": n, "dataset": ctx.dataset, "profile": ctx.profile, "results": str(path)}
        outcome.ours += [Ours(row.label, BCE, bce, **common), Ours(row.label, MSE, mse, **common)]
    return outcome


register_recipe(Recipe(
    name="ddpae_mmnist",
    title="DDPAE on Moving MNIST 10 -> 10: per-frame BCE and MSE",
    paper=PAPER,
    reproduces="Table 1 (Moving MNIST)",
    methods=("ddpae",),
    datasets={"smoke": "moving-shapes", "paper": "mmnist"},
    metrics=("psnr", "ssim"),
    task="prediction",
    reported=(Reported("ddpae", BCE, 223.0, dataset="mmnist", source=SOURCE, note=NOTE),
              Reported("ddpae", MSE, 38.9, dataset="mmnist", source=SOURCE, note=NOTE)),
    runner=_runner,
    description=(
        "Two components (one per digit), content 128, pose (s, x, y) predicted by the pose RNN; 10 input frames, "
        "10 predicted, posterior means at test. Per-frame BCE and MSE are summed over the 64x64 pixels as in the "
        "official evaluation code; the paper also compares with ConvLSTM, DFN, VPN and others in the same table."),
))
