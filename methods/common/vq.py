"""Vector quantisation with an EMA codebook and residual stacks (2D and 3D), as in VQ-VAE (van den
Oord et al. 2017, "Neural Discrete Representation Learning", NeurIPS, arXiv 1711.00937) and VQ-VAE-2
(Razavi et al. 2019, NeurIPS, arXiv 1906.00446).

* :class:`VectorQuantizerEMA` -- nearest-neighbour quantisation of ``(N, D, *grid)`` features into
  ``K`` codes, straight-through gradients, commitment loss ``beta ||z - sg(e)||^2``, and the codebook
  learned by exponential moving averages of the assigned counts ``N_i`` and sums ``m_i`` with
  ``e_i = m_i / N_i`` (Laplace-smoothed counts, as the reference implementations do, so a code with
  no assignments never divides by zero). Counts start at 1 and sums at the initial codebook, so an
  unused code keeps its vector instead of drifting to 0 or infinity. Under ``torch.distributed``
  the counts and sums are all-reduced, so every rank keeps the same codebook.
* :class:`ResidualStack` -- ``layers`` x (ReLU -> k^d conv hidden->residual -> ReLU -> 1x1 conv
  residual->hidden, added), then ReLU (the VQ-VAE encoder/decoder residual stack).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


def _all_reduce(*tensors: Tensor) -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for t in tensors:
            dist.all_reduce(t)


class VectorQuantizerEMA(nn.Module):
    """``(N, D, *grid)`` -> ``(quantised (straight-through), codes (N, *grid), commitment loss)``.

    Args:
        num_codes: K. dim: D.
        beta: commitment weight. decay: EMA decay gamma. eps: Laplace smoothing of the counts.
        init: ``"normal"`` (codebook ~ N(0, 1)) or ``"data"`` (the first training batch's features,
            drawn at random -- faster on tiny budgets).

    >>> vq = VectorQuantizerEMA(4, 2)
    >>> q, codes, loss = vq(torch.randn(3, 2, 5, 5))
    >>> tuple(q.shape), tuple(codes.shape), bool(loss >= 0)
    ((3, 2, 5, 5), (3, 5, 5), True)
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, decay: float = 0.99, eps: float = 1e-5,
                 init: str = "normal") -> None:
        super().__init__()
        if init not in ("normal", "data"):
            raise ValueError(f"codebook init must be 'normal' or 'data', got {init!r}")
        self.num_codes, self.dim, self.beta, self.decay, self.eps, self.init = num_codes, dim, beta, decay, eps, init
        embedding = torch.randn(num_codes, dim)
        self.register_buffer("embedding", embedding)
        self.register_buffer("cluster_size", torch.ones(num_codes))
        self.register_buffer("embed_sum", embedding.clone())
        self.register_buffer("initialized", torch.tensor(init == "normal"))

    def codes(self, z: Tensor) -> Tensor:
        """Nearest code of every position of ``z (N, D, *grid)`` -> ``(N, *grid)`` int64."""
        flat = z.movedim(1, -1).reshape(-1, self.dim).float()
        e = self.embedding
        dist2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)[None]
        return dist2.argmin(1).view(z.shape[0], *z.shape[2:])

    def lookup(self, codes: Tensor) -> Tensor:
        """``(N, *grid)`` codes -> ``(N, D, *grid)`` codebook vectors."""
        return F.embedding(codes, self.embedding).movedim(-1, 1)

    @torch.no_grad()
    def _data_init(self, flat: Tensor) -> None:
        g = torch.Generator(device="cpu").manual_seed(0)
        idx = torch.randint(0, flat.shape[0], (self.num_codes,), generator=g).to(flat.device)
        picked = flat[idx].clone()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.broadcast(picked, 0)  # every rank starts from rank 0's draw
        self.embedding.copy_(picked)
        self.embed_sum.copy_(self.embedding)
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, codes: Tensor) -> None:
        onehot = F.one_hot(codes.reshape(-1), self.num_codes).to(flat.dtype)
        counts, sums = onehot.sum(0), onehot.T @ flat
        _all_reduce(counts, sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
        self.embedding.copy_(self.embed_sum / smoothed[:, None])

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        flat = z.movedim(1, -1).reshape(-1, self.dim).float()
        if self.training and not bool(self.initialized):
            self._data_init(flat.detach())
        codes = self.codes(z)
        q = self.lookup(codes).to(z.dtype)
        if self.training:
            self._ema_update(flat.detach(), codes)
        commitment = self.beta * F.mse_loss(z, q.detach())
        return z + (q - z).detach(), codes, commitment


class ResidualStack(nn.Module):
    """``layers`` residual blocks of ``dims``-D convs (kernel ``kernel`` then 1), then ReLU."""

    def __init__(self, hidden: int, residual: int, layers: int, dims: int = 3, kernel: int = 3) -> None:
        super().__init__()
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.blocks = nn.ModuleList(nn.Sequential(nn.ReLU(), conv(hidden, residual, kernel, padding=kernel // 2),
                                                  nn.ReLU(), conv(residual, hidden, 1))
                                    for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = x + block(x)
        return F.relu(x)
