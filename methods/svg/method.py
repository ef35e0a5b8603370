"""``svg_lp`` and ``svg_fp``: Denton & Fergus, "Stochastic Video Generation with a Learned Prior",
ICML 2018 (arXiv 1802.07687); upstream ``edenton/svg`` (``train_svg_{lp,fp}.py``,
``generate_svg_{lp,fp}.py``).

Training follows upstream's ``train``: every clip of the training protocol's ``c + p`` frames is
teacher-forced through all five networks and one Adam step (upstream: one Adam per network, all
with the same settings -- the same update) minimises ``sum_t MSE + beta * sum_t KL / B``.
Prediction draws ``k`` samples per context from the prior (learned for SVG-LP, N(0, I) for
SVG-FP); the harness picks the best of them per sequence by the mean over time (SVG's convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, ProfileUnavailable, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.common.frame_codecs import init_copy_mask_
from methods.common.lstm import init_svg_
from methods.common.resize import check_model_frames
from methods.common.velocity_warmup import warm_up_velocity
from methods.common.warp import velocity_param_groups
from methods.svg import config as C
from methods.svg.model import SVGModel
from methods.svg.official import config_from_official, load_official_state

PAPER = ("Denton & Fergus 2018, Stochastic Video Generation with a Learned Prior "
         "(ICML 2018; arXiv:1802.07687)")
# Contexts x samples decoded together when sampling (bounds memory at k = 100).
SAMPLE_BATCH = 256


class _SVG(Method):
    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = PAPER
    prior_kind = "learned"

    def __init__(self, config: C.SVGConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> SVGModel:
        # Seeded construction that leaves the caller's global RNG untouched; upstream's init.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = init_svg_(SVGModel(self.config))
            if self.config.mask_bias:  # cpu profile: the copy mask starts near a copy
                init_copy_mask_(model.decoder, self.config.mask_bias)
            if model.velocity is not None:  # its own init (last conv 0: no motion at first), not upstream's
                model.velocity.reset_parameters()
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def optimizer(self) -> torch.optim.Adam:
        """One Adam at upstream's lr and betas over every network (module docstring); the velocity net
        (``copy_velocity``) in its own group at ``velocity_lr``."""
        cfg, model = self.config, self.model
        rest = [p for name, p in model.named_parameters() if not name.startswith("velocity.")]
        return torch.optim.Adam(velocity_param_groups(rest, model.velocity, cfg.velocity_lr), lr=cfg.lr,
                                betas=(cfg.beta1, 0.999))

    @classmethod
    def from_official(cls, networks: dict[str, tuple[str, dict[str, Tensor]]], options: dict[str, Any],
                      spec: DataSpec) -> "_SVG":
        """This method with upstream's released weights (``train_svg_*.py``'s ``model.pth``, unpickled
        safely into ``networks``: name -> (class path, state dict), and ``options``: its ``opt``)."""
        try:
            base = cls.profiles["paper"](spec)
        except ProfileUnavailable:
            p = spec.train_protocol("prediction")
            base = C.SVGConfig(prior=cls.prior_kind, channels=spec.channels, resolution=tuple(spec.resolution),
                               context_frames=p.context_frames, future_frames=p.future_frames)
        cfg = config_from_official(networks, options, cls.prior_kind, base)
        if cfg.channels != spec.channels or tuple(cfg.resolution) != tuple(spec.resolution):
            raise ValueError(f"{cls.name}: the checkpoint is for {cfg.channels}x{cfg.resolution[0]}x"
                             f"{cfg.resolution[1]} frames, dataset {spec.dataset!r} has {spec.channels}x"
                             f"{spec.resolution[0]}x{spec.resolution[1]}")
        method = cls(cfg, spec)
        load_official_state(method.model, networks)
        method.model.eval()
        return method

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        self.check_stage(stage)
        cfg = self.config
        proto = data.protocols.get("prediction")
        clip = proto.num_frames if proto else cfg.context_frames + cfg.future_frames
        if proto is not None and proto.context_frames != cfg.context_frames:
            raise ValueError(f"{self.name}: the config was built for {cfg.context_frames} context frames, the "
                             f"training protocol has {proto.context_frames} (rebuild the profile for this data)")
        check_model_frames(self.name, data.videos.shape, self.config, "training videos")
        self.model = self._build(seed)
        model = self.model
        if cfg.velocity_warmup:  # cpu option: the copy source moves from the first step (velocity_warmup.py)
            warm_up_velocity(model.velocity, data, run_dir, method=self.name, seed=seed, steps=cfg.velocity_warmup,
                             lr=cfg.velocity_lr or cfg.lr, context=cfg.context_frames, clip_frames=clip,
                             pool=cfg.velocity_pool, divergence_weight=cfg.velocity_divergence,
                             frames_in=model._in, resume=resume, progress=progress)
        optimizer = self.optimizer()

        def step(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            loss, parts = model.loss(model(batch.videos, generator=batch.generator))
            return loss, parts

        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("svg", optimizer, step)],
                           config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=clip, resume=resume,
                             progress=progress)
        model.eval()
        return summary

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, k, p, C, H, W)``: ``k = cond.num_samples`` samples from the prior per context."""
        ctx = cond.context
        check_model_frames(self.name, tuple(ctx.shape), self.config, "context frames")
        if ctx.shape[1] < 2 and not self.config.last_frame_skip:
            raise ValueError(f"{self.name}: needs at least 2 context frames (upstream's skip connections come "
                             f"from context frame c - 2), got {ctx.shape[1]}")
        self.model.eval()
        gen = self.rng(seed, self.device)
        k = cond.num_samples
        per = max(1, SAMPLE_BATCH // k)
        out = [self.model.rollout(chunk.to(self.device, torch.float32), cond.num_frames, k, gen).cpu()
               for chunk in ctx.split(per)]
        return torch.cat(out).clamp_(0, 1)


@METHODS.register("svg_lp")
class SVGLP(_SVG):
    """SVG with a learned prior: an LSTM p(z_t | x_{1:t-1})."""

    prior_kind = "learned"
    profiles = {"paper": C.paper_profile("learned"), "cpu": C.cpu_profile("learned"),
                "smoke": C.smoke_profile("learned")}


@METHODS.register("svg_fp")
class SVGFP(_SVG):
    """SVG with a fixed N(0, I) prior."""

    prior_kind = "fixed"
    profiles = {"paper": C.paper_profile("fixed"), "cpu": C.cpu_profile("fixed"),
                "smoke": C.smoke_profile("fixed")}
