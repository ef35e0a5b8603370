"""VideoFlow (Kumar et al. 2020, "VideoFlow: A Conditional Flow-Based Model for Stochastic Video
Generation", ICLR, arXiv 1903.01434) as plain ``nn.Module``s.

Upstream: ``tensorflow/tensor2tensor`` ``models/video/next_frame_glow.py`` (``NextFrameGlow``,
``next_frame_glow_bair_quant``) and ``models/research/glow_ops.py`` (``encoder_decoder``, ``split``,
``compute_prior``, ``level_cond_prior``, ``temporal_latent_to_dist``); read, not copied.

Each frame ``x_t`` (in [-0.5, 0.5], dequantised) goes through a multi-scale Glow: ``L`` levels of
squeeze -> ``K`` flow steps -> split (except the last level), giving latents ``z_t^(l)`` (the
halves split off at levels ``l < L-1``) and the top latent ``z_t^(L-1)``. The latent prior is
autoregressive over time and coarse-to-fine over levels:

* top: ``p(z_t^top | z_{t-k..t-1}^top)`` -- a 3D (time-causal) residual network over the last
  ``k = num_cond_latents`` top latents, with the mean skip-connected to ``z_{t-1}^top``; before ``k``
  past latents exist, an unconditional Gaussian from a zero-initialised conv on zeros.
* level ``l``: ``p(z_t^(l) | x1, z_{t-k..t-1}^(l))`` -- the split prior's mean from ``x1`` (the
  half kept at that level) tiled over the ``k`` past latents, concatenated with them, through the
  same kind of 3D network; again skip-connected to ``z_{t-1}^(l)``; unconditional
  (``N(NN(x1))``) before ``k`` past latents exist.

``log p(x_t | x_<t) = log p(z_t) + sum log|det J|`` exactly; the video log-likelihood of the frames
after the context is the sum over those frames (the context frames are encoded only to provide
past latents, as upstream's ``video_objective_tower``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn

from methods.common.glow import (EdgeConv2d, FlowStep, TemporalLatentToGaussian, gaussian_log_prob, squeeze2d,
                                 unsqueeze2d)
from methods.common.warp import VelocityNet, field_at, move_by_velocity

Latents = list[Tensor]  # one tensor per split level (levels 0 .. L-2)


class FrameEncoding(NamedTuple):
    """What :meth:`VideoFlowModel.flow_forward` returns for one frame (all ``(N,)`` or latents)."""

    logdet: Tensor        # sum of log|det J| of every flow step
    split_logp: Tensor    # sum over levels of log p(z^(l) | x1, past) of the split-off halves
    z_top: Tensor         # (N, C_top, h, w)
    z_levels: Latents     # the split-off halves, level 0 first
    eps: Latents          # the halves standardised by their prior


class SplitPrior(nn.Module):
    """Gaussian prior of the half split off at one level (upstream ``split`` / ``compute_prior``)."""

    def __init__(self, channels: int, height: int, num_cond: int, width: int, depth: int, activation: str,
                 dropout: float, apply_dilations: bool, rates: tuple[int, ...], latent_skip: bool) -> None:
        super().__init__()
        half = channels // 2
        self.level_prior = EdgeConv2d(half, channels, 3, zero_init=True)   # -> 2 * half
        self.latent_skip = latent_skip
        self.conditional = (TemporalLatentToGaussian(channels, half, num_cond, height, width, depth, activation,
                                                     dropout, apply_dilations, rates) if num_cond > 0 else None)

    def forward(self, x1: Tensor, cond: Latents | None) -> tuple[Tensor, Tensor]:
        """``x1 (N, C/2, h, w)``, ``cond``: the past ``k`` latents of this level -> (mean, log_scale)."""
        h = self.level_prior(x1)
        mean, log_scale = h[:, 0::2], h[:, 1::2]
        if cond is None or self.conditional is None:
            return mean, log_scale
        past = torch.stack(cond, dim=2)                              # (N, C/2, k, h, w)
        prev = mean[:, :, None].expand(-1, -1, past.shape[2], -1, -1)  # the level prior's mean, tiled
        mean, log_scale = self.conditional(torch.cat([past, prev], dim=1))
        if self.latent_skip:
            mean = mean + cond[-1]
        return mean, log_scale


class TopPrior(nn.Module):
    """Prior of the top latent: unconditional (conv on zeros) or a 3D network over past top latents."""

    def __init__(self, channels: int, height: int, num_cond: int, width: int, depth: int, activation: str,
                 dropout: float, apply_dilations: bool, rates: tuple[int, ...], latent_skip: bool) -> None:
        super().__init__()
        self.unconditional = EdgeConv2d(channels, 2 * channels, 3, zero_init=True)
        self.latent_skip = latent_skip
        self.conditional = (TemporalLatentToGaussian(channels, channels, num_cond, height, width, depth, activation,
                                                     dropout, apply_dilations, rates) if num_cond > 0 else None)

    def forward(self, like: Tensor, cond: list[Tensor] | None, skip: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``like``: a tensor of the top latent's shape (only its shape/device are used). ``skip`` (the cpu
        profile's ``copy_velocity``): what the mean is skip-connected to instead of ``cond[-1]``."""
        if cond is None or self.conditional is None:
            h = self.unconditional(torch.zeros_like(like))
            return h[:, 0::2], h[:, 1::2]
        mean, log_scale = self.conditional(torch.stack(cond, dim=2))
        if self.latent_skip:
            mean = mean + (cond[-1] if skip is None else skip)
        return mean, log_scale


