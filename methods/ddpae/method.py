"""``ddpae``: the registered method (training under the shared loop, prediction, decomposition).

Training maximises the ELBO of the official model on each clip of the training protocol (the
``c`` input frames are encoded; the likelihood covers all ``c + p`` frames, or only the ``p``
future ones after ``predict_loss_only_after`` of training). One Adam (0.5, 0.999) over all
networks with the learning rate divided by 10 from half of training on (upstream
``update_hyperparameters``).

Prediction follows upstream ``test``: every latent at its posterior mean, so the method is
deterministic (``k = 1``). :meth:`DDPAE.decompose` also returns the components and poses (the
object masks the oracle test compares with the generator's); :meth:`DDPAE.object_positions` the
centre of each component's window per frame (the object positions upstream's bouncing-balls
evaluation compares with the balls').
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
from methods.common.resize import check_model_frames, model_size_batches, resize_frames
from methods.common.init import init_normal_
from methods.common.spatial_transformer import window_centres
from methods.ddpae import config as C
from methods.ddpae.model import DDPAEModel


@METHODS.register("ddpae")
class DDPAE(Method):
    """Decompositional disentangled predictive auto-encoder: objects with fixed content and RNN-predicted poses."""

    tasks = ("prediction",)
    stochastic = False
    trainable = True
    paper = ("Hsieh, Liu, Huang, Fei-Fei & Niebles, Learning to Decompose and Disentangle Representations "
             "for Video Prediction (NeurIPS 2018, arXiv:1806.04166)")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}
    @classmethod
    def hand_aid(cls, config: dict[str, Any]) -> str | None:
        """The cpu profile's ``pose_anchor`` and ``colour_head="pixels"`` (README "Deviations"): marked on the
        leaderboard."""
        aids = []
        if config.get("pose_anchor"):
            aids.append("object positions found in the context pixels and extrapolated at constant velocity "
                        "with wall bounces")
        if config.get("colour_head") == "pixels":
            aids.append("object colours read from the context crops")
        return "; ".join(aids) or None

    def __init__(self, config: C.DDPAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.num_components < 1:
            raise ValueError(f"ddpae: num_components must be >= 1, got {config.num_components}")
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> DDPAEModel:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # upstream init_weights: conv/linear N(0, 0.02), BatchNorm N(1, 0.02), zero biases; LSTMs default
            model = init_normal_(DDPAEModel(self.config), std=0.02, linear=True)
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False, progress: bool = True,
            stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        proto = data.protocols.get("prediction")
        context = proto.context_frames if proto else cfg.context_frames
        future = proto.future_frames if proto else cfg.future_frames
        if cfg.train_future_frames is not None:
            future = min(future, cfg.train_future_frames)
        check_model_frames("ddpae", data.videos.shape, cfg, "training videos")
        self.model = self._build(seed)
        model = self.model
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        steps = cfg.train.steps
        half = steps // 2
        schedulers = {}
        if cfg.lr_decay:
            schedulers["lr"] = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.1 if s >= half else 1.0)
        switch = int(cfg.predict_loss_only_after * steps) if cfg.predict_loss_only_after > 0 else None

        def loss_fn(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            future_only = switch is not None and batch.step >= switch
            return model.negative_elbo(batch.videos, context, future_only, batch.generator)

        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("elbo", optimizer, loss_fn)],
                           make_batch=model_size_batches(cfg), schedulers=schedulers, config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=context + future,
                             resume=resume, progress=progress)
        model.eval()
        return summary

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def decompose(self, context: Tensor, num_future: int) -> dict[str, Tensor]:
        """Posterior-mean decomposition of the context and its continuation, on the CPU, at the data's
        size: ``frames`` ``(B, c + p, C, H, W)``, ``components`` ``(B, c + p, K, C, H, W)``, ``pose``
        ``(B, c + p, K, 3)`` (``(s, x, y)`` in normalised coordinates, see
        :mod:`methods.common.spatial_transformer`)."""
        if context.ndim != 5 or context.shape[1] < 1:
            raise ValueError(f"ddpae: context must be (B, c, C, H, W) with c >= 1, got {tuple(context.shape)}")
        check_model_frames("ddpae", tuple(context.shape), self.config, "context frames")
        cfg = self.config
        io = tuple(cfg.io_resolution or cfg.resolution)
        self.model.eval()
        parts = []
        for chunk in context.split(32):
            out = self.model.predict(resize_frames(chunk.to(self.device, torch.float32), tuple(cfg.resolution)),
                                     num_future)
            parts.append({"frames": resize_frames(out["frames"], io).clamp(0, 1).cpu(),
                          "components": resize_frames(out["components"], io).clamp(0, 1).cpu(),
                          "pose": out["pose"].cpu()})
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    @torch.no_grad()
    def object_positions(self, context: Tensor, num_future: int) -> Tensor:
        """Where each component sits in every input and predicted frame: ``(B, c + p, K, 2)`` float32
        window centres ``(x, y)`` in ``[0, 1]`` image coordinates (``x`` along the width; pixel ``i``'s
        centre at ``(i + 0.5) / W``), from the posterior-mean poses of :meth:`decompose` — upstream
        ``utils.calculate_positions``, which its bouncing-balls evaluation (``VelocityMetrics``) reads
        as the balls' positions. ``context`` ``(B, c, C, H, W)`` in [0, 1]."""
        return window_centres(self.decompose(context, num_future)["pose"])

    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, 1, p, C, H, W)`` in [0, 1] (posterior means: deterministic, whatever ``num_samples``)."""
        if cond.context is None:
            raise ValueError("ddpae: prediction needs context frames")
        c = cond.context.shape[1]
        return self.decompose(cond.context, cond.num_frames)["frames"][:, c:].clamp(0, 1).unsqueeze(1)
