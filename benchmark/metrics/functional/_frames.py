"""Shared helpers for per-frame image metrics: broadcasting and memory-bounded chunking."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

#: default number of pixel values (frames x C x H x W) handled at once; bounds peak memory
#: (about 2^19 float64 values x ~12 temporaries ≈ 50 MB) and never changes the result
DEFAULT_CHUNK_ELEMENTS = 1 << 19


def map_frame_pairs(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor,
                    chunk: int | None = None, dtype: torch.dtype = torch.float64,
                    grouped: bool = False) -> Tensor:
    """Apply a per-frame-pair function over broadcast leading dims, ``chunk`` frames at a time.

    Args:
        fn: maps two frame stacks ``(M, C, H, W)`` (in ``dtype``) to scores ``(M,)``; with
            ``grouped``, maps ``x`` frames ``(G, R, C, H, W)`` and the ``y`` frame each group of R
            shares, ``(G, 1, C, H, W)``, to scores ``(G, R)``.
        x: frames ``(..., C, H, W)``.
        y: frames ``(..., C, H, W)``; leading dims broadcast against ``x`` (e.g. a target
            ``(B, 1, p, C, H, W)`` against samples ``(B, k, p, C, H, W)``) without being copied whole.
        chunk: ``x`` frames per call of ``fn`` (at least one group); default: as many as fit
            :data:`DEFAULT_CHUNK_ELEMENTS`.
        dtype: the dtype ``fn`` computes in.
        grouped: hand ``fn`` each ``y`` frame once with all the ``x`` frames it is broadcast against
            (the dims where ``y`` has extent 1 and ``x`` does not), so work on ``y`` alone (SSIM's
            filtered target maps) is done once per ``y`` frame instead of once per pair.

    Returns:
        Scores with the broadcast leading shape, in ``dtype``.
    """
    if x.shape[-3:] != y.shape[-3:]:
        raise ValueError(f"frame shapes differ: {tuple(x.shape)} vs {tuple(y.shape)} "
                         f"(expected matching trailing (C, H, W))")
    frame = x.shape[-3:]
    lead = torch.broadcast_shapes(x.shape[:-3], y.shape[:-3])
    if chunk is None:
        chunk = DEFAULT_CHUNK_ELEMENTS // max(1, frame.numel())
    chunk = max(1, int(chunk))
    if grouped:
        return _map_grouped(fn, x, y, lead, chunk, dtype)
    xe, ye = x.expand(*lead, *frame), y.expand(*lead, *frame)
    total = 1
    for s in lead:
        total *= s
    out = torch.empty(total, dtype=dtype, device=x.device)
    if total == 0:
        return out.reshape(lead)
    if len(lead) == 0:
        return fn(xe[None].to(dtype), ye[None].to(dtype)).reshape(lead)
    for start in range(0, total, chunk):
        flat = torch.arange(start, min(start + chunk, total), device=x.device)
        idx = torch.unravel_index(flat, lead)
        out[start:start + len(flat)] = fn(xe[idx].to(dtype), ye[idx].to(dtype))
    return out.reshape(lead)


def _map_grouped(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor, lead: torch.Size, chunk: int,
                 dtype: torch.dtype) -> Tensor:
    """:func:`map_frame_pairs` with ``grouped``: the leading dims split into the group dims (where ``y``
    varies) and the reuse dims (where ``y`` is broadcast), reuse dims last, ``(G, R)`` pairs."""
    frame = x.shape[-3:]
    lead = (1, *lead)  # a leading group dim of 1: no group dims at all (one y frame) needs no special case
    y_lead = (1,) * (len(lead) - (y.ndim - 3)) + tuple(y.shape[:-3])
    reuse = [d for d in range(len(lead)) if y_lead[d] == 1 and lead[d] > 1]
    group = [d for d in range(len(lead)) if d not in reuse]
    order = group + reuse
    xp = x.expand(*lead, *frame).permute(*order, -3, -2, -1)
    yp = y.reshape(*y_lead, *frame).expand(*[1 if d in reuse else lead[d] for d in range(len(lead))], *frame)
    yp = yp.permute(*order, -3, -2, -1)
    group_shape = [lead[d] for d in group]
    n_groups, n_reuse = 1, 1
    for s in group_shape:
        n_groups *= s
    for d in reuse:
        n_reuse *= lead[d]
    out = torch.empty(n_groups, n_reuse, dtype=dtype, device=x.device)
    if out.numel() > 0:
        groups_per_call = max(1, chunk // n_reuse)
        reuse_per_call = min(n_reuse, chunk)  # a y frame broadcast against more x frames than a chunk: split them
        for start in range(0, n_groups, groups_per_call):
            flat = torch.arange(start, min(start + groups_per_call, n_groups), device=x.device)
            idx = torch.unravel_index(flat, group_shape)
            b = yp[idx].reshape(len(flat), 1, *frame).to(dtype)  # (g, 1, C, H, W)
            a_all = xp[idx].reshape(len(flat), n_reuse, *frame)  # (g, R, C, H, W), still in x's dtype
            for r in range(0, n_reuse, reuse_per_call):
                out[start:start + len(flat), r:r + reuse_per_call] = fn(a_all[:, r:r + reuse_per_call].to(dtype), b)
    # back from (group dims, reuse dims) to the broadcast order, without the leading 1
    shaped = out.reshape(*group_shape, *[lead[d] for d in reuse])
    return shaped.permute(*[order.index(d) for d in range(len(lead))]).reshape(lead[1:])
