"""``p2p``: Wang, Cheng, Lin, Chen & Sun, "Point-to-Point Video Generation", ICCV 2019 (arXiv
1904.02912); upstream ``yccyenchicheng/p2pvg`` (``train.py``, ``models/p2p_model.py``).

Two-ended prediction: given the start frame(s) (``Conditioning.context``) and the end frame
(``Conditioning.end_frame``), produce the frames in between and the end frame's time step. The
dataset must offer a two-ended protocol (``two_ended=True``).

Training follows upstream's ``P2PModel.forward``: each step draws a clip length in
``[max_seq_len - 2 delta_len, max_seq_len]`` (upstream's dynamic length; the clip's last frame is the
control point) and the skip-frame draws, then makes two updates from one forward pass: every
network but the prior on ``mse + beta * kld + w_align * align``, and the prior on
``kld + w_cpc * cpc`` (upstream's second backward pass; here its gradients are taken before any
weight changes -- see README).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.common.resize import check_model_frames
from methods.common.frame_codecs import init_copy_mask_
from methods.common.lstm import init_svg_
from methods.common.optim import OptimizerGroup
from methods.common.velocity_warmup import warm_up_velocity
from methods.p2p import config as C
from methods.p2p.model import P2PModel, backward_main_and_prior, kept_steps

SAMPLE_BATCH = 256


@METHODS.register("p2p")
class P2PMethod(Method):
    """SVG-LP made control-point aware: start and end frame in, the frames between out."""

    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = "Wang et al. 2019, Point-to-Point Video Generation (ICCV 2019; arXiv:1904.02912)"
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}
    dataset_options = {"two_ended": True}  # the start + end frame protocol, wherever a dataset offers it

    def __init__(self, config: C.P2PConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> P2PModel:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = init_svg_(P2PModel(self.config))  # upstream misc.utils.init_weights
            if self.config.mask_bias:  # cpu profile: the copy mask starts near a copy
                init_copy_mask_(model.decoder, self.config.mask_bias)
            if model.motion is not None:  # its own init (last conv 0: a plain copy at first), not upstream's
                model.motion.reset_parameters()
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def conditioning_inputs(self, task: str) -> tuple[str, ...]:
        return ("end_frame",)

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        self.check_stage(stage)
        cfg = self.config
        check_model_frames("p2p", data.videos.shape, self.config, "training videos")
        clip = min(cfg.max_seq_len, data.videos.shape[1])
        shortest = max(3, clip - 2 * cfg.delta_len)
        self.model = self._build(seed)
        model = self.model
        if model.motion is not None and cfg.motion_warmup:  # cpu option: the copy source moves from the first step
            warm_up_velocity(model.motion, data, run_dir, method=self.name, seed=seed, steps=cfg.motion_warmup,
                             lr=cfg.lr, context=cfg.context_frames, clip_frames=clip, pool=cfg.motion_pool,
                             divergence_weight=cfg.motion_divergence, frames_in=model._in, resume=resume,
                             progress=progress, two_ended=True)
        adam = lambda ps: torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, 0.999))  # noqa: E731
        main_params = [p for n, p in model.named_parameters() if not n.startswith("prior.")]
        opt_main, opt_prior = adam(main_params), adam(model.prior.parameters())
        prior_params = list(model.prior.parameters())

        def step(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            g = batch.generator
            length = int(torch.randint(shortest, clip + 1, (1,), generator=g, device=g.device))
            draws = torch.rand(length - 1, generator=g, device=g.device)
            kept = kept_steps(length, cfg.context_frames, cfg.skip_prob, draws)
            out = model(batch.videos[:, :length], kept, generator=g)
            main, prior_loss = model.losses(out)
            backward_main_and_prior(main, prior_loss, prior_params)  # the prior: its own loss only
            # Every gradient is in place: the loop's backward on this detached leaf changes none.
            extras = {k: v.detach() for k, v in out.items()}
            extras.update(prior_loss=prior_loss.detach(), length=float(length))
            return main.detach().requires_grad_(), extras

        optimizer = OptimizerGroup(opt_main, opt_prior)
        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("p2p", optimizer, step)],
                           config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=clip, resume=resume,
                             progress=progress)
        model.eval()
        return summary

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, k, p, C, H, W)``: frames ``c .. c+p-1``, the last at the end frame's time."""
        if cond.end_frame is None:
            raise ValueError("p2p: two-ended prediction needs Conditioning.end_frame (use a two_ended protocol)")
        ctx = cond.context
        check_model_frames("p2p", tuple(ctx.shape), self.config, "context frames")
        if cond.num_frames < 2:
            raise ValueError(f"p2p: needs at least 2 frames to produce (the last is the end frame's), got {cond.num_frames}")
        self.model.eval()
        gen = self.rng(seed, self.device)
        k = cond.num_samples
        per = max(1, SAMPLE_BATCH // k)
        out = []
        for start in range(0, ctx.shape[0], per):
            sl = slice(start, start + per)
            out.append(self.model.rollout(ctx[sl].to(self.device, torch.float32),
                                          cond.end_frame[sl].to(self.device, torch.float32),
                                          cond.num_frames, k, gen).cpu())
        return torch.cat(out).clamp_(0, 1)
