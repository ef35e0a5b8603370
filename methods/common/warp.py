"""Backward warping of frames by a dense flow (bilinear ``grid_sample``), for cpu profiles whose
decoder writes a flow that moves the last context frame's pixels instead of drawing new ones
(``methods/encodedec``, ``methods/video_vqvae``; neither paper has it).

Flow convention: ``(N, 2, H, W)``, channel 0 along x / width, 1 along y / height, in
``grid_sample``'s normalised units with ``align_corners=True`` (1 = half the frame minus half a pixel).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def smooth_flow(flow: Tensor, pool: int = 1) -> Tensor:
    """``flow (N, 2, H, W)`` replaced by its ``pool x pool`` block means, bilinearly upsampled (``pool`` 1: as
    is): a smooth flow that moves whole objects instead of tearing them."""
    h, w = flow.shape[-2:]
    if pool <= 1:
        return flow
    return F.interpolate(F.avg_pool2d(flow, min(pool, h, w)), size=(h, w), mode="bilinear", align_corners=False)


def backward_warp(frames: Tensor, flow: Tensor, pool: int = 1) -> Tensor:
    """``frames (N, C, H, W)`` sampled at ``p + flow(p)``: output pixel ``p`` reads ``frames`` at ``p`` moved by
    ``flow (N, 2, H, W)`` (smoothed first by :func:`smooth_flow` with ``pool``), bilinear, border pixels
    repeated outside.

    >>> img = torch.zeros(1, 1, 5, 5); img[0, 0, 2, 3] = 1
    >>> flow = torch.zeros(1, 2, 5, 5); flow[:, 0] = 0.5  # read one pixel to the right: the image moves left
    >>> backward_warp(img, flow)[0, 0, 2].tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0]
    """
    _, _, h, w = frames.shape
    flow = smooth_flow(flow, pool)
    ys = torch.linspace(-1, 1, h, device=frames.device, dtype=frames.dtype)
    xs = torch.linspace(-1, 1, w, device=frames.device, dtype=frames.dtype)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
    return F.grid_sample(frames, base + flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                         align_corners=True)
