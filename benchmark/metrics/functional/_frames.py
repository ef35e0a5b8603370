"""Shared helpers for per-frame image metrics: broadcasting and memory-bounded chunking."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

#: default number of pixel values (frames x C x H x W) handled at once; bounds peak memory
#: (about 2^19 float64 values x ~12 temporaries ≈ 50 MB) and never changes the result
DEFAULT_CHUNK_ELEMENTS = 1 << 19


def map_frame_pairs(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor,
                    chunk: int | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
    """Apply a per-frame-pair function over broadcast leading dims, ``chunk`` frames at a time.

    Args:
        fn: maps two frame stacks ``(M, C, H, W)`` (in ``dtype``) to scores ``(M,)``.
        x: frames ``(..., C, H, W)``.
        y: frames ``(..., C, H, W)``; leading dims broadcast against ``x`` (e.g. a target
            ``(B, 1, p, C, H, W)`` against samples ``(B, k, p, C, H, W)``) without being copied whole.
        chunk: frames per call of ``fn``; default: as many as fit :data:`DEFAULT_CHUNK_ELEMENTS`.
        dtype: the dtype ``fn`` computes in.

    Returns:
        Scores with the broadcast leading shape, in ``dtype``.
    """
    if x.shape[-3:] != y.shape[-3:]:
        raise ValueError(f"frame shapes differ: {tuple(x.shape)} vs {tuple(y.shape)} "
                         f"(expected matching trailing (C, H, W))")
    frame = x.shape[-3:]
    lead = torch.broadcast_shapes(x.shape[:-3], y.shape[:-3])
    xe, ye = x.expand(*lead, *frame), y.expand(*lead, *frame)
    total = 1
    for s in lead:
        total *= s
    out = torch.empty(total, dtype=dtype, device=x.device)
    if total == 0:
        return out.reshape(lead)
    if len(lead) == 0:
        return fn(xe[None].to(dtype), ye[None].to(dtype)).reshape(lead)
    if chunk is None:
        chunk = DEFAULT_CHUNK_ELEMENTS // max(1, frame.numel())
    chunk = max(1, int(chunk))
    for start in range(0, total, chunk):
        flat = torch.arange(start, min(start + chunk, total), device=x.device)
        idx = torch.unravel_index(flat, lead)
        out[start:start + len(flat)] = fn(xe[idx].to(dtype), ye[idx].to(dtype))
    return out.reshape(lead)
