"""Resizing frames between a dataset's resolution and a model's (CPU profiles that run a model at a
lower resolution than the data: downsample what goes in, upsample what comes out).

>>> import torch
>>> tuple(resize_frames(torch.zeros(2, 5, 3, 64, 64), (32, 32)).shape)
(2, 5, 3, 32, 32)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch.nn.functional as F
from torch import Tensor


def resize_frames(frames: Tensor, size: tuple[int, int]) -> Tensor:
    """``(..., C, H, W)`` -> ``(..., C, *size)``: antialiased bilinear when shrinking, bilinear when
    enlarging, identity when the size already matches."""
    h, w = frames.shape[-2:]
    size = (int(size[0]), int(size[1]))
    if (h, w) == size:
        return frames
    lead = frames.shape[:-3]
    x = frames.reshape(-1, *frames.shape[-3:])
    shrink = size[0] < h or size[1] < w
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return y.view(*lead, *y.shape[-3:])


def model_size(resolution: tuple[int, int], factor: int) -> dict[str, tuple[int, int]]:
    """Config fields of a model run at ``1/factor`` of the data's frame size ``resolution`` (frames
    resized in, outputs resized out: ``io_resolution`` is the data's) when that leaves at least 16x16
    and divides evenly; else the data's size.

    >>> model_size((64, 64), 4), model_size((64, 64), 8)
    ({'resolution': (16, 16), 'io_resolution': (64, 64)}, {'resolution': (64, 64)})
    """
    h, w = resolution
    if factor > 1 and min(h, w) // factor >= 16 and h % factor == 0 and w % factor == 0:
        return {"resolution": (h // factor, w // factor), "io_resolution": (h, w)}
    return {"resolution": (h, w)}


def check_model_frames(method: str, shape: tuple[int, ...], cfg: Any, what: str) -> None:
    """Raise a clear ``ValueError`` unless frames of ``shape (..., C, H, W)`` are what a model built from
    ``cfg`` takes (``cfg.channels`` x ``cfg.io_resolution or cfg.resolution``; configs without
    ``io_resolution`` run at ``cfg.resolution``)."""
    c, h, w = shape[-3:]
    io = tuple(getattr(cfg, "io_resolution", None) or cfg.resolution)
    if c != cfg.channels or (h, w) != io:
        raise ValueError(f"{method}: {what} have frames {c}x{h}x{w} (C x H x W), the model was built for "
                         f"{cfg.channels}x{io[0]}x{io[1]}")


def model_size_batches(cfg: Any) -> Callable[[Any], Any] | None:
    """``make_batch`` for the shared training loop: a batch's ``videos`` resized to ``cfg.resolution``
    (None when the model runs at the data's size, ``cfg.io_resolution``)."""
    if cfg.io_resolution is None or tuple(cfg.io_resolution) == tuple(cfg.resolution):
        return None
    return lambda batch: dataclasses.replace(batch, videos=resize_frames(batch.videos, tuple(cfg.resolution)))
