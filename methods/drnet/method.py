"""``drnet``: Denton & Birodkar, "Unsupervised Learning of Disentangled Representations from Video",
NeurIPS 2017 (arXiv 1705.10915); upstream ``edenton/drnet-py``.

Two training stages (:meth:`DRNetMethod.stages`):

1. ``disentangle`` (``train_drnet.py``): each step draws four frames of every clip (upstream
   ``get_drnet_data``: ``x_c1, x_c2, x_p1, x_p2``, uniformly at random within a clip of
   ``max_step`` frames) and runs upstream's two updates in order: the scene discriminator on the
   poses of ``x_c1, x_c2`` (half the pairs shuffled across clips), then the content encoder, pose
   encoder and decoder on ``sim + rec + sd_weight * sd`` (Adam 2e-3, beta1 0.5).
2. ``lstm`` (``train_lstm.py``): the encoders frozen, the pose LSTM learns
   ``h_p(t) = LSTM([h_p(t-1), h_c])`` with ``h_c`` the content of the last context frame,
   teacher-forced over ``c + p`` frames (Adam 2e-4, beta1 0.9).

Prediction (deterministic, ``k = 1``): the LSTM is warmed up on the context poses and then fed
its own predictions; each pose is decoded with the last context frame's content (and skips).
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
from methods.common.velocity_warmup import warm_up_velocity
from methods.drnet import config as C
from methods.drnet.model import DRNet
from methods.drnet.official import config_from_official, load_official_state

STAGES = ("disentangle", "lstm")
# Config fields only the second stage reads (the first stage's cache key leaves them out).
LSTM_FIELDS = ("rnn_size", "rnn_layers", "context_frames", "future_frames", "lstm_lr", "lstm_beta1", "lstm_train")


@METHODS.register("drnet")
class DRNetMethod(Method):
    """Content/pose disentangling autoencoder + pose LSTM (deterministic prediction)."""

    tasks = ("prediction",)
    stochastic = False
    trainable = True
    paper = ("Denton & Birodkar 2017, Unsupervised Learning of Disentangled Representations from Video "
             "(NeurIPS 2017; arXiv:1705.10915)")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}

    def __init__(self, config: C.DRNetConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> DRNet:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = init_svg_(DRNet(self.config))  # upstream utils.init_weights on every network
            if self.config.mask_bias:  # cpu profile: the copy mask starts as a copy (config: needs copy_mask)
                init_copy_mask_(model.decoder, self.config.mask_bias)
            if model.velocity is not None:  # its own init (last conv 0: no motion at first), not upstream's
                model.velocity.reset_parameters()
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def stages(self) -> tuple[str, ...]:
        return STAGES

    @classmethod
    def from_official(cls, networks: dict[str, tuple[str, dict[str, Tensor]]], options: dict[str, Any],
                      spec: DataSpec) -> "DRNetMethod":
        """DRNet with upstream's weights: ``netEC``, ``netEP``, ``netD`` (``train_drnet.py``'s
        ``model.pth``) and, when given, the pose ``lstm`` (``train_lstm.py``'s). Which stages the
        weights cover: :meth:`official_stages`."""
        try:
            base = cls.profiles["paper"](spec)
        except ProfileUnavailable:
            p = spec.train_protocol("prediction")
            base = C.DRNetConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                                 context_frames=p.context_frames, future_frames=p.future_frames)
        cfg = config_from_official(networks, options, base)
        method = cls(cfg, spec)
        load_official_state(method.model, networks)
        method.model.eval()
        return method

    @staticmethod
    def official_stages(networks: dict[str, Any]) -> tuple[str, ...]:
        """The training stages an upstream checkpoint provides (the LSTM stage only with ``lstm``)."""
        return STAGES if "lstm" in networks else STAGES[:1]

    def stage_config(self, stage: str) -> dict[str, Any]:
        d = self.config_dict()
        if stage == "disentangle":
            return {k: v for k, v in d.items() if k not in LSTM_FIELDS}
        return {k: d[k] for k in LSTM_FIELDS}

    def _check(self, shape: tuple[int, ...], what: str) -> None:
        c, h, w = shape[-3:]
        cfg = self.config
        if c != cfg.channels or (h, w) != tuple(cfg.resolution):
            raise ValueError(f"drnet: {what} have frames {c}x{h}x{w} (C x H x W), the model was built for "
                             f"{cfg.channels}x{cfg.resolution[0]}x{cfg.resolution[1]}")

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "disentangle") -> dict[str, Any]:
        self.check_stage(stage)
        self._check(data.videos.shape, "training videos")
        summary = (self._fit_disentangle(data, run_dir, seed, resume, progress) if stage == "disentangle"
                   else self._fit_lstm(data, run_dir, seed, resume, progress))
        self.model.eval()
        return summary

    def _fit_disentangle(self, data: TrainData, run_dir: Path, seed: int, resume: bool, progress: bool) -> dict:
        cfg = self.config
        self.model = self._build(seed)
        model = self.model
        clip = min(cfg.max_step, data.videos.shape[1])
        adam = lambda ps: torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, 0.999))  # noqa: E731
        opt_c = adam(model.scene_discriminator.parameters())
        opt_main = adam([*model.content_encoder.parameters(), *model.pose_encoder.parameters(),
                         *model.decoder.parameters()])

        if model.velocity is not None:  # cpu profile: the velocity net trains alone first, then stays fixed
            clip_w = min(cfg.max_step, data.videos.shape[1])
            warm_up_velocity(model.velocity, data, run_dir, method=self.name, seed=seed, steps=cfg.velocity_warmup,
                             lr=cfg.velocity_lr or cfg.lr, context=2, clip_frames=clip_w, pool=cfg.velocity_pool,
                             divergence_weight=cfg.velocity_divergence, frames_in=model.adapt, resume=resume,
                             progress=progress)
            model.velocity.requires_grad_(False)

        def four_frames(batch: Batch) -> dict[str, Tensor]:
            x = model.adapt(batch.videos)
            b, t = x.shape[:2]
            idx = torch.randint(0, t, (b, 4), generator=batch.generator, device=x.device)
            rows = torch.arange(b, device=x.device)
            out: dict[str, Any] = {}
            if model.velocity is not None:  # the content frame x_c1 needs the frame before it: x_c1 = frame >= 1
                idx[:, 0] = torch.randint(1, t, (b,), generator=batch.generator, device=x.device)
                with torch.no_grad():  # x_c1 moved to x_p1's time: the copy mask's source
                    out["copy_source"] = model.moved_content_frame(x[rows, idx[:, 0] - 1], x[rows, idx[:, 0]],
                                                                   (idx[:, 2] - idx[:, 0]).to(x.dtype))
            # Gathered frame-major, (4, B, C, H, W): each of the four frames is one contiguous block, as
            # upstream's separate batches are. (B, 4, ...) unbound on dim 1 gave strided views that every
            # conv (six encoder calls, two weight gradients) copied to a contiguous tensor first.
            frames = x[rows, idx.t().contiguous()]
            perm = torch.randperm(b // 2, generator=batch.generator, device=x.device)
            return {"x": frames.unbind(0), "perm": perm, **out}

        def discriminator(inp: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            x = inp["x"]
            return model.discriminator_loss(x[0], x[1], inp["perm"])

        def disentangle(inp: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            return model.disentangle_losses(*inp["x"], copy_source=inp.get("copy_source"))

        nets = {"netEC": model.content_encoder, "netEP": model.pose_encoder, "netD": model.decoder,
                "netC": model.scene_discriminator}
        parts = TrainParts(method=self.name, modules=nets, make_batch=four_frames,
                           phases=[Phase("scene_discriminator", opt_c, discriminator),
                                   Phase("disentangle", opt_main, disentangle)],
                           config=self.stage_config("disentangle"))
        return loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=clip, resume=resume,
                          progress=progress)

    def _fit_lstm(self, data: TrainData, run_dir: Path, seed: int, resume: bool, progress: bool) -> dict:
        cfg = self.config
        model = self.model  # the harness restored the disentangle stage's weights into it
        proto = data.protocols.get("prediction")
        context = proto.context_frames if proto else cfg.context_frames
        clip = proto.num_frames if proto else cfg.context_frames + cfg.future_frames
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh = init_svg_(type(model.lstm)(model.lstm.input_dim, model.lstm.hidden_dim, model.lstm.output_dim,
                                               model.lstm.num_layers, model.lstm.normalize))
        model.lstm.load_state_dict(fresh.state_dict())
        # Frozen encoders in eval mode (upstream keeps them in train mode, i.e. batch statistics).
        model.eval()
        for p in [*model.content_encoder.parameters(), *model.pose_encoder.parameters(), *model.decoder.parameters()]:
            p.requires_grad_(False)
        optimizer = torch.optim.Adam(model.lstm.parameters(), lr=cfg.lstm_lr, betas=(cfg.lstm_beta1, 0.999))

        def step(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            return model.lstm_loss(batch.videos, context)

        parts = TrainParts(method=self.name, modules={"lstm": model.lstm}, phases=[Phase("lstm", optimizer, step)],
                           config=self.stage_config("lstm"))
        try:
            return loop.train(parts, data, cfg.lstm_train, run_dir, seed=seed, clip_frames=clip, resume=resume,
                              progress=progress)
        finally:
            for p in model.parameters():
                p.requires_grad_(True)

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, 1, p, C, H, W)``: deterministic, one rollout per context."""
        ctx = cond.context
        self._check(tuple(ctx.shape), "context frames")
        self.model.eval()
        out = [self.model.rollout(chunk.to(self.device, torch.float32), cond.num_frames).cpu()
               for chunk in ctx.split(64)]
        return torch.cat(out).clamp_(0, 1).unsqueeze(1)

