"""Reductions over the k samples of stochastic video prediction.

Protocol (SVG, SAVP, SRVP): for each test sequence, score every sample frame by frame, average each
sample's scores over time, and keep the sample with the best average (*best-per-sequence*: one
sample for the whole curve, never a different sample per timestep). The mean over samples and the
worst sample are reported alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SampleReduction:
    """Per-sequence curves ``(B, p)`` and the chosen sample indices ``(B,)``."""

    best: Tensor
    mean: Tensor
    worst: Tensor
    best_index: Tensor
    worst_index: Tensor


def reduce_samples(scores: Tensor, higher_is_better: bool = True) -> SampleReduction:
    """Best / mean / worst of k samples per sequence, selected on the time-averaged score.

    Args:
        scores: per-sample per-timestep scores ``(B, k, p)``.
        higher_is_better: whether larger scores are better (PSNR, SSIM) or worse (LPIPS).

    Returns:
        :class:`SampleReduction` with curves ``(B, p)``: ``best`` is the full curve of the sample
        whose time average is best, ``worst`` likewise, ``mean`` the mean over samples at each
        timestep. Ties go to the lowest sample index.

    >>> import torch
    >>> s = torch.tensor([[[1., 5.], [3., 2.]]])  # one sequence, 2 samples, 2 timesteps
    >>> r = reduce_samples(s)
    >>> r.best, r.best_index  # sample 0 averages 3 > 2.5; not the per-timestep max [3., 5.]
    (tensor([[1., 5.]]), tensor([0]))
    """
    if scores.ndim != 3:
        raise ValueError(f"expected scores (B, k, p), got shape {tuple(scores.shape)}")
    if scores.shape[1] == 0 or scores.shape[2] == 0:
        raise ValueError(f"need at least one sample and one timestep, got shape {tuple(scores.shape)}")
    avg = scores.mean(2)  # (B, k)
    # argmax/argmin return the first extreme index on ties
    best_idx = avg.argmax(1) if higher_is_better else avg.argmin(1)
    worst_idx = avg.argmin(1) if higher_is_better else avg.argmax(1)
    rows = torch.arange(scores.shape[0], device=scores.device)
    return SampleReduction(best=scores[rows, best_idx], mean=scores.mean(1), worst=scores[rows, worst_idx],
                           best_index=best_idx, worst_index=worst_idx)
