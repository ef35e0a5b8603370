"""EncODEDec networks (Voleti, Kahou & Pal 2019, "Simple Video Generation using Neural ODEs",
NeurIPS 2019 workshop, arXiv 2109.03292; official code: voletiv's torchdiffeq fork, branch
``vikram/mmnist_rnn``, ``examples/latent_ode_moving_mnist.py``).

A latent ODE over video (after Chen et al. 2018's latent ODE for time series):

* :class:`FrameRNNEncoder` reads the context frames *backwards in time* — each frame through
  pre-activation residual blocks down to a 4x4 map, flattened, then a tanh RNN cell
  ``h = tanh(W [feat, h])`` — and reads ``q(z_0) = N(mu, exp(logvar))`` off the last hidden state
  (the one that has seen frame 0 last).
* :class:`methods.common.latent_ode.ODEMLP` gives ``dz/dt``; ``z(t)`` at any set of times is the
  solution from ``z(0) = z_0``.
* :class:`FrameDecoder` maps each ``z(t)`` to a frame: MLP to a 4x4 map, transposed residual
  blocks up to full size, tanh (frames in [-1, 1]). With ``warp`` (not upstream; the ``cpu``
  profile's) its two output maps are a flow instead, and the frame is the last context frame
  warped by it (:func:`backward_warp`).

Frames are produced at arbitrary real times, so prediction at non-integer or irregular times is
the same operation as at integer ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.gaussian import gaussian_kl, gaussian_log_prob, sample_gaussian
from methods.common.init import init_he_
from methods.common.latent_ode import ODEMLP, solve
from methods.common.resblocks import PreActResBlock
from methods.common.warp import VelocityNet, backward_warp, divergence, smooth_flow

FIXED_GRID_SOLVERS = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")


def _base_size(resolution: tuple[int, int], blocks: int) -> tuple[int, int]:
    h, w = resolution
    if h % 2 ** blocks or w % 2 ** blocks:
        raise ValueError(f"resolution {resolution} is not divisible by 2**{blocks} ({blocks} residual blocks)")
    return h // 2 ** blocks, w // 2 ** blocks


class FrameRNNEncoder(nn.Module):
    """Context ``(B, c, C, H, W)`` in [-1, 1] -> ``(mean, logvar)`` of ``q(z_0)``, each ``(B, latent_dim)``,
    and (``skip_level > 0``) the first frame's features after residual block ``skip_level``."""

    def __init__(self, channels: int, resolution: tuple[int, int], res_channels: tuple[int, ...],
                 hidden_dim: int, latent_dim: int, skip_level: int = 0, norm: bool = True,
                 feature_norm: bool = False) -> None:
        super().__init__()
        self.skip_level = skip_level
        widths = (channels, *res_channels)
        self.blocks = nn.Sequential(*[PreActResBlock(widths[i], widths[i + 1], "down", norm)
                                      for i in range(len(res_channels))])
        bh, bw = _base_size(resolution, len(res_channels))
        self.feature_dim = res_channels[-1] * bh * bw
        self.feature_norm = nn.LayerNorm(self.feature_dim) if feature_norm else nn.Identity()
        self.hidden_dim = hidden_dim
        self.input_to_hidden = nn.Linear(self.feature_dim + hidden_dim, hidden_dim)
        self.hidden_to_output = nn.Linear(hidden_dim, 2 * latent_dim)

    def forward(self, context: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        b, c = context.shape[:2]
        x, skip = context.flatten(0, 1), None  # all frames at once, read in reverse below
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i + 1 == self.skip_level:  # upstream keeps the features of the last frame read: frame 0
                skip = x.view(b, c, *x.shape[1:])[:, 0]
        feats = self.feature_norm(x.view(b, c, -1))
        h = context.new_zeros(b, self.hidden_dim)
        for t in reversed(range(c)):
            h = torch.tanh(self.input_to_hidden(torch.cat([feats[:, t], h], dim=1)))
        mean, logvar = self.hidden_to_output(h).chunk(2, dim=1)
        return mean, logvar, skip


class FrameDecoder(nn.Module):
    """Latents ``(B, T, latent_dim)`` -> frames ``(B, T, C, H, W)`` in [-1, 1]; with ``skip_level = s > 0``
    the encoder's block-``s`` features ``(B, C_s, h, w)`` are concatenated (at every time) to the input
    of the decoder block of the same size (upstream ``--skip_level``). ``out_channels`` (default
    ``channels``): the maps written (the ``warp`` option's flow: 2)."""

    def __init__(self, channels: int, resolution: tuple[int, int], res_channels: tuple[int, ...],
                 hidden_dim: int, latent_dim: int, skip_level: int = 0, norm: bool = True,
                 out_channels: int | None = None) -> None:
        super().__init__()
        n = len(res_channels)
        self.skip_block = n - skip_level if skip_level else None
        widths = tuple(reversed(res_channels))  # e.g. 32-32-16-8, then the image channels
        self.base = (widths[0], *_base_size(resolution, len(res_channels)))
        self.mlp = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, widths[0] * self.base[1] * self.base[2]))
        outs = (*widths[1:], out_channels or channels)
        self.blocks = nn.ModuleList([PreActResBlock(widths[i] * (2 if i == self.skip_block else 1), outs[i], "up", norm)
                                     for i in range(n)])

    def forward(self, z: Tensor, skip: Tensor | None = None) -> Tensor:
        b, t = z.shape[:2]
        x = self.mlp(z.reshape(b * t, -1)).view(b * t, *self.base)
        for i, block in enumerate(self.blocks):
            if i == self.skip_block:
                x = torch.cat([x, skip[:, None].expand(b, t, *skip.shape[1:]).flatten(0, 1)], dim=1)
            x = block(x)
        x = torch.tanh(x)
        return x.view(b, t, *x.shape[1:])


