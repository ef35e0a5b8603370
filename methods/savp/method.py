"""``savp``, ``savp_vae``, ``savp_gan``, ``savp_det``: SAVP and its ablations, trained with the shared loop.

One training step follows ``VideoPredictionModel.build_graph`` (``alexlee-gk/video_prediction``
``models/base_model.py``) for one GPU:

1. the generator runs on the clip once per latent source -- the *posterior* path (latents from the
   encoder on frame pairs; ``savp``, ``savp_vae``) and the *prior* path (latents ~ N(0, I), the first
   ``c - 1`` taken from the posterior when there is an encoder; ``savp``, ``savp_gan``, ``savp_det``),
   each with its own scheduled-sampling draw (inverse sigmoid, ``k = 900``);
2. the discriminator phase: LSGAN on a random ``clip_length`` window of the real frames ``1..T-1`` vs
   the prior predictions (video D) and vs the posterior predictions (VAE-GAN video D);
3. the generator phase, against the *updated* discriminators on fresh windows: L1 to frames
   ``1..T-1`` (posterior predictions if there is an encoder, else prior ones), KL (weight annealed
   linearly), LSGAN losses and the cosine-distance feature-matching losses.

Both phases use Adam with the learning rate decayed linearly to ``end_lr`` over ``decay_steps``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

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
from methods.common.warp import (VelocityNet, check_velocity_options, divergence_penalty, step_copy_sources,
                                 velocity_param_groups)
from methods.savp import config as C
from methods.savp.model import PosteriorEncoder, SAVPGenerator, VideoDiscriminator

PREDICT_CHUNK = 64  # videos per generator call at prediction time (fixed: noise draws depend on it)


def ground_truth_mask(step: int, batch: int, num_steps: int, context: int, k: float,
                      generator: torch.Generator, device: torch.device) -> Tensor:
    """Scheduled sampling ``(B, num_steps)`` bool: steps ``< context`` read the true frame; later ones
    do with probability ``k / (k + exp(step / k))`` (upstream ``inverse_sigmoid``), never once it is < 0.001.
    """
    truth = torch.zeros(batch, num_steps, dtype=torch.bool, device=device)
    truth[:, :context] = True
    prob = k / (k + math.exp(min(step / k, 700.0)))
    if prob >= 0.001 and num_steps > context:
        draw = torch.rand(batch, num_steps - context, generator=generator, device=generator.device).to(device)
        truth[:, context:] = draw < prob
    return truth


def random_clips(frames: Tensor, length: int, generator: torch.Generator) -> Tensor:
    """A random window of ``length`` frames per video of ``frames (B, S, ...)`` (start uniform per video)."""
    b, s = frames.shape[:2]
    start = torch.randint(0, s - length + 1, (b,), generator=generator, device=generator.device).to(frames.device)
    idx = start[:, None] + torch.arange(length, device=frames.device)
    return frames[torch.arange(b, device=frames.device)[:, None], idx]


def cosine_distance(a: Tensor, b: Tensor, eps: float = 1e-10) -> Tensor:
    """Upstream ``losses.cosine_distance`` on channel vectors (dim 1): mean of ``|â - b̂|² / 2``."""
    a = a / (a.norm(dim=1, keepdim=True) + eps)
    b = b / (b.norm(dim=1, keepdim=True) + eps)
    return (a - b).square().sum(dim=1).mean() / 2


def kl_standard_normal(mu: Tensor, log_sigma_sq: Tensor) -> Tensor:
    """``KL(N(mu, σ²) || N(0, I))`` summed over the latent, averaged over the rest (upstream ``kl_loss``)."""
    return (-0.5 * (1 + log_sigma_sq - mu.square() - log_sigma_sq.exp()).sum(-1)).mean()


def linear_ramp(step: int, start: int, end: int) -> float:
    """0 before ``start``, 1 after ``end``, linear between (a step at ``start`` when ``start == end``)."""
    if end <= start:
        return float(step >= start)
    return min(max((step - start) / (end - start), 0.0), 1.0)


class _SAVPBase(Method):
    """Shared implementation; subclasses fix :attr:`variant`."""

    variant: ClassVar[str] = "savp"
    tasks = ("prediction",)
    trainable = True

    def __init__(self, config: C.SAVPConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self._validate(config)
        self.generator, self.encoder, self.disc, self.disc_enc, self.velocity = self._build(seed=0)

    # ------------------------------------------------------------------------------ building ---
    def _validate(self, cfg: C.SAVPConfig) -> None:
        name = self.name
        if cfg.transformation not in ("cdna", "dna"):
            raise ValueError(f"{name}: transformation must be 'cdna' or 'dna', got {cfg.transformation!r}")
        if self.stochastic and cfg.nz <= 0:
            raise ValueError(f"{name}: a stochastic variant needs nz > 0, got nz={cfg.nz}")
        if not self.stochastic and (cfg.nz or cfg.encoder):
            raise ValueError(f"{name}: the deterministic variant has no latent (nz=0, encoder=False)")
        if cfg.vae_gan_weight and not cfg.encoder:
            raise ValueError(f"{name}: vae_gan_weight needs the posterior encoder (encoder=True)")
        if cfg.kl_weight and not cfg.encoder:
            raise ValueError(f"{name}: kl_weight needs the posterior encoder (encoder=True)")
        if (cfg.copy_velocity or cfg.copy_mask_bias) and not cfg.prev_image_background:
            raise ValueError(f"{name}: copy_velocity / copy_mask_bias act on the previous-image candidate "
                             "(prev_image_background=True)")
        check_velocity_options(name, cfg)
        h, w = cfg.resolution
        if cfg.frame_scale < 1 or h % cfg.frame_scale or w % cfg.frame_scale:
            raise ValueError(f"{name}: frame_scale {cfg.frame_scale} must divide the frame size {h}x{w}")
        steps = cfg.context_frames + cfg.future_frames - 1
        if (cfg.gan_weight or cfg.vae_gan_weight) and not 1 <= cfg.clip_length <= steps:
            raise ValueError(f"{name}: clip_length {cfg.clip_length} must be in [1, {steps}] (predicted frames "
                             f"of a training clip of {cfg.context_frames}+{cfg.future_frames})")

    def _build(self, seed: int):
        cfg = self.config
        res = (cfg.resolution[0] // cfg.frame_scale, cfg.resolution[1] // cfg.frame_scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            gen = SAVPGenerator(cfg.channels, res, cfg.ngf, cfg.nz, cfg.action_dim, cfg.kernel_size,
                                cfg.num_transformed_images, cfg.transformation, cfg.prev_image_background,
                                cfg.first_image_background, cfg.generate_scratch_image, cfg.dependent_mask,
                                cfg.use_rnn_z)
            enc = PosteriorEncoder(cfg.channels, cfg.nz, cfg.action_dim, cfg.nef, cfg.n_layers) if cfg.encoder else None
            disc = VideoDiscriminator(cfg.channels, cfg.clip_length, res, cfg.ndf) if cfg.gan_weight else None
            disc_enc = VideoDiscriminator(cfg.channels, cfg.clip_length, res, cfg.ndf) if cfg.vae_gan_weight else None
            velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None
        if cfg.copy_mask_bias:
            with torch.no_grad():  # the previous-image mask follows the CDNA images' masks
                gen.masks.bias[gen.num_transformed] += cfg.copy_mask_bias
        return tuple(m.to(self.device) if m is not None else None for m in (gen, enc, disc, disc_enc, velocity))

    def modules(self) -> dict[str, nn.Module]:
        mods = {"generator": self.generator, "encoder": self.encoder, "discriminator": self.disc,
                "discriminator_enc": self.disc_enc, "velocity": self.velocity}
        return {k: v for k, v in mods.items() if v is not None}

    def backgrounds(self, context: Tensor, steps: int) -> tuple[Tensor | None, Tensor | None]:
        """With ``copy_velocity``: the previous-image candidate of each of ``steps`` steps ``(B, steps, C, H, W)``
        and the field ``(B, 2, H, W)`` of ``context (B, c, C, H, W)`` (:func:`~methods.common.warp
        .step_copy_sources`); ``(None, None)`` without (upstream: the frame the step reads)."""
        if self.velocity is None:
            return None, None
        return step_copy_sources(self.velocity, context, steps, self.config.velocity_pool)

    def conditioning_inputs(self, task: str) -> tuple[str, ...]:
        return ("actions",) if self.config.action_dim else ()

    # ------------------------------------------------------------------------------ training ---
    def _actions_for(self, batch: Batch, frames: int) -> Tensor | None:
        if not self.config.action_dim:
            return None
        idx, start = batch.index.cpu().numpy(), batch.start.cpu().numpy()
        clips = np.stack([self._train_actions[i, s:s + frames] for i, s in zip(idx, start)])
        return torch.from_numpy(clips).to(batch.videos.device, torch.float32)

    def _forward_train(self, batch: Batch) -> dict[str, Any]:
        """Both generator paths on the batch (kept with their graphs for the phases)."""
        cfg, g = self.config, batch.generator
        x = pool_frames(batch.videos, cfg.frame_scale)
        b, t = x.shape[:2]
        steps, c = t - 1, cfg.context_frames
        actions = self._actions_for(batch, t)
        out: dict[str, Any] = {"x": x, "actions": actions, "step": batch.step, "generator": g}
        backgrounds, out["velocity"] = self.backgrounds(x[:, :c], steps)
        out["moved"] = None if backgrounds is None else backgrounds[:, c - 1:]

        def truth() -> Tensor:
            return ground_truth_mask(batch.step, b, steps, c, cfg.schedule_sampling_k, g, x.device)

        def randn(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=g, device=g.device).to(x.device)

        z_post = None
        if self.encoder is not None:
            mu, log_sigma_sq = self.encoder(x, actions)
            z_post = mu + (0.5 * log_sigma_sq).exp() * randn(*mu.shape)
            out.update(mu=mu, log_sigma_sq=log_sigma_sq)
            out["gen_enc"] = self.generator(x, steps, z_post, actions, truth(), backgrounds)
        if self.disc is not None or self.encoder is None:
            zs = None
            if cfg.nz:
                zs = randn(b, steps, cfg.nz)
                if z_post is not None:
                    zs = torch.cat([z_post[:, :c - 1], zs[:, c - 1:]], dim=1)
            out["gen"] = self.generator(x, steps, zs, actions, truth(), backgrounds)
        return out

    def _d_loss(self, out: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        cfg, g = self.config, out["generator"]
        real = out["x"][:, 1:]
        extras, loss = {}, real.new_zeros(())
        for disc, weight, key, name in ((self.disc, cfg.gan_weight, "gen", "gan"),
                                        (self.disc_enc, cfg.vae_gan_weight, "gen_enc", "vae_gan")):
            if disc is None:
                continue
            disc.requires_grad_(True)
            _, lr = disc(random_clips(real, cfg.clip_length, g))
            _, lf = disc(random_clips(out[key].detach(), cfg.clip_length, g))
            term = (lr - 1).square().mean() + lf.square().mean()  # LSGAN
            extras[name] = term
            loss = loss + weight * term
        return loss, extras

    def _g_loss(self, out: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        cfg, g = self.config, out["generator"]
        real = out["x"][:, 1:]
        recon = out["gen_enc"] if self.encoder is not None else out["gen"]
        extras: dict[str, Tensor] = {}
        loss = real.new_zeros(())
        if cfg.l1_weight:
            extras["l1"] = (recon - real).abs().mean()
            loss = loss + cfg.l1_weight * extras["l1"]
        if cfg.l2_weight:
            extras["l2"] = (recon - real).square().mean()
            loss = loss + cfg.l2_weight * extras["l2"]
        if out["velocity"] is not None:  # the moved frames on their own, and a field that neither grows nor shrinks
            extras["velocity_mse"] = (out["moved"] - out["x"][:, cfg.context_frames:]).square().mean()
            extras["velocity_divergence"] = divergence_penalty(out["velocity"])
            loss = loss + cfg.velocity_loss * extras["velocity_mse"] + \
                cfg.velocity_divergence * extras["velocity_divergence"]
        if self.encoder is not None and cfg.kl_weight:
            extras["kl"] = kl_standard_normal(out["mu"], out["log_sigma_sq"])
            weight = cfg.kl_weight * linear_ramp(out["step"], *cfg.kl_anneal_steps)
            loss = loss + weight * extras["kl"]
        for disc, weight, fm_weight, key, name in (
                (self.disc, cfg.gan_weight, cfg.gan_feature_cdist_weight, "gen", "gan"),
                (self.disc_enc, cfg.vae_gan_weight, cfg.vae_gan_feature_cdist_weight, "gen_enc", "vae_gan")):
            if disc is None:
                continue
            disc.requires_grad_(False)  # G's phase: no discriminator weight gradients needed
            feats, lf = disc(random_clips(out[key], cfg.clip_length, g))
            extras[name] = (lf - 1).square().mean()
            loss = loss + weight * extras[name]
            if fm_weight:
                with torch.no_grad():
                    real_feats, _ = disc(random_clips(real, cfg.clip_length, g))
                extras[f"{name}_cdist"] = sum(cosine_distance(f, r) for f, r in zip(feats, real_feats))
                loss = loss + fm_weight * extras[f"{name}_cdist"]
        return loss, extras

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        c, p = cfg.context_frames, cfg.future_frames
        self._train_actions = check_prediction_training(self.name, data, cfg)
        self.generator, self.encoder, self.disc, self.disc_enc, self.velocity = self._build(seed)
        if cfg.velocity_warmup:  # cpu option: the copy source moves from the first step (velocity_warmup.py)
            warm_up_velocity(self.velocity, data, run_dir, method=self.name, seed=seed, steps=cfg.velocity_warmup,
                             lr=cfg.velocity_lr or cfg.lr, context=c, clip_frames=c + p, pool=cfg.velocity_pool,
                             divergence_weight=cfg.velocity_divergence,
                             frames_in=lambda v: pool_frames(v, cfg.frame_scale), resume=resume, progress=progress)

        betas = (cfg.beta1, cfg.beta2)
        g_opt = self.generator_optimizer()
        start, end = cfg.decay_steps

        def lr_factor(step: int) -> float:
            return 1.0 + (cfg.end_lr / cfg.lr - 1.0) * linear_ramp(step, start, end)

        phases, schedulers = [], {"g_lr": torch.optim.lr_scheduler.LambdaLR(g_opt, lr_factor)}
        d_params = [p for m in (self.disc, self.disc_enc) if m is not None for p in m.parameters()]
        if d_params:
            d_opt = torch.optim.Adam(d_params, lr=cfg.lr, betas=betas)
            phases.append(Phase("discriminator", d_opt, self._d_loss))
            schedulers["d_lr"] = torch.optim.lr_scheduler.LambdaLR(d_opt, lr_factor)
        phases.append(Phase("generator", g_opt, self._g_loss))
        parts = TrainParts(method=self.name, modules=self.modules(), phases=phases, make_batch=self._forward_train,
                           schedulers=schedulers, config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=c + p, resume=resume,
                             progress=progress)
        for m in self.modules().values():
            m.eval().requires_grad_(True)
        return summary

    def generator_optimizer(self) -> torch.optim.Adam:
        """Adam over the generator and the encoder; the velocity net (``copy_velocity``) in its own group at
        ``velocity_lr``."""
        cfg = self.config
        rest = [p for m in (self.generator, self.encoder) if m is not None for p in m.parameters()]
        return torch.optim.Adam(velocity_param_groups(rest, self.velocity, cfg.velocity_lr), lr=cfg.lr,
                                betas=(cfg.beta1, cfg.beta2))

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict_frames(self, context: Tensor, num_future: int, num_samples: int, actions: Tensor | None,
                       seed: int) -> Tensor:
        """``(B, k, num_future, C, H, W)`` in [0, 1] from ``context (B, c, C, H, W)`` (``k = 1`` if deterministic).

        Latents: the posterior of the context pairs for the first ``c - 1`` steps (with an encoder), then
        N(0, I), as upstream's test graph; each sample draws its own.
        """
        cfg = self.config
        for m in self.modules().values():
            m.eval()
        b, c = context.shape[:2]
        k = num_samples if self.stochastic else 1
        steps = c + num_future - 1
        if cfg.action_dim:
            if actions is None or actions.shape[1] < steps:
                raise ValueError(f"{self.name}: needs actions (B, >= {steps}, {cfg.action_dim})")
            actions = actions.to(self.device, torch.float32)
        gen = self.rng(seed, self.device)
        context = pool_frames(context.to(self.device, torch.float32), cfg.frame_scale)
        rows = torch.arange(b, device=self.device).repeat_interleave(k)  # video of each (video, sample) row
        outs = []
        for chunk in rows.split(PREDICT_CHUNK):
            ctx = context[chunk]
            act = actions[chunk] if cfg.action_dim else None
            zs = None
            if cfg.nz:
                zs = torch.randn(len(chunk), steps, cfg.nz, generator=gen, device=self.device)
                if self.encoder is not None and c > 1:
                    mu, lss = self.encoder(ctx, act)
                    zs[:, :c - 1] = mu + (0.5 * lss).exp() * zs[:, :c - 1]
            backgrounds, _ = self.backgrounds(ctx, steps)
            outs.append(self.generator(ctx, steps, zs, act, backgrounds=backgrounds)[:, c - 1:])
        out = torch.cat(outs).view(b, k, num_future, *context.shape[2:]).clamp_(0, 1)
        return upsample_frames(out, cfg.frame_scale).cpu()

    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        return self.predict_frames(cond.context, cond.num_frames, cond.num_samples, cond.actions, seed)


PAPER = "Lee, Zhang, Ebert, Abbeel, Finn & Levine 2018, Stochastic Adversarial Video Prediction (arXiv 1804.01523)"


@METHODS.register("savp")
class SAVP(_SAVPBase):
    """SAVP: VAE + GAN (posterior and prior paths, two video discriminators)."""

    variant = "savp"
    stochastic = True
    paper = PAPER
    profiles = {"paper": C.paper("savp"), "cpu": C.cpu("savp"), "smoke": C.smoke("savp")}


@METHODS.register("savp_vae")
class SAVPVAE(_SAVPBase):
    """SAVP's "VAE-only" ablation: L1 + KL, no discriminator."""

    variant = "vae"
    stochastic = True
    paper = PAPER + ", VAE-only ablation"
    profiles = {"paper": C.paper("vae"), "cpu": C.cpu("vae"), "smoke": C.smoke("vae")}


@METHODS.register("savp_gan")
class SAVPGAN(_SAVPBase):
    """SAVP's "GAN-only" ablation: latents from the prior, L1 + video GAN."""

    variant = "gan"
    stochastic = True
    paper = PAPER + ", GAN-only ablation"
    profiles = {"paper": C.paper("gan"), "cpu": C.cpu("gan"), "smoke": C.smoke("gan")}


@METHODS.register("savp_det")
class SAVPDeterministic(_SAVPBase):
    """SAVP's deterministic ablation: the same generator without latents, L1 only."""

    variant = "deterministic"
    stochastic = False
    paper = PAPER + ", deterministic ablation"
    profiles = {"paper": C.paper("deterministic"), "cpu": C.cpu("deterministic"),
                "smoke": C.smoke("deterministic")}