class VideoFlowModel(nn.Module):
    """Multi-scale Glow per frame with an autoregressive latent prior over time.

    Args:
        channels, resolution: frame size (H and W divisible by ``2 ** n_levels``).
        n_levels, depth: Glow levels L and flow steps K per level.
        coupling, coupling_width, activation, coupling_dropout: the flow steps' couplings.
        num_cond_latents: k, past latents the priors condition on.
        latent_*: the 3D prior networks (upstream ``latent_encoder_width/depth``, ...).
        seed: seeds the random rotations that initialise the 1x1 convolutions.

    >>> m = VideoFlowModel(3, (8, 8), n_levels=2, depth=1, coupling_width=8, num_cond_latents=1,
    ...                    latent_encoder_width=8, latent_encoder_depth=1)
    >>> frames = torch.rand(2, 3, 3, 8, 8) - 0.5
    >>> tuple(m.log_prob(frames, num_context=1).shape)
    (2,)
    """

    def __init__(self, channels: int, resolution: tuple[int, int], n_levels: int = 3, depth: int = 24,
                 coupling: str = "affine", coupling_width: int = 512, activation: str = "relu",
                 coupling_dropout: float = 0.0, num_cond_latents: int = 3, latent_encoder_width: int = 512,
                 latent_encoder_depth: int = 2, latent_activation: str = "relu", latent_dropout: float = 0.0,
                 latent_apply_dilations: bool = False, latent_dilation_rates: tuple[int, ...] = (1, 3),
                 latent_skip: bool = True, seed: int = 0, copy_velocity: bool = False, max_velocity: float = 0.2,
                 velocity_pool: int = 1, velocity_scale: int = 1, carry_context: bool = False) -> None:
        super().__init__()
        h, w = resolution
        if h % 2 ** n_levels or w % 2 ** n_levels:
            raise ValueError(f"VideoFlow: frames {h}x{w} must be divisible by 2**n_levels = {2 ** n_levels}")
        self.n_levels, self.num_cond = n_levels, num_cond_latents
        gen = torch.Generator().manual_seed(seed)
        prior_args = dict(num_cond=num_cond_latents, width=latent_encoder_width, depth=latent_encoder_depth,
                          activation=latent_activation, dropout=latent_dropout,
                          apply_dilations=latent_apply_dilations, rates=tuple(latent_dilation_rates),
                          latent_skip=latent_skip)
        self.levels = nn.ModuleList()
        self.splits = nn.ModuleList()
        c, height = channels, h
        for level in range(n_levels):
            c, height = c * 4, height // 2
            self.levels.append(nn.ModuleList(
                FlowStep(c, coupling_width, coupling, activation, coupling_dropout, generator=gen)
                for _ in range(depth)))
            if level < n_levels - 1:
                self.splits.append(SplitPrior(c, height, **prior_args))
                c //= 2
        self.top_channels, self.top_height = c, height
        self.top = TopPrior(c, height, **prior_args)
        # not upstream (cpu profile): the top prior's skip goes to the previous frame moved along its velocity
        self.velocity = VelocityNet(channels, max_velocity) if copy_velocity else None
        self.velocity_pool, self.velocity_scale = velocity_pool, velocity_scale
        # not upstream (cpu profile): when sampling, step h's skip is the last context frame carried h steps
        # along the context's field, not the previous (generated, snapped) frame moved one step
        self.carry_context = carry_context

    # ------------------------------------------------------------------------------ one frame ---
    def flow_forward(self, x: Tensor, cond_levels: list[Latents] | None = None) -> FrameEncoding:
        """Frame ``x (N, C, H, W)`` -> its latents, the flow's log-determinant and the split priors'
        log-density. ``cond_levels``: the past ``k`` frames' level latents (oldest first), or None
        (unconditional)."""
        logdet = x.new_zeros(x.shape[0])
        split_logp = x.new_zeros(x.shape[0])
        z_levels: Latents = []
        eps: Latents = []
        for level, steps in enumerate(self.levels):
            x = squeeze2d(x)
            for step in steps:
                x, ld = step(x)
                logdet = logdet + ld
            if level < self.n_levels - 1:
                x1, x2 = x.chunk(2, dim=1)
                cond = [c[level] for c in cond_levels] if cond_levels is not None else None
                mean, log_scale = self.splits[level](x1, cond)
                split_logp = split_logp + gaussian_log_prob(x2, mean, log_scale)
                z_levels.append(x2)
                eps.append((x2 - mean) * torch.exp(-log_scale))
                x = x1
        return FrameEncoding(logdet, split_logp, x, z_levels, eps)

    def flow_reverse(self, z_top: Tensor, cond_levels: list[Latents] | None = None,
                     z_levels: Latents | None = None, temperature: float = 1.0,
                     generator: torch.Generator | None = None) -> tuple[Tensor, Latents]:
        """``z_top`` -> frame; each level's split half is ``z_levels[l]`` if given (exact inverse of
        :meth:`flow_forward`), else drawn from its prior with std scaled by ``temperature``."""
        x = z_top
        out: Latents = [x] * (self.n_levels - 1)
        for level in reversed(range(self.n_levels)):
            if level < self.n_levels - 1:
                if z_levels is not None:
                    x2 = z_levels[level]
                else:
                    cond = [c[level] for c in cond_levels] if cond_levels is not None else None
                    mean, log_scale = self.splits[level](x, cond)
                    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
                    x2 = mean + torch.exp(log_scale) * temperature * noise
                out[level] = x2
                x = torch.cat([x, x2], dim=1)
            for step in reversed(self.levels[level]):
                x, _ = step(x, reverse=True)
            x = unsqueeze2d(x)
        return x, out

    def top_distribution(self, like: Tensor, cond_top: list[Tensor] | None) -> tuple[Tensor, Tensor]:
        return self.top(like, cond_top)

    def top_shape(self, batch: int, frame_shape: tuple[int, int, int]) -> tuple[int, int, int, int]:
        _, h, w = frame_shape
        f = 2 ** self.n_levels
        return (batch, self.top_channels, h // f, w // f)

    def velocity_field(self, before: Tensor, previous: Tensor) -> Tensor:
        """The field ``(N, 2, H, W)`` read off the frame pair ``before, previous (N, C, H, W)`` (about [-0.5, 0.5])."""
        return field_at(self.velocity, torch.stack([before, previous], 1) + 0.5, self.velocity_pool,
                        self.velocity_scale)

    def carried_skip(self, frame: Tensor, field: Tensor, steps: float,
                     cond_levels: list[Latents] | None = None) -> Tensor:
        """The top latent of ``frame (N, C, H, W)`` carried ``steps`` steps along ``field``."""
        horizons = torch.full((frame.shape[0],), float(steps), device=frame.device, dtype=frame.dtype)
        return self.flow_forward(move_by_velocity(frame, field, horizons), cond_levels).z_top

    def moved_skip(self, before: Tensor, previous: Tensor, cond_levels: list[Latents] | None = None
                   ) -> Tensor | None:
        """With ``copy_velocity``: the top latent of ``previous (N, C, H, W)`` (about [-0.5, 0.5]) moved one step
        along the field read off ``before`` (the frame before it) and it -- what the top prior's mean is
        skip-connected to; None without a velocity net."""
        if self.velocity is None:
            return None
        return self.carried_skip(previous, self.velocity_field(before, previous), 1, cond_levels)

    # ---------------------------------------------------------------------------------- video ---
    def _past(self, history: list, t: int) -> list | None:
        """The last ``k`` entries of ``history`` when there are at least ``k`` (upstream get_cond_latents)."""
        if self.num_cond == 0 or len(history) < self.num_cond:
            return None
        return history[-self.num_cond:]

    def log_prob(self, frames: Tensor, num_context: int) -> Tensor:
        """Continuous log-density (nats) of frames ``t >= num_context`` given the earlier ones.

        ``frames``: ``(N, T, C, H, W)`` already dequantised into [-0.5, 0.5 + 1/256). Returns ``(N,)``.
        """
        levels_hist: list[Latents] = []
        top_hist: list[Tensor] = []
        total = frames.new_zeros(frames.shape[0])
        for t in range(frames.shape[1]):
            enc = self.flow_forward(frames[:, t], self._past(levels_hist, t))
            z_top, z_levels = enc.z_top, enc.z_levels
            skip = (self.moved_skip(frames[:, t - 2], frames[:, t - 1], self._past(levels_hist, t))
                    if self.velocity is not None and t >= max(2, num_context) else None)
            mean, log_scale = self.top(z_top, self._past(top_hist, t), skip)
            obj = enc.logdet + enc.split_logp + gaussian_log_prob(z_top, mean, log_scale)
            if t >= num_context:
                total = total + obj
            levels_hist.append(z_levels)
            top_hist.append(z_top)
        return total

    @torch.no_grad()
    def sample(self, context: Tensor, num_future: int, temperature: float = 1.0,
               generator: torch.Generator | None = None, num_samples: int = 1,
               quantize: Callable[[Tensor, Tensor], Tensor] | None = None) -> Tensor:
        """Continue dequantised context ``(N, c, C, H, W)`` by ``num_future`` frames (about [-0.5, 0.5]):
        ``(N * num_samples, num_future, C, H, W)``, sample-major per context. The context is encoded
        once and its latents repeated. ``quantize(x, prev)``: maps each generated frame ``x`` to a
        discrete one (dequantised) given the previous frame ``prev`` (the last context frame, then the
        last returned frame), which is returned and re-encoded as the past of the next frames; None:
        the drawn latents are the past (upstream)."""
        levels_hist: list[Latents] = []
        top_hist: list[Tensor] = []
        for t in range(context.shape[1]):
            enc = self.flow_forward(context[:, t], self._past(levels_hist, t))
            levels_hist.append(enc.z_levels)
            top_hist.append(enc.z_top)
        if num_samples > 1:
            rep = lambda z: z.repeat_interleave(num_samples, dim=0)  # noqa: E731
            levels_hist = [[rep(z) for z in zs] for zs in levels_hist[-self.num_cond:]] if self.num_cond else []
            top_hist = [rep(z) for z in top_hist[-max(self.num_cond, 1):]]
        rep_frames = (lambda x: x.repeat_interleave(num_samples, dim=0)) if num_samples > 1 else (lambda x: x)
        before = rep_frames(context[:, -2]) if context.shape[1] > 1 else None  # the frame before ``prev``
        prev = rep_frames(context[:, -1])
        carried = None   # carry_context: (the last context frame, the context's field)
        if self.carry_context and self.velocity is not None and before is not None:
            carried = (prev, self.velocity_field(before, prev))
        frames = []
        for step in range(1, num_future + 1):
            t = len(top_hist)
            if carried is not None:
                skip = self.carried_skip(*carried, step, self._past(levels_hist, t))
            else:
                skip = self.moved_skip(before, prev, self._past(levels_hist, t)) if before is not None else None
            mean, log_scale = self.top(top_hist[-1], self._past(top_hist, t), skip)
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z_top = mean + torch.exp(log_scale) * temperature * noise
            x, z_levels = self.flow_reverse(z_top, self._past(levels_hist, t), temperature=temperature,
                                            generator=generator)
            if quantize is not None:  # condition the next frames on the discrete frame, as on the context
                x = quantize(x, prev)
                enc = self.flow_forward(x, self._past(levels_hist, t))
                z_top, z_levels = enc.z_top, enc.z_levels
            frames.append(x)
            before, prev = prev, x
            levels_hist.append(z_levels)
            top_hist.append(z_top)
        return torch.stack(frames, dim=1)
