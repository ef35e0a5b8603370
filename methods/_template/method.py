"""TEMPLATE method: the registered :class:`~benchmark.methods.Method` (read with ``benchmark/methods.py``).

Replace this docstring with the paper (title, venue, arXiv id), the official code and how training
follows it (losses, update order, what differs and why). The template is a tiny deterministic
next-frame predictor trained with per-pixel MSE; it shows every piece a method needs:

* class facts (``tasks``, ``stochastic``, ``trainable``, ``paper``, ``profiles``); the *name* is
  written once, in ``@METHODS.register("...")``, which sets ``cls.name``;
* ``__init__`` builds the modules from the config (seeded, without touching the global RNG);
* ``modules()`` names every ``nn.Module`` whose weights are saved/restored (``state_dict``);
* ``fit`` trains through the shared loop (:func:`benchmark.training.loop.train`: seeded batches,
  checkpoints, exact resume, DDP, NaN guard, JSON-lines log) -- do not write your own loop;
* ``predict`` / ``generate`` take one :class:`~benchmark.methods.Conditioning` and a seed. The
  harness calls them through ``Method.sample``, which validates the inputs, seeds the global RNGs,
  and checks the output shape ``(B, k, p, C, H, W)`` / ``(B, T, C, H, W)`` and range [0, 1].

Rules: import only ``benchmark.methods``, ``benchmark.registry``, ``benchmark.training``,
``methods.common`` and your own package; never another paper or ``benchmark.pipeline``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods._template import config as C
from methods._template.model import NextFramePredictor


@METHODS.register("template")  # <- your method's registry name, lowercase (e.g. "svg_lp"); written only here
class TemplatePredictor(Method):
    """One line on what the model is (shown by ``help`` and in docs)."""

    tasks = ("prediction",)        # ("synthesis",), ("prediction",) or both
    stochastic = False             # True: predict returns cond.num_samples samples per context
    trainable = True
    paper = "TEMPLATE: Authors Year, Title (Venue; arXiv:XXXX.XXXXX)"   # shown by `benchmark list`
    profiles = C.PROFILES

    def __init__(self, config: C.TemplateConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> NextFramePredictor:
        # Seeded construction that leaves the caller's global RNG untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = NextFramePredictor(self.config.channels, self.config.width)
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # Optional hooks (uncomment what your method needs):
    #
    # def conditioning_inputs(self, task: str) -> tuple[str, ...]:
    #     """Conditioning fields besides the context, e.g. ("end_frame",) for two-ended prediction
    #     or ("actions",) for action-conditioned prediction; protocols without them are skipped."""
    #     return ("actions",)
    #
    # def label_inputs(self) -> tuple[str, ...]:
    #     """Dataset labels the training uses (TrainData.labels), e.g. ("action",)."""
    #     return ("action",)
    #
    # def stages(self) -> tuple[str, ...]:
    #     """Several training stages, each fitted by fit(..., stage=name) in order, in its own folder
    #     train/<stage>/ with its own cache key and log (e.g. an autoencoder, then a prior)."""
    #     return ("autoencoder", "prior")
    #
    # def log_likelihood(self, videos: Tensor, cond: Conditioning) -> Tensor:
    #     """(B,) nats per video (videos are uint8 levels / 255); the harness reports bits_per_dim."""
    #
    # def likelihood_protocol(self) -> dict[str, Any]:
    #     return {"frames": "future", "dequantization": "uniform"}

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        """Train on ``data`` (uint8 ``(N, T, C, H, W)`` videos + the training protocol of each task)."""
        self.check_stage(stage)
        cfg = self.config
        proto = data.protocols["prediction"]
        clip = proto.num_frames                     # train on windows of the training protocol's c + p frames
        self.model = self._build(seed)              # a fresh model from the run seed
        model = self.model
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)

        def mse(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            x = batch.videos                        # (B, T, C, H, W) float in [0, 1], on the device
            b, t = x.shape[:2]
            pred = model(x[:, :-1].flatten(0, 1)).view(b, t - 1, *x.shape[2:])   # teacher forcing
            loss = F.mse_loss(pred, x[:, 1:])
            return loss, {"mse": loss.detach()}     # extras are logged as "<phase>/<name>"

        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("mse", optimizer, mse)],
                           config=self.config_dict())
        return loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=clip, resume=resume,
                          progress=progress)

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, 1, p, C, H, W)``: roll out ``p = cond.num_frames`` frames after the last context frame.

        A stochastic method returns ``cond.num_samples`` samples and draws all noise from
        ``self.rng(seed, self.device)`` (same seed -> same samples)."""
        self.model.eval()
        future = self.model.rollout(cond.context[:, -1], cond.num_frames)
        return future.unsqueeze(1)
