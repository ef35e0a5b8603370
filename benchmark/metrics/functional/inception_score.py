"""Inception Score from class probabilities, and its streaming sufficient statistics.

IS = exp(E_x KL(p(y|x) || p(y))). For a group of n samples the KL mean only needs
``n``, ``sum_x p(y|x)`` ``(K,)`` and ``sum_x sum_y p log p`` (a scalar):
E KL = (1/n) sum_x sum_y p log p - sum_y pbar log pbar, with pbar = sum_x p / n.
These sums add across batches and processes (float64).

>>> import torch
>>> from benchmark.metrics.functional.inception_score import inception_score
>>> round(inception_score(torch.eye(4).repeat(5, 1), splits=1)[0], 6)  # confident, 4 classes
4.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def xlogx(p: Tensor) -> Tensor:
    """p log p with 0 log 0 = 0 (float64)."""
    p = p.to(torch.float64)
    return torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p))


def group_stats(probs: Tensor, groups: Tensor, num_groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group ``n (G,)``, ``sum p (G, K)``, ``sum p log p (G,)`` of ``probs (N, K)``."""
    probs = probs.to(torch.float64)
    n = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, groups, torch.ones(len(probs), dtype=torch.float64))
    s = torch.zeros(num_groups, probs.shape[1], dtype=torch.float64).index_add_(0, groups, probs)
    e = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, groups, xlogx(probs).sum(1))
    return n, s, e


def scores_from_stats(n: Tensor, sum_p: Tensor, sum_plogp: Tensor) -> Tensor:
    """IS of each non-empty group from its sufficient statistics."""
    keep = n > 0
    n, sum_p, sum_plogp = n[keep], sum_p[keep], sum_plogp[keep]
    pbar = sum_p / n[:, None]
    kl = sum_plogp / n - xlogx(pbar).sum(1)
    return torch.exp(kl)


def inception_score(probs: Tensor, splits: int = 10) -> tuple[float, float]:
    """Reference IS of ``probs (N, K)``: contiguous ``splits`` chunks, mean and std of the scores."""
    n = probs.shape[0]
    groups = torch.arange(n) * splits // n
    scores = scores_from_stats(*group_stats(probs, groups, splits))
    std = float(scores.std(unbiased=False)) if len(scores) > 1 else 0.0
    return float(scores.mean()), std if math.isfinite(std) else 0.0