class EncODEDecModel(nn.Module):
    """Encoder -> latent ODE -> decoder. Frames are in [0, 1] at the interface, [-1, 1] inside.

    Args:
        cfg: an :class:`methods.encodedec.config.EncODEDecConfig`.
    """

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        res = tuple(cfg.resolution)
        if not 0 <= cfg.skip_level <= len(cfg.res_channels):
            raise ValueError(f"skip_level must be in [0, {len(cfg.res_channels)}], got {cfg.skip_level}")
        self.encoder = FrameRNNEncoder(cfg.channels, res, tuple(cfg.res_channels), cfg.hidden_dim, cfg.latent_dim,
                                       cfg.skip_level, cfg.group_norm, cfg.feature_norm)
        self.dynamics = ODEMLP(cfg.latent_dim, cfg.hidden_dim)
        self.decoder = FrameDecoder(cfg.channels, res, tuple(cfg.res_channels), cfg.hidden_dim, cfg.latent_dim,
                                    cfg.skip_level, cfg.group_norm, 2 if cfg.warp else None)
        if cfg.he_init:
            for net in (self.encoder.blocks, self.decoder):  # the RNN cell and heads keep theirs
                init_he_(net, layers=(nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
        self.velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.warp and cfg.velocity_net else None
        if cfg.warp:  # the flow starts at exactly 0 (the last block's output convs at 0): a copy of the last frame
            last = self.decoder.blocks[-1]
            for param in (last.resample.weight, last.resample.bias, last.conv2.weight):
                nn.init.zeros_(param)

    # ---------------------------------------------------------------------------------- parts ---
    def posterior(self, context: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``q(z_0 | context)`` (mean, logvar) for context frames ``(B, c, C, H, W)`` in [0, 1], and the
        skip features (None without ``skip_level``)."""
        return self.encoder(context if self.cfg.unit_input else context * 2 - 1)

    def latent_path(self, z0: Tensor, frame_times: Tensor) -> Tensor:
        """``z`` at ``frame_times`` ``(T,)`` (frame units, >= 0, any order, repeats allowed): ``(B, T, D)``.

        The ODE runs from frame time 0 through the sorted distinct times; the solution is gathered
        back into the order asked for.
        """
        cfg = self.cfg
        if frame_times.ndim != 1 or frame_times.numel() == 0:
            raise ValueError(f"frame times must be a non-empty 1-D tensor, got shape {tuple(frame_times.shape)}")
        if not bool(torch.isfinite(frame_times).all()) or float(frame_times.min()) < 0:
            raise ValueError(f"frame times must be finite and >= 0 (the first context frame is at 0), "
                             f"got {frame_times.tolist()}")
        times = frame_times.to(device=z0.device, dtype=torch.float64)
        unique, inverse = torch.unique(times, sorted=True, return_inverse=True)
        with_zero = unique[0] > 0
        grid = torch.cat([unique.new_zeros(1), unique]) if with_zero else unique
        step = cfg.step_size
        if step is None and cfg.solver in FIXED_GRID_SOLVERS:
            step = cfg.frame_dt  # one solver step per frame interval, as in training
        path = solve(self.dynamics, z0, (grid * cfg.frame_dt).to(z0.dtype), method=cfg.solver, rtol=cfg.rtol,
                     atol=cfg.atol, adjoint=cfg.adjoint, step_size=step)  # (T', B, D)
        path = path[1:] if with_zero else path
        return path[inverse].transpose(0, 1)

    def frames(self, z: Tensor, skip: Tensor | None = None, reference: Tensor | None = None,
               horizons: Tensor | None = None, velocity: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Latents ``(B, T, D)`` -> frames ``(B, T, C, H, W)`` in [-1, 1], and (with ``warp``) the decoder's smoothed
        flow ``(B*T, 2, H, W)`` (else None). With ``warp`` the decoder's output is a flow (``max_flow`` times its
        tanh output, :func:`backward_warp`) and the frame is ``reference`` ``(B, C, H, W)`` (the last context
        frame, [-1, 1]) warped by it. ``velocity`` ``(B, 2, H, W)`` (``velocity_net``): ``horizons`` ``(T,)``
        (frame time minus the last context frame's) times it (pooled like the flow) is added to each frame's flow."""
        cfg = self.cfg
        out = self.decoder(z, skip)
        if not cfg.warp:
            return out, None
        if reference is None:
            raise ValueError("warp needs the reference frame (the last context frame)")
        b, t = out.shape[:2]
        flow = smooth_flow((cfg.max_flow * out).flatten(0, 1), cfg.flow_pool)  # (B*T, 2, H, W)
        total = flow
        if velocity is not None:
            if horizons is None:
                raise ValueError("velocity_net needs the frames' horizons")
            hs = horizons.to(device=flow.device, dtype=flow.dtype).view(1, t, 1, 1, 1)
            total = flow + (smooth_flow(velocity, cfg.flow_pool)[:, None] * hs).flatten(0, 1)
        ref = reference[:, None].expand(b, t, *reference.shape[1:]).flatten(0, 1)
        return backward_warp(ref, total).view(b, t, *reference.shape[1:]), flow

    def context_velocity(self, context: Tensor) -> Tensor | None:
        """``velocity_net``'s field ``(B, 2, H, W)`` from context frames ``(B, c, C, H, W)`` in [-1, 1] (None
        without it; with one context frame the field is that of two equal frames)."""
        if self.velocity is None:
            return None
        return self.velocity.of_context(context)

    def decode(self, z: Tensor, skip: Tensor | None = None, reference: Tensor | None = None,
               horizons: Tensor | None = None, velocity: Tensor | None = None) -> Tensor:
        """Latents ``(B, T, D)`` -> frames ``(B, T, C, H, W)`` in [0, 1] (``reference`` in [0, 1])."""
        ref = None if reference is None else reference * 2 - 1
        return (self.frames(z, skip, ref, horizons, velocity)[0] + 1) / 2

    # -------------------------------------------------------------------------------- objective ---
    def negative_elbo(self, clip: Tensor, context: int, loss_frames: str,
                      generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``-ELBO`` per clip (nats, mean over the batch) of clips ``(B, T, C, H, W)`` in [0, 1].

        The encoder sees the first ``context`` frames; the likelihood covers them (``"context"``) or
        the whole clip (``"all"``): ``N(x; x_hat, noise_std^2)`` on the [-1, 1] scale (``recon_loss="laplace"``:
        ``Laplace(x; x_hat, noise_std)``, an L1 loss).
        """
        cfg = self.cfg
        mean, logvar, skip = self.posterior(clip[:, :context])
        z0 = sample_gaussian(mean, logvar, generator)
        n = context if loss_frames == "context" else clip.shape[1]
        times = torch.arange(n, device=clip.device, dtype=torch.float64)
        target = clip[:, :n] * 2 - 1
        velocity = self.context_velocity(target[:, :context])
        recon, flow = self.frames(self.latent_path(z0, times), skip, target[:, context - 1],
                                  times - (context - 1), velocity=velocity)  # [-1, 1], as the targets
        if cfg.recon_loss == "laplace":  # -log Laplace(x; x_hat, b) = |x - x_hat| / b + log(2b)
            nll = ((target - recon).abs() / cfg.noise_std + math.log(2 * cfg.noise_std)).flatten(1).sum(1)
        else:
            nll = -gaussian_log_prob(target, recon, 2 * torch.log(torch.tensor(cfg.noise_std))).flatten(1).sum(1)
        kl = gaussian_kl(mean, logvar).sum(1)
        loss = (nll + cfg.kl_weight * kl).mean()
        stats = {"nll": nll.mean().detach(), "kl": kl.mean().detach(), "mse": ((recon - target) ** 2).mean().detach() / 4}
        if flow is not None and cfg.flow_div_weight > 0:  # |divergence| summed per clip, like the nll
            div = divergence(flow).abs().view(clip.shape[0], -1).sum(1).mean()
            loss = loss + cfg.flow_div_weight * div
            stats["div"] = div.detach()
        return loss, stats

    @torch.no_grad()
    def predict(self, context: Tensor, frame_times: Tensor, num_samples: int,
                generator: torch.Generator | None = None) -> Tensor:
        """Frames at ``frame_times`` ``(p,)`` for each of ``num_samples`` draws of ``z_0 ~ q(z_0 | context)``.

        Returns ``(B, k, p, C, H, W)`` in [0, 1]. All ``k`` draws are made before any solve, so the draws (given the generator) do not depend on the times asked for.
        """
        b = context.shape[0]
        mean, logvar, skip = self.posterior(context)
        z0 = torch.stack([sample_gaussian(mean, logvar, generator) for _ in range(num_samples)], 1)  # (B, k, D)
        path = self.latent_path(z0.flatten(0, 1), frame_times)  # (B*k, p, D)
        if skip is not None:
            skip = skip.repeat_interleave(num_samples, 0)
        horizons = frame_times.to(device=context.device) - (context.shape[1] - 1)
        velocity = self.context_velocity(context * 2 - 1)
        if velocity is not None:
            velocity = velocity.repeat_interleave(num_samples, 0)
        out = self.decode(path, skip, context[:, -1].repeat_interleave(num_samples, 0), horizons, velocity)
        out = out.view(b, num_samples, *out.shape[1:])
        return out.clamp(0, 1)
