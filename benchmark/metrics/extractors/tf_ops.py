"""Torch versions of the TF1 ops the reference feature networks depend on.

* :func:`tf1_resize_bilinear` — ``tf.compat.v1.image.resize_bilinear`` (align_corners=False,
  half_pixel_centers=False): source coordinate ``dst * (in / out)`` in float32, the same lerp order
  as TF's CPU kernel (top row, bottom row, then vertical). Non-square frames are stretched.
* :func:`same_pads` / :func:`pad_same` — TF "SAME" padding: total ``max((ceil(n/s) - 1) s + k - n, 0)``,
  the smaller half before and the larger after (asymmetric for even totals' complements, e.g. the
  7x7x7/2 stem and the 2x2x2/2 pool); pooling pads with -inf so padded cells never win.

>>> import torch
>>> tf1_resize_bilinear(torch.arange(4.).view(1, 1, 2, 2), (4, 4))[0, 0, 0].tolist()
[0.0, 0.5, 1.0, 1.0]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _axis(in_size: int, out_size: int, device) -> tuple[Tensor, Tensor, Tensor]:
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lo = torch.floor(src)
    frac = src - lo
    lo = lo.long().clamp(max=in_size - 1)
    hi = (lo + 1).clamp(max=in_size - 1)
    return lo.to(device), hi.to(device), frac.to(device)


def tf1_resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``x (..., H, W)`` to ``size = (h, w)`` exactly as TF1's legacy bilinear resize."""
    h_out, w_out = size
    h_in, w_in = x.shape[-2:]
    if (h_in, w_in) == (h_out, w_out):
        return x
    x = x.float()
    y0, y1, fy = _axis(h_in, h_out, x.device)
    x0, x1, fx = _axis(w_in, w_out, x.device)
    top, bottom = x.index_select(-2, y0), x.index_select(-2, y1)
    tl, tr = top.index_select(-1, x0), top.index_select(-1, x1)
    bl, br = bottom.index_select(-1, x0), bottom.index_select(-1, x1)
    t = tl + (tr - tl) * fx
    b = bl + (br - bl) * fx
    return t + (b - t) * fy[:, None]


def same_pads(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[int, int]]:
    """(before, after) TF SAME padding per spatial dim."""
    out = []
    for n, k, s in zip(sizes, kernel, stride):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        out.append((total // 2, total - total // 2))
    return out


def pad_same(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float = 0.0) -> Tensor:
    """Pad ``x (B, C, *spatial)`` for a VALID op to behave like TF SAME."""
    pads = same_pads(tuple(x.shape[2:]), kernel, stride)
    if not any(a or b for a, b in pads):
        return x
    flat: list[int] = []
    for a, b in reversed(pads):
        flat += [a, b]
    return F.pad(x, flat, value=value)
