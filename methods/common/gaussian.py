"""Diagonal Gaussians for variational models: reparameterised samples, log densities, analytic KL.

Used by the latent-variable predictors (hierarchical VRNN, DDPAE, EncODEDec). Everything is
elementwise on tensors of any shape; callers sum over the dimensions their objective sums over.
Variances are carried as log-variances.

>>> import torch
>>> mu, lv = torch.zeros(3), torch.zeros(3)
>>> float(gaussian_kl(mu, lv, mu, lv).sum())
0.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def sample_gaussian(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``mean + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` drawn from ``generator`` (reparameterised).

    A seeded ``generator`` on the tensors' device makes samples independent of the global RNG.
    """
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * eps


def gaussian_log_prob(x: Tensor, mean: Tensor, logvar: Tensor | float) -> Tensor:
    """Elementwise ``log N(x; mean, exp(logvar))`` in nats."""
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    return -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def gaussian_kl(mean_q: Tensor, logvar_q: Tensor, mean_p: Tensor | float = 0.0,
                logvar_p: Tensor | float = 0.0) -> Tensor:
    """Elementwise ``KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p)))`` in nats (closed form).

    >>> import torch
    >>> round(float(gaussian_kl(torch.tensor(1.0), torch.tensor(0.0))), 6)  # KL(N(1,1) || N(0,1)) = 1/2
    0.5
    """
    mean_p = torch.as_tensor(mean_p, dtype=mean_q.dtype, device=mean_q.device)
    logvar_p = torch.as_tensor(logvar_p, dtype=mean_q.dtype, device=mean_q.device)
    return 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mean_q - mean_p) ** 2) * torch.exp(-logvar_p) - 1.0)
