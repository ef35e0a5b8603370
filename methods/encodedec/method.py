"""``encodedec``: the registered method (training under the shared loop, continuous-time prediction).

Training maximises the ELBO of the official script on each clip of the training protocol: the
encoder reads the ``c`` context frames, ``z_0`` is drawn from ``q(z_0)`` with the step's seeded
generator, the ODE is solved through the frame times and the decoded frames are scored
(``loss_frames``: the context, as upstream, or the whole clip).

Prediction draws ``k`` samples of ``z_0 ~ q(z_0 | context)`` and decodes the ODE solution at the
requested times: by default the frames after the context (``c, ..., c + p - 1``), or any
non-negative real times given as ``Conditioning.target_times`` (frame units, first context frame
at 0; non-integer and irregular times allowed, e.g. ``[10, 10.5, 12.25]``).
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
from methods.encodedec import config as C
from methods.encodedec.model import EncODEDecModel


@METHODS.register("encodedec")
class EncODEDec(Method):
    """Encoder -> latent neural ODE -> decoder; frames at arbitrary real times."""

    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = ("Voleti, Kahou & Pal, Simple Video Generation using Neural ODEs (NeurIPS 2019 workshop, "
             "arXiv:2109.03292)")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}

    def __init__(self, config: C.EncODEDecConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.loss_frames not in C.LOSS_FRAMES:
            raise ValueError(f"encodedec: loss_frames must be one of {C.LOSS_FRAMES}, got {config.loss_frames!r}")
        if config.recon_loss not in C.RECON_LOSSES:
            raise ValueError(f"encodedec: recon_loss must be one of {C.RECON_LOSSES}, got {config.recon_loss!r}")
        if config.warp and (config.flow_pool < 1 or config.max_flow <= 0 or config.max_velocity <= 0
                            or config.flow_div_weight < 0):
            raise ValueError(f"encodedec: warp needs flow_pool >= 1, max_flow > 0, max_velocity > 0 and "
                             f"flow_div_weight >= 0, got {config.flow_pool}, {config.max_flow}, "
                             f"{config.max_velocity}, {config.flow_div_weight}")
        if config.rtol <= 0 or config.atol <= 0:
            raise ValueError(f"encodedec: solver tolerances must be > 0, got rtol={config.rtol} atol={config.atol}")
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> EncODEDecModel:
        with torch.random.fork_rng(devices=[]):  # seeded construction; the caller's RNG is left alone
            torch.manual_seed(seed)
            model = EncODEDecModel(self.config)  # upstream keeps PyTorch's default initialisation
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def conditioning_inputs(self, task: str) -> tuple[str, ...]:
        return ()  # target_times is used when a protocol gives it, never required

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False, progress: bool = True,
            stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        proto = data.protocols.get("prediction")
        context = proto.context_frames if proto else cfg.context_frames
        future = proto.future_frames if proto else cfg.future_frames
        check_model_frames("encodedec", data.videos.shape, cfg, "training videos")
        self.model = self._build(seed)
        model = self.model
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)

        def loss_fn(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            return model.negative_elbo(batch.videos, context, cfg.loss_frames, batch.generator)

        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("elbo", optimizer, loss_fn)],
                           make_batch=model_size_batches(cfg), config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=context + future,
                             resume=resume, progress=progress)
        model.eval()
        return summary

    # ----------------------------------------------------------------------------- inference ---
    def frame_times(self, context_frames: int, num_frames: int, target_times: Tensor | None) -> Tensor:
        """The times to produce: ``target_times`` if given, else ``c, ..., c + p - 1``."""
        if target_times is None:
            return torch.arange(context_frames, context_frames + num_frames, dtype=torch.float64)
        times = torch.as_tensor(target_times, dtype=torch.float64).flatten().cpu()
        if times.numel() != num_frames:
            raise ValueError(f"encodedec: {times.numel()} target_times for {num_frames} frames to produce")
        return times

    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, k, p, C, H, W)`` in [0, 1]: ``k = cond.num_samples`` draws of ``z_0`` per context,
        frames at ``cond.target_times`` (default: the ``p`` frames after the context)."""
        context = cond.context
        if context is None or context.ndim != 5 or context.shape[1] < 1:
            shape = None if context is None else tuple(context.shape)
            raise ValueError(f"encodedec: needs context frames (B, c, C, H, W) with c >= 1, got {shape}")
        check_model_frames("encodedec", tuple(context.shape), self.config, "context frames")
        times = self.frame_times(context.shape[1], cond.num_frames, cond.target_times)
        self.model.eval()
        gen = self.rng(seed, self.device)
        cfg = self.config
        out = []
        for chunk in context.split(32):
            x = resize_frames(chunk.to(self.device, torch.float32), tuple(cfg.resolution))
            y = resize_frames(self.model.predict(x, times, max(1, cond.num_samples), gen),
                              tuple(cfg.io_resolution or cfg.resolution))
            out.append(y.clamp(0, 1).cpu())
        return torch.cat(out)
