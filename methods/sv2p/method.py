"""``sv2p``: SV2P trained with the shared loop, its three phases as a step-dependent loss.

One optimiser (Adam) and one global step drive everything, as in tensor2tensor where the phases
are ``tf.cond``s on the global step (``base_vae.construct_latent_tower``, ``get_beta``) and the
scheduled-sampling count also follows the global step:

* phase 1 (``step < stage1_steps``): the latent is drawn from N(0, I); the inference network is not used;
* phase 2: the latent is drawn from the inference network ``q(z | x_{0:T-1})`` (all frames of the clip);
  the KL weight is 0;
* phase 3 (``step >= stage1 + stage2``): the KL weight rises linearly from 0 to ``kl_weight`` over
  ``kl_ramp_steps`` steps and stays there.

Loss per step (t2t): MSE of the predicted target frames + MSE of the predicted context frames
(``internal_loss``) + ``beta * KL / (T - 1)`` with ``KL`` summed over the latent map and averaged over
the batch. At test time the latent is N(0, I).
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
from methods.common.frames import pool_frames, upsample_frames
from methods.common.train_data import check_prediction_training
from methods.common.velocity_warmup import warm_up_velocity
from methods.common.warp import VelocityNet, divergence_penalty, step_copy_sources, velocity_param_groups
from methods.sv2p import config as C
from methods.sv2p.model import LatentTower, SV2PPredictor

PREDICT_CHUNK = 64


def ground_truth_count_mask(step: int, batch: int, num_steps: int, context: int, k: float,
                            generator: torch.Generator, device: torch.device) -> Tensor:
    """t2t ``scheduled_sample_count``: ``(B, num_steps)`` bool; steps ``< context`` read the true frame,
    later ones do for ``round(B * k / (k + exp(step / k)))`` videos, a fresh random choice per step."""
    truth = torch.zeros(batch, num_steps, dtype=torch.bool, device=device)
    truth[:, :context] = True
    n_true = int(round(batch * (k / (k + math.exp(min(step / k, 700.0))))))
    for t in range(context, num_steps):
        if n_true:
            perm = torch.randperm(batch, generator=generator, device=generator.device).to(device)
            truth[perm[:n_true], t] = True
    return truth


def kl_sum_per_video(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(mean, e^log_var) || N(0, 1))`` summed over every element, divided by the batch size."""
    return (0.5 * (mean.square() + log_var.exp() - 1 - log_var)).sum() / mean.shape[0]


def beta_schedule(step: int, cfg: C.SV2PConfig) -> float:
    """0 in phases 1-2, then linear to ``kl_weight`` over ``kl_ramp_steps`` (t2t ``beta_schedule("linear")``)."""
    start = cfg.stage1_steps + cfg.stage2_steps
    if step < start:
        return 0.0
    if cfg.kl_ramp_steps <= 0:
        return cfg.kl_weight
    return cfg.kl_weight * min((step - start) / cfg.kl_ramp_steps, 1.0)


