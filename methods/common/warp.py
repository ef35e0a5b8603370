"""Backward warping of frames by a dense flow (bilinear ``grid_sample``), for cpu profiles whose
decoder writes a flow that moves the last context frame's pixels instead of drawing new ones
(``methods/encodedec``, ``methods/video_vqvae``), and :class:`VelocityNet`, a constant-velocity field read
off the last two context frames (the cpu profiles of ``methods/encodedec``, ``methods/vrnn_hier``, the
``conv_lstm`` baseline, ``methods/svg``, ``methods/sv2p`` and ``methods/savp``; ``methods/p2p`` as an option),
kept from shrinking what it moves by :func:`divergence` and, where a profile asks, trained alone first
(:mod:`methods.common.velocity_warmup`). No paper has any of them.

Flow convention: ``(N, 2, H, W)``, channel 0 along x / width, 1 along y / height, in
``grid_sample``'s normalised units with ``align_corners=True`` (1 = half the frame minus half a pixel).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.frames import pool_frames
from methods.common.init import init_he_


def smooth_flow(flow: Tensor, pool: int = 1) -> Tensor:
    """``flow (N, 2, H, W)`` replaced by its ``pool x pool`` block means, bilinearly upsampled (``pool`` 1: as
    is): a smooth flow that moves whole objects instead of tearing them."""
    h, w = flow.shape[-2:]
    if pool <= 1:
        return flow
    return F.interpolate(F.avg_pool2d(flow, min(pool, h, w)), size=(h, w), mode="bilinear", align_corners=False)


def divergence(flow: Tensor) -> Tensor:
    """Divergence ``(N, H-1, W-1)`` of ``flow (N, 2, H, W)`` (grid_sample's normalised units) in pixels per
    pixel, by forward differences: > 0 where the backward warp reads from a wider area (what it moves shrinks
    there), < 0 where it grows; translations and rotations have none.

    >>> ys, xs = torch.meshgrid(torch.linspace(-1, 1, 5), torch.linspace(-1, 1, 5), indexing="ij")
    >>> round(float(divergence(0.1 * torch.stack([xs, ys])[None]).mean()), 6)  # outward: shrinks
    0.2
    >>> float(divergence(torch.stack([-ys, xs])[None]).abs().max())  # a rotation
    0.0
    """
    h, w = flow.shape[-2:]
    fx, fy = flow[:, 0] * (w - 1) / 2, flow[:, 1] * (h - 1) / 2  # in pixels
    return (fx[:, :-1, 1:] - fx[:, :-1, :-1]) + (fy[:, 1:, :-1] - fy[:, :-1, :-1])


def divergence_penalty(flow: Tensor) -> Tensor:
    """The mean squared :func:`divergence` of ``flow (N, 2, H, W)``, a scalar: the loss term that keeps a
    learned warp from shrinking (or growing) what it moves."""
    return divergence(flow).pow(2).mean()


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


def move_by_velocity(frames: Tensor, velocity: Tensor, horizons: Tensor, pool: int = 1) -> Tensor:
    """``frames (N, C, H, W)`` carried ``horizons (N,)`` steps along a constant ``velocity (N, 2, H, W)`` (per
    step, :func:`backward_warp`'s units): each warped by ``horizon x velocity``, smoothed over ``pool`` blocks.

    >>> img = torch.zeros(2, 1, 5, 5); img[:, 0, 2, 2] = 1
    >>> v = torch.zeros(2, 2, 5, 5); v[:, 0] = 0.5  # one pixel a step, read from the right: moves left
    >>> [int(f[0, 2].argmax()) for f in move_by_velocity(img, v, torch.tensor([1.0, 2.0]))]
    [1, 0]
    """
    return backward_warp(frames, velocity * horizons.to(velocity.dtype).view(-1, 1, 1, 1), pool)


def carry_forward(last: Tensor, velocity: Tensor, num_future: int, pool: int = 1, first: int = 1) -> Tensor:
    """``last (B, C, H, W)`` carried ``h = first .. first + num_future - 1`` steps (1 .. num_future by default;
    ``first`` < 0 also moves it back in time) along ``velocity (B, 2, H, W)`` (:func:`move_by_velocity`):
    ``(B, num_future, C, H, W)``, the copy sources of the frames after a context.

    >>> img = torch.zeros(1, 1, 5, 5); img[0, 0, 2, 4] = 1
    >>> v = torch.zeros(1, 2, 5, 5); v[:, 0] = 0.5  # one pixel a step to the left
    >>> [int(f[0, 2].argmax()) for f in carry_forward(img, v, 3)[0]]
    [3, 2, 1]
    >>> img[0, 0, 2, 4] = 0; img[0, 0, 2, 2] = 1
    >>> [int(f[0, 2].argmax()) for f in carry_forward(img, v, 3, first=-1)[0]]  # one step back, still, one on
    [3, 2, 1]
    """
    b = last.shape[0]
    horizons = torch.arange(first, first + num_future, device=last.device, dtype=last.dtype)
    warped = move_by_velocity(last.repeat_interleave(num_future, 0), velocity.repeat_interleave(num_future, 0),
                              horizons.repeat(b), pool)
    return warped.view(b, num_future, *last.shape[1:])


class VelocityNet(nn.Module):
    """The last two context frames ``(B, 2, C, H, W)`` in [-1, 1] (and their difference) -> a velocity field
    ``(B, 2, H, W)`` (grid_sample units per frame, at most ``max_velocity``): four 3x3 convs, three of them
    stride 2, then bilinear upsampling. Its last conv starts at 0 (no motion)."""

    def __init__(self, channels: int, max_velocity: float, width: int = 16) -> None:
        super().__init__()
        self.max_velocity = max_velocity
        self.net = nn.Sequential(nn.Conv2d(3 * channels, width, 3, 1, 1), nn.ReLU(),
                                 nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(2 * width, 2, 3, 1, 1))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """He init, the last conv at 0 (a model-wide init such as DCGAN's must call this again after)."""
        init_he_(self.net, layers=(nn.Conv2d,))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, frames: Tensor) -> Tensor:
        prev, last = frames[:, 0], frames[:, 1]
        v = self.net(torch.cat([last, prev, last - prev], 1))
        v = F.interpolate(v, size=last.shape[-2:], mode="bilinear", align_corners=False)
        return self.max_velocity * torch.tanh(v)

    def of_context(self, context: Tensor) -> Tensor:
        """The field ``(B, 2, H, W)`` of context frames ``(B, c, C, H, W)`` in [-1, 1]: their last two (a single
        context frame is read as a still pair: no motion to see)."""
        pair = context[:, -2:] if context.shape[1] > 1 else context[:, -1:].expand(-1, 2, -1, -1, -1)
        return self(pair)

    def smoothed_field(self, context: Tensor, pool: int = 1) -> Tensor:
        """:meth:`of_context` of context frames ``(B, c, C, H, W)`` in [0, 1], averaged over ``pool x pool``
        blocks (:func:`smooth_flow`): the field ``(B, 2, H, W)`` as a warp applies it."""
        return smooth_flow(self.of_context(context * 2 - 1), pool)


def field_at(net: VelocityNet, pair: Tensor, pool: int = 1, scale: int = 1) -> Tensor:
    """The field ``(N, 2, H, W)`` of a frame pair ``(N, 2, C, H, W)`` in [0, 1] (earlier frame first), read at
    ``1 / scale`` of the resolution (:func:`methods.common.frames.pool_frames`, an area average; ``pool`` counts
    pixels there) and bilinearly upsampled back."""
    field = net.smoothed_field(pool_frames(pair, scale), pool)
    if scale == 1:
        return field
    return F.interpolate(field, size=pair.shape[-2:], mode="bilinear", align_corners=False)


def step_copy_sources(net: VelocityNet, context: Tensor, num_steps: int, pool: int = 1) -> tuple[Tensor, Tensor]:
    """The copy candidate of each step of an unroll in which step ``t`` reads frame ``t`` and predicts frame
    ``t + 1`` (SV2P's, SAVP's): ``(B, num_steps, C, H, W)`` -- the true frame the step reads while it reads
    ``context (B, c, C, H, W)``, then the last context frame carried ``h = 1, 2, ...`` steps along the
    context's field (:func:`carry_forward`) -- and that field ``(B, 2, H, W)``.

    >>> net = VelocityNet(1, 0.2)
    >>> ctx = torch.rand(2, 3, 1, 8, 8)
    >>> sources, _ = step_copy_sources(net, ctx, 5)   # zero field at initialisation: plain copies
    >>> sources.shape, torch.equal(sources[:, :2], ctx[:, :2]), bool(torch.allclose(sources[:, 4], ctx[:, 2], atol=1e-5))
    (torch.Size([2, 5, 1, 8, 8]), True, True)
    """
    c = context.shape[1]
    field = net.smoothed_field(context, pool)
    moved = carry_forward(context[:, -1], field, num_steps - (c - 1))
    return torch.cat([context[:, :c - 1], moved], dim=1), field


def velocity_param_groups(params, velocity: VelocityNet | None, velocity_lr: float = 0.0) -> list[dict]:
    """Optimiser parameter groups: ``params`` (the rest of the model, at the optimiser's lr) and, when there is a
    velocity net, its parameters in their own group at ``velocity_lr`` (0: the optimiser's lr). A small net that
    must learn a field within a short cpu schedule can need a larger step than the model around it.

    >>> net = VelocityNet(1, 0.2)
    >>> [sorted(g) for g in velocity_param_groups([torch.zeros(1)], net, 5e-3)]
    [['params'], ['lr', 'params']]
    >>> len(velocity_param_groups([torch.zeros(1)], None, 5e-3))
    1
    """
    groups = [{"params": list(params)}]
    if velocity is not None:
        groups.append({"params": list(velocity.parameters()), **({"lr": velocity_lr} if velocity_lr else {})})
    return groups


#: the config fields that train a velocity net (a config has the ones that apply to it)
VELOCITY_TRAINING_FIELDS = ("velocity_loss", "velocity_divergence", "velocity_lr", "velocity_warmup")


def check_velocity_options(name: str, cfg, needs_warmup: bool = False) -> None:
    """Raise ``ValueError`` when a config sets any of :data:`VELOCITY_TRAINING_FIELDS` it has without
    ``copy_velocity`` (they train a velocity net that does not exist then, and would be ignored without a
    word), a negative ``velocity_warmup``, or -- ``needs_warmup``: configs whose velocity net trains only in
    its warm-up -- ``copy_velocity`` without a warm-up (an untrained net does not move anything).

    >>> from types import SimpleNamespace as NS
    >>> check_velocity_options("m", NS(copy_velocity=False, velocity_loss=0.0, velocity_divergence=0.0))
    >>> check_velocity_options("m", NS(copy_velocity=False, velocity_loss=1.0, velocity_divergence=0.0))
    Traceback (most recent call last):
    ...
    ValueError: m: velocity_loss=1.0 / velocity_divergence=0.0 need copy_velocity=True (they train the velocity net)
    >>> check_velocity_options("m", NS(copy_velocity=False, velocity_divergence=0.0, velocity_warmup=300))
    Traceback (most recent call last):
    ...
    ValueError: m: velocity_divergence=0.0 / velocity_warmup=300 need copy_velocity=True (they train the velocity net)
    >>> check_velocity_options("m", NS(copy_velocity=True, velocity_divergence=0.0, velocity_warmup=0), needs_warmup=True)
    Traceback (most recent call last):
    ...
    ValueError: m: copy_velocity needs velocity_warmup > 0 (its velocity net trains only there; untrained it moves nothing)
    >>> check_velocity_options("m", NS(copy_velocity=True, velocity_loss=1.0, velocity_divergence=0.0, velocity_lr=5e-3))
    """
    present = {f: getattr(cfg, f) for f in VELOCITY_TRAINING_FIELDS if hasattr(cfg, f)}
    warmup = present.get("velocity_warmup", 0)
    if warmup < 0:
        raise ValueError(f"{name}: velocity_warmup must be >= 0 steps, got {warmup}")
    if any(present.values()) and not cfg.copy_velocity:
        listed = " / ".join(f"{k}={v}" for k, v in present.items())
        raise ValueError(f"{name}: {listed} need copy_velocity=True (they train the velocity net)")
    if needs_warmup and cfg.copy_velocity and warmup <= 0:
        raise ValueError(f"{name}: copy_velocity needs velocity_warmup > 0 (its velocity net trains only there; "
                         "untrained it moves nothing)")

