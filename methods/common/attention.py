"""Causal multi-head self-attention over a flattened raster of positions, with a key/value cache.

Used by the autoregressive PixelCNN priors (:mod:`methods.common.pixelcnn`) the way PixelSNAIL
(Chen et al. 2018, ICML, arXiv 1712.09763) and VQ-VAE-2's priors (Razavi et al. 2019, NeurIPS, arXiv
1906.00446) interleave attention with gated convolutions. Position ``i`` attends to positions
``j <= i`` (its own features depend only on inputs before ``i``, so including itself is causal).
Keys and queries also see fixed coordinate channels (the "background" of PixelSNAIL), since
attention alone is blind to position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def raster_coordinates(shape: tuple[int, ...]) -> Tensor:
    """``(prod(shape), len(shape))`` coordinates in [-1, 1] of every position of ``shape`` in raster order.

    >>> raster_coordinates((2, 3))[:, 1].tolist()
    [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]
    """
    axes = [torch.linspace(-1.0, 1.0, n) if n > 1 else torch.zeros(1) for n in shape]
    grid = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grid], dim=1)


class CausalSelfAttention(nn.Module):
    """``(N, L, C)`` -> ``(N, L, C)``: pre-LayerNorm, ``heads``-head causal attention, output projection.

    :meth:`step` computes one new position from a cache of the earlier keys/values, so sampling
    never recomputes the prefix.

    >>> att = CausalSelfAttention(8, heads=2, pos_dim=1).eval()
    >>> x, pos = torch.randn(2, 5, 8), torch.linspace(-1, 1, 5)[:, None]
    >>> full = att(x, pos)
    >>> cache = att.new_cache(2, 5)
    >>> steps = torch.stack([att.step(x[:, i], pos[i], cache) for i in range(5)], dim=1)
    >>> bool(torch.allclose(full, steps, atol=1e-5))
    True
    """

    def __init__(self, channels: int, heads: int, pos_dim: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention: {channels} channels do not split into {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels + pos_dim, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def _qkv(self, x: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (N, L, C)``, ``pos (L, P)`` -> q, k, v each ``(N, heads, L, C/heads)``."""
        n, length, c = x.shape
        inp = torch.cat([self.norm(x), pos.to(x.dtype).expand(n, length, -1)], dim=-1)
        q, k, v = self.qkv(inp).chunk(3, dim=-1)
        return tuple(t.view(n, length, self.heads, c // self.heads).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        q, k, v = self._qkv(x, pos)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(x.shape))

    def new_cache(self, batch: int, length: int, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> dict:
        c = self.proj.in_features
        shape = (batch, self.heads, length, c // self.heads)
        return {"k": torch.zeros(shape, device=device, dtype=dtype), "v": torch.zeros(shape, device=device, dtype=dtype),
                "n": 0}

    def step(self, x: Tensor, pos: Tensor, cache: dict) -> Tensor:
        """One position ``x (N, C)`` at ``pos (P,)``; appends its key/value to ``cache``; -> ``(N, C)``."""
        q, k, v = self._qkv(x[:, None], pos[None])
        i = cache["n"]
        cache["k"][:, :, i] = k[:, :, 0]
        cache["v"][:, :, i] = v[:, :, 0]
        cache["n"] = i + 1
        y = F.scaled_dot_product_attention(q, cache["k"][:, :, :i + 1], cache["v"][:, :, :i + 1])
        return self.proj(y[:, :, 0].reshape(x.shape))
