"""Cosine similarity of feature maps and the diversity of samples (SAVP's metrics), pure functions.

SAVP (Lee et al. 2018, arXiv 1804.01523; ``alexlee-gk/video_prediction`` ``metrics.py`` as of the paper,
``cosine_similarity`` / ``vgg_cosine_similarity``): at every spatial position the channel vectors of
the two maps are L2-normalised (``x / (||x|| + 1e-10)``) and their dot product taken; the map's score is
the mean over positions, and the frame's score the mean over the feature layers.

>>> import torch
>>> a = torch.rand(2, 8, 4, 4)
>>> torch.allclose(channel_cosine_similarity(a, 3 * a), torch.ones(2))   # invariant to scale
True
>>> round(float(channel_cosine_similarity(a, -a)[0]), 6)   # exact -1 up to float32 rounding
-1.0
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

EPS = 1e-10


def channel_cosine_similarity(a: Tensor, b: Tensor, eps: float = EPS) -> Tensor:
    """``(N, C, H, W)`` maps -> ``(N,)``: mean over positions of the cosine of the channel vectors."""
    a = a / (a.norm(dim=1, keepdim=True) + eps)
    b = b / (b.norm(dim=1, keepdim=True) + eps)
    return (a * b).sum(dim=1).flatten(1).mean(dim=1)


def layered_cosine_similarity(features_a: list[Tensor], features_b: list[Tensor], eps: float = EPS) -> Tensor:
    """Mean over layers of :func:`channel_cosine_similarity`: ``(N,)`` in float64."""
    if len(features_a) != len(features_b) or not features_a:
        raise ValueError(f"need the same non-zero number of layers, got {len(features_a)} and {len(features_b)}")
    sims = [channel_cosine_similarity(fa.double(), fb.double(), eps) for fa, fb in zip(features_a, features_b)]
    return torch.stack(sims).mean(dim=0)


def mean_pairwise(samples: Tensor, distance: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Mean over the k(k-1)/2 unordered pairs of samples of a per-frame ``distance``.

    Args:
        samples: ``(B, k, p, ...)``.
        distance: ``(x, y)`` each ``(M, ...)`` frames -> ``(M,)`` distances.

    Returns:
        ``(B, p)`` float64; zeros when ``k < 2`` (a single sample has no diversity).

    >>> s = torch.tensor([0., 1., 3.]).view(1, 3, 1, 1)       # one sequence, 3 samples, 1 frame
    >>> mean_pairwise(s, lambda x, y: (x - y).abs().flatten(1).mean(1)).item()   # (1 + 3 + 2) / 3
    2.0
    """
    b, k, p = samples.shape[:3]
    out = torch.zeros(b, p, dtype=torch.float64, device=samples.device)
    if k < 2:
        return out
    # one pair at a time: materialising all k(k-1)/2 pairs would take k/2 times the samples' memory
    for i in range(k):
        for j in range(i + 1, k):
            d = distance(samples[:, i].flatten(0, 1), samples[:, j].flatten(0, 1))
            out += d.double().view(b, p)
    return out / (k * (k - 1) / 2)


#: up to this many samples, :func:`mean_pairwise_l1` orders them with a sorting network of elementwise
#: min/max (k²/2 passes; ~4x faster than ``sort`` along a short strided dim at k = 5), else with ``sort``
SORTING_NETWORK_MAX_K = 10


def _sorted_samples(x: Tensor) -> Tensor:
    """``(b, k, n)`` -> the k values of every ``(b, ·, n)`` position in ascending order (the same values
    as ``x.sort(dim=1).values``)."""
    k = x.shape[1]
    if k > SORTING_NETWORK_MAX_K:
        return x.sort(dim=1).values
    v = list(x.unbind(1))
    for r in range(k):  # odd-even transposition sort: k rounds of compare-exchange between neighbours
        for i in range(r % 2, k - 1, 2):
            v[i], v[i + 1] = torch.minimum(v[i], v[i + 1]), torch.maximum(v[i], v[i + 1])
    return torch.stack(v, 1)


def mean_pairwise_l1(samples: Tensor) -> Tensor:
    """Mean over the k(k-1)/2 pairs of the mean absolute difference, per frame: ``(B, k, p, ...) -> (B, p)``.

    Sorting the k values of each pixel gives ``Σ_{i<j} |x_i - x_j| = Σ_i (2i - k + 1) x_(i)``: O(k log k)
    per pixel instead of O(k²) pairs, and no pair tensor. The values are ordered in their own dtype (the
    order, and so the float64 sum, is the same as after the cast), with a sorting network for small k.

    >>> s = torch.tensor([0., 1., 3., 7.]).view(1, 4, 1, 1)
    >>> mean_pairwise_l1(s).item()     # pairs 1, 3, 7, 2, 6, 4
    3.8333333333333335
    """
    b, k, p = samples.shape[:3]
    out = torch.zeros(b, p, dtype=torch.float64, device=samples.device)
    if k < 2:
        return out
    w = (2 * torch.arange(k, device=samples.device, dtype=torch.float64) - k + 1).view(1, k, 1)
    for t in range(p):  # one frame index at a time bounds the memory of the sort
        x = _sorted_samples(samples[:, :, t].reshape(b, k, -1)).double()
        out[:, t] = (x * w).sum(dim=1).mean(dim=1)
    return out / (k * (k - 1) / 2)


def pairwise_cosine_similarity(features: Tensor, eps: float = EPS) -> Tensor:
    """``(N, k, C, H, W)`` maps of k samples -> ``(N, k, k)``: entry ``(i, j)`` is
    :func:`channel_cosine_similarity` of samples i and j (mean over positions of the channel cosine),
    as one matrix product of the position-normalised maps.

    >>> f = torch.rand(2, 3, 4, 5, 5)
    >>> g = pairwise_cosine_similarity(f)
    >>> torch.allclose(g[:, 0, 1], channel_cosine_similarity(f[:, 0], f[:, 1]).double())
    True
    """
    n, k, c, h, w = features.shape
    f = features.double()
    f = f / (f.norm(dim=2, keepdim=True) + eps)
    flat = f.reshape(n, k, c * h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