@METHODS.register("sv2p")
class SV2P(Method):
    """Stochastic Variational Video Prediction: CDNA predictor + video-level latent from an inference network."""

    name = "sv2p"
    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = ("Babaeizadeh, Finn, Erhan, Campbell & Levine 2018, Stochastic Variational Video Prediction "
             "(ICLR, arXiv 1710.11252)")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}

    def __init__(self, config: C.SV2PConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        h, w = config.resolution
        s = config.frame_scale
        if s < 1 or h % (8 * s) or w % (8 * s):
            raise ValueError(f"sv2p: frames {h}x{w} at frame_scale {s} must be divisible by {8 * s}")
        self.predictor, self.tower, self.velocity = self._build(seed=0)

    def _build(self, seed: int) -> tuple[SV2PPredictor, LatentTower | None, VelocityNet | None]:
        cfg = self.config
        res = (cfg.resolution[0] // cfg.frame_scale, cfg.resolution[1] // cfg.frame_scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pred = SV2PPredictor(cfg.channels, res, cfg.num_masks, cfg.latent_channels, cfg.action_dim, cfg.model,
                                 cfg.kernel_size, cfg.relu_shift, cfg.width_divisor, cfg.cdna_shift_init,
                                 cfg.copy_mask_bias)
            tower = (LatentTower(cfg.channels, cfg.context_frames + cfg.future_frames, cfg.latent_channels,
                                 cfg.latent_std_min, cfg.width_divisor) if cfg.latent_channels else None)
            velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None
        return tuple(m.to(self.device) if m is not None else None for m in (pred, tower, velocity))

    def modules(self) -> dict[str, nn.Module]:
        mods = {"predictor": self.predictor}
        if self.tower is not None:
            mods["latent_tower"] = self.tower
        if self.velocity is not None:
            mods["velocity"] = self.velocity
        return mods

    def backgrounds(self, context: Tensor, steps: int) -> tuple[Tensor | None, Tensor | None]:
        """With ``copy_velocity``: what mask 0 copies at each of ``steps`` steps ``(B, steps, C, H, W)`` -- the
        true previous frame while the step reads the context, then the last context frame carried ``h = 1,
        2, ...`` steps along the field of ``context (B, c, C, H, W)`` -- and that field ``(B, 2, H, W)``;
        ``(None, None)`` without (upstream: the frame the step reads)."""
        if self.velocity is None:
            return None, None
        return step_copy_sources(self.velocity, context, steps, self.config.velocity_pool)

    def conditioning_inputs(self, task: str) -> tuple[str, ...]:
        return ("actions",) if self.config.action_dim else ()

    # ------------------------------------------------------------------------------ training ---
    def _noise(self, b: int, steps: int, generator: torch.Generator, device: torch.device) -> Tensor:
        shape = self.predictor.latent_shape()
        if self.config.time_variant_latent:
            return torch.randn(b, steps, *shape, generator=generator, device=generator.device).to(device)
        return torch.randn(b, *shape, generator=generator, device=generator.device).to(device)

    def _loss(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        cfg, g = self.config, batch.generator
        x = pool_frames(batch.videos, cfg.frame_scale)
        b, t = x.shape[:2]
        steps, c = t - 1, cfg.context_frames
        actions = None
        if cfg.action_dim:
            idx, start = batch.index.cpu().numpy(), batch.start.cpu().numpy()
            actions = torch.from_numpy(np.stack([self._train_actions[i, s:s + t] for i, s in zip(idx, start)]))
            actions = actions.to(x.device, torch.float32)
        extras: dict[str, Tensor] = {}
        latent, kl = None, x.new_zeros(())
        if cfg.latent_channels:
            eps = self._noise(b, steps, g, x.device)
            if batch.step < cfg.stage1_steps:
                latent = eps  # phase 1: N(0, I), no inference network
            else:
                mean, log_var = self.tower(x)
                std = (0.5 * log_var).exp()
                latent = mean[:, None] + std[:, None] * eps if cfg.time_variant_latent else mean + std * eps
                kl = kl_sum_per_video(mean, log_var)
                extras["kl"] = kl
        truth = ground_truth_count_mask(batch.step, b, steps, c, cfg.schedule_sampling_k, g, x.device)
        backgrounds, field = self.backgrounds(x[:, :c], steps)
        gen = self.predictor(x, steps, latent, actions, truth, backgrounds)
        error = (lambda a, b: (a - b).abs().mean()) if cfg.recon_loss == "l1" else \
            (lambda a, b: (a - b).square().mean())
        extras[cfg.recon_loss] = error(gen[:, c - 1:], x[:, c:])
        loss = extras[cfg.recon_loss]
        if field is not None:  # the moved frames on their own, and a field that neither grows nor shrinks
            extras["velocity_mse"] = (backgrounds[:, c - 1:] - x[:, c:]).square().mean()
            extras["velocity_divergence"] = divergence_penalty(field)
            loss = loss + cfg.velocity_loss * extras["velocity_mse"] + \
                cfg.velocity_divergence * extras["velocity_divergence"]
        if cfg.internal_loss and c > 1:
            extras[f"{cfg.recon_loss}_context"] = error(gen[:, :c - 1], x[:, 1:c])
            loss = loss + extras[f"{cfg.recon_loss}_context"]
        beta = beta_schedule(batch.step, cfg)
        if beta:
            loss = loss + beta * kl / steps
        return loss, extras

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        c, p = cfg.context_frames, cfg.future_frames
        self._train_actions = check_prediction_training("sv2p", data, cfg)
        self.predictor, self.tower, self.velocity = self._build(seed)
        if cfg.velocity_warmup:  # cpu option: the copy source moves from the first step (velocity_warmup.py)
            warm_up_velocity(self.velocity, data, run_dir, method=self.name, seed=seed, steps=cfg.velocity_warmup,
                             lr=cfg.velocity_lr or cfg.lr, context=c, clip_frames=c + p, pool=cfg.velocity_pool,
                             divergence_weight=cfg.velocity_divergence,
                             frames_in=lambda v: pool_frames(v, cfg.frame_scale), resume=resume, progress=progress)
        opt = self.optimizer()
        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("loss", opt, self._loss)],
                           config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=c + p, resume=resume,
                             progress=progress)
        for m in self.modules().values():
            m.eval()
        return summary

    def optimizer(self) -> torch.optim.Adam:
        """Adam over every module; the velocity net (``copy_velocity``) in its own group at ``velocity_lr``."""
        cfg = self.config
        rest = [p for name, m in self.modules().items() if name != "velocity" for p in m.parameters()]
        return torch.optim.Adam(velocity_param_groups(rest, self.velocity, cfg.velocity_lr), lr=cfg.lr,
                                betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict_frames(self, context: Tensor, num_future: int, num_samples: int, actions: Tensor | None,
                       seed: int) -> Tensor:
        """``(B, k, num_future, C, H, W)`` in [0, 1]; the latent of each sample ~ N(0, I) (t2t inference)."""
        cfg = self.config
        self.predictor.eval()
        b, c = context.shape[:2]
        k = num_samples if cfg.latent_channels else 1
        steps = c + num_future - 1
        if cfg.action_dim:
            if actions is None or actions.shape[1] < steps:
                raise ValueError(f"sv2p: needs actions (B, >= {steps}, {cfg.action_dim})")
            actions = actions.to(self.device, torch.float32)
        gen = self.rng(seed, self.device)
        context = pool_frames(context.to(self.device, torch.float32), cfg.frame_scale)
        rows = torch.arange(b, device=self.device).repeat_interleave(k)
        outs = []
        for chunk in rows.split(PREDICT_CHUNK):
            latent = self._noise(len(chunk), steps, gen, self.device) if cfg.latent_channels else None
            act = actions[chunk] if cfg.action_dim else None
            backgrounds, _ = self.backgrounds(context[chunk], steps)
            outs.append(self.predictor(context[chunk], steps, latent, act, backgrounds=backgrounds)[:, c - 1:])
        out = torch.cat(outs).view(b, k, num_future, *context.shape[2:]).clamp_(0, 1)
        return upsample_frames(out, cfg.frame_scale).cpu()

    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        return self.predict_frames(cond.context, cond.num_frames, cond.num_samples, cond.actions, seed)
