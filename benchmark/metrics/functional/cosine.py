"""Cosine similarity of feature maps and the diversity of samples (SAVP's metrics), pure functions.

SAVP (Lee et al. 2018, arXiv 1804.01523; ``alexlee-gk/video_prediction`` ``metrics.py`` as of the paper,
``cosine_similarity`` / ``vgg_cosine_similarity``): at every spatial position the channel vectors of
the two maps are L2-normalised (``x / (||x|| + 1e-10)``) and their dot product taken; the map's score is
the mean over positions, and the frame's score the mean over the feature layers.

>>> import torch
>>> a = torch.rand(2, 8, 4, 4)
>>> torch.allclose(channel_cosine_similarity(a, 3 * a), torch.ones(2))   # invariant to scale
True
>>> float(channel_cosine_similarity(a, -a)[0])
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
    i, j = torch.triu_indices(k, k, offset=1, device=samples.device)
    x = samples[:, i].flatten(0, 2)
    y = samples[:, j].flatten(0, 2)
    d = distance(x, y).double().view(b, len(i), p)
    return d.mean(dim=1)
