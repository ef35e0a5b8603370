"""VideoFlow as a harness method (``videoflow``): exact likelihood training and sampling.

Kumar, Babaeizadeh, Erhan, Finn, Levine, Dinh & Kingma 2020, "VideoFlow: A Conditional Flow-Based
Model for Stochastic Video Generation" (ICLR, arXiv 1903.01434); upstream tensor2tensor
``models/video/next_frame_glow.py`` (see README.md for the commit read).

Data (upstream ``NextFrameGlow.preprocess`` and ``glow_ops.uniform_binning_correction``): a pixel
of level ``k`` is ``x = k / 255 - 0.5 + u`` with ``u ~ U[0, 1/256)``; the discrete log-likelihood
is bounded below by ``log p(x) - D log 256`` (the bins ``[k/255, k/255 + 1/256)`` are disjoint, so
this is a valid variational bound, as in Glow). Training: random ``num_train_frames``-frame
patches, loss = bits per pixel of the frames after the first ``num_cond_latents`` (upstream scores
only the frames after its ``video_num_input_frames`` = 3 on BAIR; the context frames are encoded to
provide past latents). Adam with a linear warm-up (``constant*linear_warmup``), data-dependent
actnorm initialisation on ``init_batch_size`` clips before the first step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.common.frames import pool_frames
from methods.common.glow import gaussian_log_prob
from methods.common.threads import one_cpu_thread
from methods.common.velocity_warmup import warm_up_velocity
from methods.videoflow import config as C
from methods.videoflow.model import VideoFlowModel

LN2 = math.log(2.0)
LIKELIHOOD_SEED = 0  # the dequantisation noise of log_likelihood (one fixed draw, recorded)


def dequantize(videos: Tensor, n_bits: int, generator: torch.Generator | None) -> Tensor:
    """Videos in [0, 1] (levels / 255) -> ``x = v - 0.5 + U[0, 2^-n_bits)`` (upstream preprocessing)."""
    noise = torch.rand(videos.shape, generator=generator, device=videos.device, dtype=videos.dtype)
    return videos - 0.5 + noise / 2 ** n_bits


def bin_centre(videos: Tensor, n_bits: int) -> Tensor:
    """Videos in [0, 1] (levels / 255) -> the centres ``v - 0.5 + 2^-(n_bits+1)`` of their dequantisation bins."""
    return videos - 0.5 + 2.0 ** -(n_bits + 1)


def snap_to_neighbours(x: Tensor, prev: Tensor, radius: int) -> Tensor:
    """Each pixel of ``x (N, C, H, W)`` -> the value (all channels) of the pixel of ``prev`` within
    ``radius`` (a ``2 radius + 1`` square, edges replicated) nearest to it in squared distance over
    the channels (``config.snap_radius``). ``radius`` 0: ``x`` unchanged."""
    if radius <= 0:
        return x
    out = []
    size = 2 * radius + 1
    for xs, ps in zip(x.split(16), prev.split(16)):  # (N, C, size^2, H, W) candidates: bounded memory
        n, c, h, w = ps.shape
        cand = nn.functional.unfold(nn.functional.pad(ps, (radius,) * 4, mode="replicate"), size)
        cand = cand.view(n, c, size * size, h, w)
        best = ((cand - xs[:, :, None]) ** 2).sum(1).argmin(1)              # (N, H, W)
        out.append(torch.gather(cand, 2, best[:, None, None].expand(-1, c, -1, -1, -1)).squeeze(2))
    return torch.cat(out)


def nearest_bin_centre(x: Tensor, n_bits: int) -> Tensor:
    """Flow-space frames ``x`` -> the bin centre of the level ``k`` (of ``2^n_bits - 1``) whose centre
    is nearest."""
    x = torch.where(torch.isfinite(x), x, torch.full_like(x, 0.5))  # as the postprocess: non-finite -> white
    top = 2 ** n_bits - 1
    levels = ((x + 0.5 - 2.0 ** -(n_bits + 1)).clamp(0, 1) * top).round() / top
    return bin_centre(levels, n_bits)


@METHODS.register("videoflow")
class VideoFlow(Method):
    """Multi-scale Glow per frame with a 3D-conv autoregressive latent prior (next_frame_glow)."""

    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = ("Kumar et al. 2020, VideoFlow: A Conditional Flow-Based Model for Stochastic Video Generation "
             "(ICLR, arXiv 1903.01434)")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}
    @classmethod
    def hand_aid(cls, config: dict[str, Any]) -> str | None:
        """The cpu profile's ``snap_radius`` (README "Deviations"): marked on the leaderboard."""
        r = int(config.get("snap_radius") or 0)
        if r <= 0:
            return None
        side = 2 * r + 1
        return f"each predicted pixel snapped to the nearest colour of the previous frame's {side}x{side} neighbourhood"

    def __init__(self, config: C.VideoFlowConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.snap_radius and not config.bin_centres:
            raise ValueError("videoflow: snap_radius needs bin_centres (it snaps the discrete predicted frames)")
        self.model = self._build(config.seed)

    def _build(self, seed: int) -> VideoFlowModel:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return VideoFlowModel(**{**self.config.model_kwargs(), "seed": seed}).to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ------------------------------------------------------------------------------ training ---
    def _bits_per_dim(self, nats: Tensor, frames: int) -> Tensor:
        """Continuous log-density (nats) of ``frames`` frames -> bits per dim of the discrete bound."""
        dims = frames * self.config.channels * self.config.resolution[0] * self.config.resolution[1]
        return -(nats - dims * self.config.n_bits * LN2) / (dims * LN2)

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False, progress: bool = True,
            stage: str = "train") -> dict[str, Any]:
        self.check_stage(stage)
        cfg = self.config
        c, h, w = data.videos.shape[-3:]
        if (c, h, w) != (cfg.channels, *cfg.resolution):
            raise ValueError(f"videoflow: videos have frames {c}x{h}x{w}, the model was built for "
                             f"{cfg.channels}x{cfg.resolution[0]}x{cfg.resolution[1]}")
        if cfg.num_train_frames <= cfg.num_cond_latents or data.videos.shape[1] < cfg.num_train_frames:
            raise ValueError(f"videoflow: num_train_frames ({cfg.num_train_frames}) must exceed num_cond_latents "
                             f"({cfg.num_cond_latents}) and fit the videos ({data.videos.shape[1]} frames)")
        self.model = model = self._build(seed)
        with one_cpu_thread(self.device):
            if model.velocity is not None:  # cpu profile: the velocity net trains alone first, then stays fixed
                warm_up_velocity(model.velocity, data, run_dir, method=self.name, seed=seed,
                                 steps=cfg.velocity_warmup, lr=cfg.velocity_lr or cfg.lr, context=2,
                                 clip_frames=min(6, data.videos.shape[1]), pool=cfg.velocity_pool,
                                 divergence_weight=cfg.velocity_divergence,
                                 frames_in=lambda v: pool_frames(v, cfg.velocity_scale), resume=resume,
                                 progress=progress)
                model.velocity.requires_grad_(False)
            self._data_dependent_init(data, seed)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                               betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps)
        warmup = max(1, cfg.warmup_steps)
        # upstream "constant*linear_warmup": lr * min(1, step / warmup_steps), step counted from 0
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, s / warmup))
        scored = cfg.num_train_frames - cfg.num_cond_latents
        fit_from = cfg.train.steps - cfg.mean_fit_steps  # config.mean_fit_steps: the last steps fit the mean
        if cfg.mean_fit_steps and cfg.n_levels != 1:
            raise ValueError("videoflow: mean_fit_steps needs n_levels 1 (only the top prior is fitted)")

        def loss_fn(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            if cfg.mean_fit_steps and batch.step >= fit_from:  # frames at their bin centres, as predicted
                return self._mean_fit_loss(bin_centre(batch.videos, cfg.n_bits) if cfg.bin_centres
                                           else dequantize(batch.videos, cfg.n_bits, batch.generator))
            x = dequantize(batch.videos, cfg.n_bits, batch.generator)
            nats = model.log_prob(x, num_context=cfg.num_cond_latents)
            bpd = self._bits_per_dim(nats, scored).mean()
            return bpd, {}

        parts = TrainParts(method=self.name, modules={"model": model}, phases=[Phase("bits_per_dim", opt, loss_fn)],
                           schedulers={"lr": sched}, config=self.config_dict())
        with one_cpu_thread(self.device):  # small convs: threads only add synchronisation on a CPU
            return loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=cfg.num_train_frames,
                              resume=resume, progress=progress)

    def _mean_fit_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``config.mean_fit_steps``: the flow frozen, the top prior's mean fitted by a squared error to
        the latents of the frames after the first ``k``, its scale by the log-density of the detached
        mean; both averaged per latent dimension."""
        cfg, model = self.config, self.model
        k = cfg.num_cond_latents
        with torch.no_grad():
            z = [model.flow_forward(x[:, t]).z_top for t in range(x.shape[1])]
            skips = {t: model.moved_skip(x[:, t - 2], x[:, t - 1]) for t in range(max(k, 2), x.shape[1])}
        mse = nll = x.new_zeros(())
        for t in range(k, x.shape[1]):
            mean, log_scale = model.top(z[t], z[t - k:t], skips.get(t))
            mse = mse + ((mean - z[t]) ** 2).mean()
            nll = nll - gaussian_log_prob(z[t], mean.detach(), log_scale).mean() / z[t][0].numel()
        n = x.shape[1] - k
        return (mse + cfg.mean_fit_scale_weight * nll) / n, {"mean_mse": (mse / n).detach()}

    @torch.no_grad()
    def _data_dependent_init(self, data: TrainData, seed: int) -> None:
        """Actnorm statistics from ``init_batch_size`` random training patches (upstream's init batch)."""
        cfg = self.config
        rng = np.random.default_rng([seed, 7])
        n = min(cfg.init_batch_size, len(data.videos))
        idx = rng.choice(len(data.videos), size=n, replace=len(data.videos) < n)
        starts = rng.integers(0, data.videos.shape[1] - cfg.num_train_frames + 1, size=n)
        clips = np.stack([data.videos[i, s:s + cfg.num_train_frames] for i, s in zip(idx, starts)])
        x = torch.from_numpy(clips).to(self.device).float() / 255
        g = self.rng(seed, self.device)
        self.model.train()
        self.model.log_prob(dequantize(x, cfg.n_bits, g), num_context=cfg.num_cond_latents)
        self.model.eval()

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        cfg = self.config
        self.model.eval()
        gen = self.rng(seed, self.device)
        k = cond.num_samples
        # At temperature 0 every sample follows the priors' means from the same encoded context: one
        # rollout per context, repeated k times (the same frames, a k-th of the work).
        k_run = 1 if cfg.temperature == 0 else k
        if cfg.bin_centres:  # discrete frames in and out (config.bin_centres)
            ctx = bin_centre(cond.context, cfg.n_bits)
            quantize = lambda x, prev: snap_to_neighbours(nearest_bin_centre(x, cfg.n_bits), prev,  # noqa: E731
                                                          cfg.snap_radius)
        else:
            ctx, quantize = dequantize(cond.context, cfg.n_bits, gen), None
        per = max(1, 64 // k_run)  # contexts per call: about 64 frames sampled at once
        with one_cpu_thread(self.device):  # frame-by-frame small convs (methods/common/threads.py)
            out = [self.model.sample(chunk, cond.num_frames, cfg.temperature, gen, num_samples=k_run,
                                     quantize=quantize)
                   for chunk in ctx.split(per)]
        future = torch.cat(out)
        # upstream postprocess: non-finite values (a reverse pass can overflow) become 1, then clip
        future = torch.where(torch.isfinite(future), future, torch.ones_like(future))
        # bin centres: subtract the half bin, so the harness's rounding gives back each frame's level
        # (else a copy of the context comes back one level up on about half the pixels)
        offset = 2.0 ** -(cfg.n_bits + 1) if cfg.bin_centres else 0.0
        future = (future + 0.5 - offset).clamp(0, 1)
        future = future.reshape(cond.batch_size, k_run, *future.shape[1:])
        return future.expand(-1, k, *future.shape[2:]).contiguous()

    def likelihood_protocol(self) -> dict[str, Any]:
        cfg = self.config
        return {"frames": "future",
                "dequantization": (f"uniform: x = level/255 - 0.5 + u, u ~ U[0, 2^-{cfg.n_bits}) per dim, one draw "
                                   f"(seed {LIKELIHOOD_SEED}); log P(levels) >= log p(x) - D log {2 ** cfg.n_bits} "
                                   "(next_frame_glow's uniform_binning_correction)"),
                "conditioning": (f"context frames encoded first (dequantised the same way); each frame's prior "
                                 f"conditions on the last {cfg.num_cond_latents} frames' latents"),
                "exact": "exact flow density of the dequantised frames; a lower bound on the discrete likelihood"}

    @torch.no_grad()
    def log_likelihood(self, videos: Tensor, cond: Conditioning) -> Tensor:
        """``(B,)`` nats: the dequantised bound ``log p(x) - D log 256`` of the frames after the context.

        ``videos``: the whole clips ``(B, c + p, C, H, W)`` (context first) or only the future
        ``(B, p, C, H, W)`` with the context in ``cond``."""
        cfg = self.config
        self.model.eval()
        c = cond.context_frames
        if c and videos.shape[1] == cond.num_frames:
            videos = torch.cat([cond.context.to(videos), videos], dim=1)
        p = videos.shape[1] - c
        g = self.rng(LIKELIHOOD_SEED, self.device)
        x = dequantize(videos.to(self.device).float(), cfg.n_bits, g)
        with one_cpu_thread(self.device):
            nats = torch.cat([self.model.log_prob(chunk, num_context=c) for chunk in x.split(32)])
        dims = p * cfg.channels * cfg.resolution[0] * cfg.resolution[1]
        return nats - dims * cfg.n_bits * LN2
