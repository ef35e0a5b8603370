"""Fréchet distance between Gaussians and the streaming moments it is computed from.

FD = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64. The trace of the square root is
taken as in tf-gan's ``trace_sqrt_product``: with A = S1^(1/2) (a symmetric eigen square root),
Tr((S1 S2)^(1/2)) = Tr((A S2 A)^(1/2)) = sum sqrt(eig(A S2 A)), and A S2 A is symmetric PSD, so
the eigenvalues are real; round-off negatives are clamped to 0. This stays correct when N is smaller
than the feature dimension (singular covariances), where a bare ``scipy.linalg.sqrtm`` of the
non-symmetric S1 S2 can return complex garbage, negative or 1e28 distances.

>>> import torch
>>> from benchmark.metrics.functional.frechet import frechet_distance
>>> mu, s = torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
>>> frechet_distance(mu, s, mu + 1, s)
3.0
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _f64(x) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    return torch.as_tensor(x).to(torch.float64).cpu()


def sqrtm_psd(sigma: Tensor) -> Tensor:
    """Symmetric square root of a symmetric PSD matrix by eigendecomposition (negatives clamped)."""
    sigma = (sigma + sigma.T) / 2
    w, v = torch.linalg.eigh(sigma)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> float:
    """Tr((sigma1 sigma2)^(1/2)) for symmetric PSD ``sigma1``, ``sigma2`` ``(d, d)``, float64."""
    a = sqrtm_psd(_f64(sigma1))
    m = a @ _f64(sigma2) @ a
    w = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(w.clamp_min(0).sqrt().sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: means ``(d,)`` (tensors or numpy arrays).
        sigma1, sigma2: covariances ``(d, d)``.

    Returns:
        The distance as a Python float (float64 arithmetic), clamped at 0.
    """
    mu1, mu2, s1, s2 = _f64(mu1), _f64(mu2), _f64(sigma1), _f64(sigma2)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.numel(), mu1.numel()):
        raise ValueError(f"frechet_distance: shapes mu1 {tuple(mu1.shape)}, sigma1 {tuple(s1.shape)}, "
                         f"mu2 {tuple(mu2.shape)}, sigma2 {tuple(s2.shape)} do not match (d,), (d, d)")
    diff = mu1 - mu2
    fd = float(diff @ diff) + float(torch.trace(s1) + torch.trace(s2)) - 2.0 * trace_sqrt_product(s1, s2)
    return max(fd, 0.0)


def moments(n, total, outer) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance (divide by n-1) from a count, a sum ``(d,)`` and a sum of outer
    products ``(d, d)`` (all float64)."""
    n = float(n)
    if n < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {int(n)}")
    total, outer = _f64(total), _f64(outer)
    mu = total / n
    cov = (outer - n * torch.outer(mu, mu)) / (n - 1)
    return mu, (cov + cov.T) / 2


def feature_moments(features) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance of features ``(N, d)`` (float64)."""
    f = _f64(features)
    return moments(f.shape[0], f.sum(0), f.T @ f)


def frechet_distance_features(features1, features2) -> float:
    """FD between two feature sets ``(N1, d)``, ``(N2, d)``."""
    return frechet_distance(*feature_moments(features1), *feature_moments(features2))
