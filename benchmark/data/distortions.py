"""Graded distortions of real clips, for metric sanity checks and sensitivity studies.

A metric that measures video quality should score a set of real clips worse the more they are
distorted (the study of the FVD paper: Unterthiner et al., "Towards Accurate Generative Models of
Video: A New Metric & Challenges", arXiv:1812.01717, 2018). Each distortion
here has five levels: level 0 is the identity, levels 1..4 grow in strength; the strength of each
level is in :data:`DISTORTIONS` (``Distortion.strengths``) and recorded by :func:`describe`.

========================= ======================================================= =====================
name                      what level ``l`` does                                     strengths (l = 1..4)
========================= ======================================================= =====================
``gaussian_noise``        adds N(0, s^2) per pixel and channel, clipped to [0, 1]   s = 0.1 0.15 0.2 0.3
``blur``                  Gaussian blur per frame, sigma s px at 64 px (scaled      s = 2.5 3 4 5
                          with the frame height), kernel 2*ceil(3 sigma)+1
``salt_and_pepper``       sets a fraction s of pixels (all channels) to 0 or 1       s = 0.01 0.03 0.1 0.2
``temporal_shuffle``      permutes a random fraction s of the frames among their     s = 0.25 0.5 0.75 1
                          own positions (each clip its own draw)
``frozen_frames``         from frame T - round(s (T - 1)) on, every frame repeats    s = 0.25 0.5 0.75 1
                          the one before it (s = 1: the first frame throughout)
``frame_rate``            samples and holds every s-th frame (frame t shows frame   s = 2 4 8 16
                          s * floor(t / s)): the frame rate divided by s
``fade_to_grey``          blends each pixel with uniform grey 0.5: (1 - s) x + s/2  s = 0.25 0.5 0.75 1
                          (s = 1: the uniform grey set)
========================= ======================================================= =====================

Level 1 is meant to be plainly visible (the moving-shapes evaluator, which reads 32x32 frames, does
not see noise below ~0.05 or blur below ~1.5 px at 64 px: see ``tests/metrics/test_shapes_sanity.py``).

Videos are ``(N, T, C, H, W)`` float in [0, 1] (the in-memory contract); random draws come from a
``torch.Generator`` seeded by ``seed``, so a distortion is a pure function of (videos, name, level,
seed).

>>> import torch
>>> from benchmark.data.distortions import distort
>>> v = torch.rand(2, 8, 3, 16, 16)
>>> torch.equal(distort(v, "blur", 0), v), distort(v, "fade_to_grey", 4).unique().tolist()
(True, [0.5])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

LEVELS = (0, 1, 2, 3, 4)
REFERENCE_HEIGHT = 64  # blur sigmas are given in pixels of a frame this tall


def _gaussian_noise(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    return (v + s * torch.randn(v.shape, generator=g, dtype=v.dtype)).clamp(0, 1)


def _band(kernel: Tensor, n: int) -> Tensor:
    """``(n + k - 1, n)`` matrix whose column j holds ``kernel`` at rows j..j+k-1: a valid 1-d
    correlation of a padded axis as one matrix product."""
    k = len(kernel)
    rows = torch.arange(n)[None, :] + torch.arange(k)[:, None]  # (k, n)
    band = torch.zeros(n + k - 1, n, dtype=kernel.dtype)
    band[rows, torch.arange(n).expand(k, n)] = kernel[:, None].expand(k, n)
    return band


def gaussian_blur(frames: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of frames ``(M, C, H, W)``: kernel ``2*ceil(3 sigma)+1`` taps, reflect
    padding; the same numbers as ``torchvision.transforms.functional.gaussian_blur`` (tested), without
    its seconds-long import. Each axis is one matrix product with a band matrix (a 1-channel conv2d
    with a wide kernel takes ~10x longer on CPU)."""
    k = 2 * math.ceil(3 * sigma) + 1
    x = torch.linspace(-(k // 2), k // 2, k, dtype=frames.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    m, c, h, w = frames.shape
    out = torch.nn.functional.pad(frames, [k // 2] * 4, mode="reflect")  # (M, C, H + k - 1, W + k - 1)
    out = out @ _band(kernel, w)  # along W: (M, C, H + k - 1, W)
    return (_band(kernel, h).T @ out).contiguous()  # along H: (M, C, H, W)


def _blur(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    n, t, c, h, w = v.shape
    return gaussian_blur(v.reshape(n * t, c, h, w), s * h / REFERENCE_HEIGHT).view(n, t, c, h, w)


def _salt_and_pepper(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    n, t, c, h, w = v.shape
    u = torch.rand((n, t, 1, h, w), generator=g)
    salt = (torch.rand((n, t, 1, h, w), generator=g) < 0.5).to(v.dtype)
    hit = (u < s).expand(-1, -1, c, -1, -1)
    return torch.where(hit, salt.expand(-1, -1, c, -1, -1), v)


def _temporal_shuffle(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    n, t = v.shape[:2]
    m = round(s * t)
    out = v.clone()
    if m < 2:
        return out
    for i in range(n):
        chosen = torch.randperm(t, generator=g)[:m].sort().values
        out[i, chosen] = v[i, chosen[torch.randperm(m, generator=g)]]
    return out


def _frozen_frames(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    t = v.shape[1]
    first_frozen = t - round(s * (t - 1))
    index = torch.arange(t).clamp_max(first_frozen - 1)
    return v[:, index]


def _frame_rate(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    t = v.shape[1]
    step = int(s)
    return v[:, (torch.arange(t) // step) * step]


def _fade_to_grey(v: Tensor, s: float, g: torch.Generator) -> Tensor:
    return v * (1 - s) + 0.5 * s


@dataclass(frozen=True)
class Distortion:
    """One graded distortion: ``strengths[l - 1]`` is the parameter of level ``l`` (see the table)."""

    name: str
    strengths: tuple[float, ...]
    parameter: str
    fn: Callable[[Tensor, float, torch.Generator], Tensor]

    def apply(self, videos: Tensor, level: int, seed: int = 0) -> Tensor:
        return distort(videos, self.name, level, seed)


DISTORTIONS: dict[str, Distortion] = {d.name: d for d in (
    Distortion("gaussian_noise", (0.1, 0.15, 0.2, 0.3), "noise std (values in [0, 1])", _gaussian_noise),
    Distortion("blur", (2.5, 3.0, 4.0, 5.0), "Gaussian sigma in px of a 64-px frame", _blur),
    Distortion("salt_and_pepper", (0.01, 0.03, 0.1, 0.2), "fraction of pixels", _salt_and_pepper),
    Distortion("temporal_shuffle", (0.25, 0.5, 0.75, 1.0), "fraction of frames permuted", _temporal_shuffle),
    Distortion("frozen_frames", (0.25, 0.5, 0.75, 1.0), "fraction of the clip frozen at its end", _frozen_frames),
    Distortion("frame_rate", (2, 4, 8, 16), "frame-rate divisor (sample and hold)", _frame_rate),
    Distortion("fade_to_grey", (0.25, 0.5, 0.75, 1.0), "weight of uniform grey 0.5", _fade_to_grey),
)}


def distort(videos: Tensor, name: str, level: int, seed: int = 0) -> Tensor:
    """Distortion ``name`` at ``level`` (0 = identity, 1..4) of videos ``(N, T, C, H, W)`` in [0, 1].

    Returns a new tensor of the same shape and dtype in [0, 1] (level 0 returns ``videos`` itself).
    Raises ``ValueError`` for an unknown name or level (the message lists the valid ones).
    """
    if name not in DISTORTIONS:
        raise ValueError(f"unknown distortion {name!r}; valid: {', '.join(DISTORTIONS)}")
    if level not in LEVELS:
        raise ValueError(f"distortion level must be one of {LEVELS}, got {level!r}")
    if videos.ndim != 5:
        raise ValueError(f"distort: expected videos (N, T, C, H, W), got {tuple(videos.shape)}")
    if level == 0:
        return videos
    d = DISTORTIONS[name]
    g = torch.Generator().manual_seed(int(seed))
    return d.fn(videos, float(d.strengths[level - 1]), g)


def describe(name: str, level: int) -> dict[str, Any]:
    """What ``(name, level)`` means, for plots and records: ``{"distortion", "level", "parameter", "strength"}``."""
    d = DISTORTIONS[name]
    return {"distortion": name, "level": level, "parameter": d.parameter,
            "strength": 0.0 if level == 0 else float(d.strengths[level - 1])}
