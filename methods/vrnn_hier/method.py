"""``vrnn_hier``: the registered method (training under the shared loop, ancestral sampling).

Training (upstream ``train_fns.train_step``): one teacher-forced pass over the ``c + p`` frames
of a training clip with latents from the posteriors; the loss is the reconstruction loss of the
``p`` predicted frames (summed over frames and pixels, averaged over the batch) plus ``beta``
times the KL between posteriors and priors summed over levels, steps and dimensions. Adam with
weight decay; optional linear warm-up of ``beta``.

Prediction draws each step's latents from the priors given the frames so far and feeds each
predicted frame back (``k`` independent samples per context).
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
from methods.common.warp import divergence_penalty
from methods.vrnn_hier import config as C
from methods.vrnn_hier.model import VRNNHierModel, reconstruction_loss


@METHODS.register("vrnn_hier")
class VRNNHier(Method):
    """Conditional VRNN with a hierarchy of spatial latents and a ConvLSTM decoder."""

    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = ("Castrejón, Ballas & Courville, Improved Conditional VRNNs for Video Prediction "
             "(ICCV 2019, arXiv:1904.12165)")
    profiles = {"paper": C.paper, "paper_1l": C.paper_1l, "cpu": C.cpu, "smoke": C.smoke}

    def __init__(self, config: C.VRNNHierConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.reconstruction not in C.RECONSTRUCTION_LOSSES:
            raise ValueError(f"vrnn_hier: reconstruction must be one of {C.RECONSTRUCTION_LOSSES}, "
                             f"got {config.reconstruction!r}")
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> VRNNHierModel:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = VRNNHierModel(self.config)  # upstream: PyTorch default init + zero-scale q/p heads
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False, progress: bool = True,
            stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        proto = data.protocols.get("prediction")
        context = proto.context_frames if proto else cfg.context_frames
        future = cfg.train_future_frames or (proto.future_frames if proto else cfg.future_frames)
        if context != cfg.context_frames:
            raise ValueError(f"vrnn_hier: the training protocol has {context} context frames, the model was built "
                             f"for {cfg.context_frames}; build it from a profile of this dataset")
        check_model_frames("vrnn_hier", data.videos.shape, cfg, "training videos")
        self.model = self._build(seed)
        model = self.model
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def loss_fn(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            x = batch.videos
            refs = model.references(x) if cfg.copy_mask else None
            preds, kl, kls = model.teacher_forced(x, batch.generator, refs)
            rec = reconstruction_loss(preds, x[:, context:], cfg.reconstruction).mean()
            warm = min(1.0, batch.step / cfg.beta_warmup_steps) if cfg.beta_warmup_steps > 0 else 1.0
            extras = {"rec": rec.detach(), "kl": kl.mean().detach()}
            extras.update({f"kl_level{j}": k.mean().detach() for j, k in enumerate(kls)})
            loss = rec + cfg.beta * warm * kl.mean()
            if cfg.velocity_loss:  # cpu deviation: the warped last context frame should already be the frame
                moved = reconstruction_loss(refs, x[:, context:], "l2").mean()
                extras["warp_rec"] = moved.detach()
                loss = loss + cfg.velocity_loss * moved
            if cfg.velocity_divergence:  # cpu option: a diverging field shrinks the objects it moves
                # (the velocity net runs a second time here: references() keeps its bit-exact warp path)
                div = divergence_penalty(model.velocity.smoothed_field(x[:, :context], cfg.velocity_pool))
                extras["divergence"] = div.detach()
                loss = loss + cfg.velocity_divergence * div
            return loss, extras

        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase("elbo", optimizer, loss_fn)],
                           make_batch=model_size_batches(cfg), config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=context + future,
                             resume=resume, progress=progress)
        model.eval()
        return summary

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, k, p, C, H, W)`` in [0, 1]: ``k = cond.num_samples`` rollouts from the priors."""
        context = cond.context
        if context is None or context.ndim != 5:
            raise ValueError(f"vrnn_hier: needs context frames (B, c, C, H, W), got "
                             f"{None if context is None else tuple(context.shape)}")
        check_model_frames("vrnn_hier", tuple(context.shape), self.config, "context frames")
        self.model.eval()
        k = max(1, cond.num_samples)
        gen = self.rng(seed, self.device)
        out = []
        cfg = self.config
        for chunk in context.split(16):
            x = resize_frames(chunk.to(self.device, torch.float32), tuple(cfg.resolution))
            b = x.shape[0]
            rep = x.repeat_interleave(k, 0)  # (b*k, c, C, H, W): sample s of video i at row i*k + s
            frames = self.model.rollout(rep, cond.num_frames, gen)
            frames = resize_frames(frames, tuple(cfg.io_resolution or cfg.resolution))
            out.append(frames.view(b, k, *frames.shape[1:]).clamp(0, 1).cpu())
        return torch.cat(out)
