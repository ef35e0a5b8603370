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


def _interp_matrix(in_size: int, out_size: int, device, dtype) -> Tensor:
    """``(out, in)`` matrix of TF1 legacy bilinear weights along one axis (two taps per row)."""
    lo, hi, frac = _axis(in_size, out_size, device)
    m = torch.zeros(out_size, in_size, dtype=torch.float32, device=device)
    rows = torch.arange(out_size, device=device)
    m.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)  # lo == hi at the border: weights add to 1
    return m.to(dtype)


def tf1_resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize ``x (..., H, W)`` to ``size = (h, w)`` exactly as TF1's legacy bilinear resize
    (``align_corners=False``, no half-pixel centres): source coordinate ``i * in / out``.

    The resize is separable and linear, so it runs as two small matrix products
    ``R_h @ x @ R_wᵀ`` (several times faster on CPU than gathering the four neighbours).
    """
    h_out, w_out = size
    h_in, w_in = x.shape[-2:]
    if (h_in, w_in) == (h_out, w_out):
        return x
    x = x.float()
    r_h = _interp_matrix(h_in, h_out, x.device, x.dtype)
    r_w = _interp_matrix(w_in, w_out, x.device, x.dtype)
    return r_h @ x @ r_w.T


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
