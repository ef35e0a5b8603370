"""``conv_lstm``: a deterministic encoder-LSTM-decoder prediction baseline.

The deterministic counterpart of SVG (Denton & Fergus 2018, "Stochastic Video Generation with a
Learned Prior"; upstream ``edenton/svg``): a DCGAN 64x64 frame encoder to ``|h| = 128``, a 2x256
LSTM frame predictor, and a DCGAN decoder with skip connections from the last context frame;
no latent variable. Trained with per-pixel MSE on next-frame prediction with teacher forcing over
the training protocol's ``c + p`` frames (the model also predicts context frames 2..c, as SVG's
training loop does); at test time it reads the ``c`` context frames and then feeds its own
predictions back for ``p`` steps.

Deviations from SVG's code: the LSTM output has no BatchNorm; the loss is the MSE averaged over
predicted frames (SVG sums per-step MSEs, a constant factor Adam absorbs); clips are sampled by
the shared loop rather than a DataLoader; the ``cpu`` profile composites the decoder's drawing
over the skip frame with a copy mask and trains with L1 (README: flat backgrounds are copied, not
redrawn with a texture SSIM punishes), and moves that copy source along a learned velocity field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainConfig, TrainParts
from methods.common import Conv2dDecoder, Conv2dEncoder, LSTMStack, init_normal_
from methods.common.frame_codecs import composite_copy, frames_in, frames_out, init_copy_mask_
from methods.common.warp import VelocityNet, carry_forward, check_velocity_options, divergence_penalty


@dataclass(frozen=True)
class ConvLSTMConfig:
    """Architecture and optimisation of :class:`ConvLSTMBaseline` (``paper``: SVG's settings)."""

    channels: int = 3
    resolution: tuple[int, int] = (64, 64)
    context_frames: int = 5        # training protocol c (SVG n_past)
    future_frames: int = 10        # training protocol p (SVG n_future)
    width: int = 64                # DCGAN widths 64-128-256-512 at 64x64
    dim: int = 128                 # |h|, SVG g_dim
    hidden: int = 256              # SVG rnn_size
    layers: int = 2                # SVG predictor_rnn_layers
    skip: bool = True              # skips from the last context frame (SVG)
    model_resolution: tuple[int, int] | None = None  # frames area-resized to this inside the model (cpu profile)
    copy_mask: bool = False        # cpu profile: the decoder also writes a mask m, frame = m * (skip frame) +
                                   # (1 - m) * (drawn frame): unchanged pixels are copied, not redrawn
    mask_bias: float = 0.0         # cpu profile: with copy_mask, the initial bias of the mask's logit
                                   # (3: m = sigmoid(3) = 0.95 at init; methods.common.frame_codecs.init_copy_mask_)
    recon_loss: str = "mse"        # "mse" (SVG's) or "l1" (cpu profile: flat regions pushed to exact values)
    copy_velocity: bool = False    # cpu profile: with copy_mask, the copy source of the future frame h steps after
                                   # the context is the last context frame warped by h x a velocity field that a
                                   # small conv net reads off the last two context frames (methods.common.warp
                                   # .VelocityNet): the copied objects move on instead of standing still
    max_velocity: float = 0.2      # with copy_velocity: the largest speed (grid_sample units per frame)
    velocity_pool: int = 1         # with copy_velocity: the field is averaged over pool x pool blocks (whole objects)
    velocity_loss: float = 0.0     # with copy_velocity: weight of a direct MSE between the warped frames and the
                                   # true future frames, so the velocity net learns where the mask does not copy
    velocity_divergence: float = 0.0  # with copy_velocity: weight of the mean squared divergence of the (pooled)
                                      # field: a diverging field shrinks the objects it moves (warp.divergence)
    lr: float = 2e-3               # SVG: Adam lr 0.002, beta1 0.9
    beta1: float = 0.9
    # SVG: batch 100, 300 epochs x 600 iterations.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=180_000, batch_size=100, checkpoint_every=5_000, log_every=100))

    def __post_init__(self) -> None:
        if self.mask_bias and not self.copy_mask:
            raise ValueError(f"conv_lstm: mask_bias={self.mask_bias} needs copy_mask=True (it initialises the copy mask)")
        if self.recon_loss not in ("mse", "l1"):
            raise ValueError(f"conv_lstm: recon_loss must be 'mse' or 'l1', got {self.recon_loss!r}")
        if self.copy_velocity and not self.copy_mask:
            raise ValueError("conv_lstm: copy_velocity needs copy_mask=True (it moves the copy mask's source)")
        check_velocity_options("conv_lstm", self)


def _paper(spec: DataSpec) -> ConvLSTMConfig:
    p = spec.train_protocol("prediction")
    return ConvLSTMConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                          context_frames=p.context_frames, future_frames=p.future_frames)


def _smoke(spec: DataSpec) -> ConvLSTMConfig:
    # Same code paths, tiny widths: ~0.17 s/step on a 2-core CPU at 64x64 (~25 s per fit).
    p = spec.train_protocol("prediction")
    return ConvLSTMConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                          context_frames=p.context_frames, future_frames=p.future_frames,
                          width=8, dim=32, hidden=64, layers=2, lr=2e-3,
                          train=TrainConfig(steps=150, batch_size=16, checkpoint_every=50, log_every=10))


def _cpu(spec: DataSpec) -> ConvLSTMConfig:
    # The main job's profile (~30-50 s on 2 cores at 64x64, by machine): the networks at 32x32 (frames area-resized
    # in, predictions bilinearly resized out; a quarter of the convolution work), SVG's cpu widths.
    # The copy mask starts from 0 (mask_bias=3, DRNet's, lowered ssim_best on 2 seeds: README). Its
    # source moves (copy_velocity): the last context frame carried along a velocity field read off the
    # last two context frames (16x16 blocks), trained by a direct MSE and kept divergence-free (a
    # diverging field shrinks the objects it moves). Without it the objects stood still (README).
    p = spec.train_protocol("prediction")
    h, w = spec.resolution
    return ConvLSTMConfig(channels=spec.channels, resolution=(h, w),
                          model_resolution=(32, 32) if (h, w) == (64, 64) else None,
                          context_frames=p.context_frames, future_frames=p.future_frames,
                          width=16, dim=64, hidden=128, layers=2, lr=2e-3, copy_mask=True, recon_loss="l1",
                          copy_velocity=True, max_velocity=0.2, velocity_pool=16, velocity_loss=1.0,
                          velocity_divergence=1.0,
                          train=TrainConfig(steps=200, batch_size=16, checkpoint_every=100, log_every=25))


class ConvLSTMModel(nn.Module):
    """Encoder -> LSTM -> decoder over frames in [0, 1] (sigmoid output).

    With ``cfg.model_resolution`` set the networks run at that size: callers resize frames with
    :meth:`frames_in` and predictions back with :meth:`frames_out`.
    """

    def __init__(self, cfg: ConvLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        res = tuple(cfg.model_resolution or cfg.resolution)
        self.encoder = Conv2dEncoder(cfg.channels, cfg.dim, res, cfg.width)
        self.predictor = LSTMStack(cfg.dim, cfg.hidden, cfg.dim, cfg.layers)
        self.decoder = Conv2dDecoder(cfg.dim, cfg.channels + int(cfg.copy_mask), res, cfg.width, skip=cfg.skip,
                                     out_activation="sigmoid")
        self.velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None

    def frames_in(self, x: Tensor) -> Tensor:
        """Data frames ``(..., C, H, W)`` -> the networks' resolution (area resize; identity without one)."""
        return frames_in(x, self.cfg.channels, self.cfg.model_resolution)

    def frames_out(self, y: Tensor) -> Tensor:
        """Predictions at the networks' resolution -> the data resolution (bilinear, clamped to [0, 1])."""
        return frames_out(y, self.cfg.channels, self.cfg.resolution)

    def future_sources(self, context: Tensor, num_future: int) -> tuple[Tensor, Tensor | None]:
        """The copy mask's sources ``(B, num_future, C, H, W)`` of the frames after ``context (B, c, C, H, W)``:
        the last context frame, or with ``copy_velocity`` that frame carried ``h = 1, 2, ...`` steps along the
        context's velocity field; and that field ``(B, 2, H, W)``, smoothed as applied (None without)."""
        last = context[:, -1]
        if self.velocity is None:
            return last[:, None].expand(-1, num_future, -1, -1, -1), None
        velocity = self.velocity.smoothed_field(context, self.cfg.velocity_pool)
        return carry_forward(last, velocity, num_future), velocity

    def teacher_forced(self, x: Tensor, context: int) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Predictions ``(B, T - 1, C, H, W)`` of frames ``1..T-1`` of ``x (B, T, C, H, W)`` from the true
        previous frames, the copy sources of the future frames ``(B, T - context, C, H, W)`` (None without a
        copy mask) and the velocity field (:meth:`future_sources`)."""
        b, t = x.shape[:2]
        h, skips = self.encoder(x[:, :-1].flatten(0, 1))
        pred, _ = self.predictor(h.view(b, t - 1, -1))
        # Skip features come from the current frame while in the context, then from the last one.
        src = torch.arange(t - 1, device=x.device).clamp(max=context - 1)
        skips = [s.view(b, t - 1, *s.shape[1:])[:, src].flatten(0, 1) for s in skips]
        out = self.decoder(pred.flatten(0, 1), skips)
        future = velocity = None
        if self.cfg.copy_mask:
            # context frames copy the frame before them; the future ones the (moved) last context frame
            future, velocity = self.future_sources(x[:, :context], t - context)
            sources = torch.cat([x[:, :context - 1], future], dim=1)
            out = composite_copy(out, sources.flatten(0, 1))
        return out.view(b, t - 1, *x.shape[2:]), future, velocity

    def rollout(self, context: Tensor, num_future: int) -> Tensor:
        """``num_future`` frames after ``context (B, c, C, H, W)``, feeding predictions back."""
        b, c = context.shape[:2]
        h, skips = self.encoder(context.flatten(0, 1))
        last = [s.view(b, c, *s.shape[1:])[:, -1] for s in skips]
        sources = self.future_sources(context, num_future)[0] if self.cfg.copy_mask else None
        pred, state = self.predictor(h.view(b, c, -1))
        h_next = pred[:, -1]
        frames = []
        for i in range(num_future):
            frame = self.decoder(h_next, last)
            if sources is not None:
                frame = composite_copy(frame, sources[:, i])
            frames.append(frame)
            if i + 1 < num_future:
                h_in, _ = self.encoder(frame)
                h_next, state = self.predictor(h_in, state)
        return torch.stack(frames, dim=1)


def _check_videos(shape: tuple[int, ...], cfg: ConvLSTMConfig, what: str) -> None:
    c, h, w = shape[-3:]
    if c != cfg.channels or (h, w) != tuple(cfg.resolution):
        raise ValueError(f"conv_lstm: {what} have frames {c}x{h}x{w} (C x H x W), the model was built for "
                         f"{cfg.channels}x{cfg.resolution[0]}x{cfg.resolution[1]}")


@METHODS.register("conv_lstm")
class ConvLSTMBaseline(Method):
    """Deterministic conv encoder -> LSTM -> conv decoder predictor (SVG without its latent)."""

    tasks = ("prediction",)
    stochastic = False
    trainable = True
    paper = "baseline: deterministic DCGAN encoder/decoder + 2x256 LSTM (after Denton & Fergus 2018, SVG)"
    profiles = {"paper": _paper, "cpu": _cpu, "smoke": _smoke}

    def __init__(self, config: ConvLSTMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.model = self._build(seed=0)

    def _build(self, seed: int) -> ConvLSTMModel:
        # Seeded construction that leaves the caller's global RNG untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = init_normal_(ConvLSTMModel(self.config), std=0.02)  # SVG/DCGAN init
            if self.config.mask_bias:  # cpu profile: the copy mask starts near a copy
                init_copy_mask_(model.decoder, self.config.mask_bias)
            if model.velocity is not None:  # its own init (last conv 0: no motion at first), not DCGAN's
                model.velocity.reset_parameters()
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        proto = data.protocols.get("prediction")
        context = proto.context_frames if proto else cfg.context_frames
        future = proto.future_frames if proto else cfg.future_frames
        _check_videos(data.videos.shape, cfg, "training videos")
        self.model = self._build(seed)
        model = self.model
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

        def recon_loss(batch: Batch) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
            x = model.frames_in(batch.videos)   # the loss is taken at the networks' resolution
            recon = F.l1_loss if cfg.recon_loss == "l1" else F.mse_loss
            pred, moved, velocity = model.teacher_forced(x, context)
            rec = recon(pred, x[:, 1:])
            if velocity is None:
                return rec
            # cpu profile: the carried last context frame should already be the future frame, moved rigidly
            warp = F.mse_loss(moved, x[:, context:])
            div = divergence_penalty(velocity)
            loss = rec + cfg.velocity_loss * warp + cfg.velocity_divergence * div
            return loss, {"rec": rec.detach(), "warp_rec": warp.detach(), "divergence": div.detach()}

        parts = TrainParts(method=self.name, modules=self.modules(), phases=[Phase(cfg.recon_loss, optimizer, recon_loss)],
                           config=self.config_dict())
        summary = loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=context + future,
                             resume=resume, progress=progress)
        model.eval()
        return summary

    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, 1, p, C, H, W)`` in [0, 1]; deterministic, so ``k = 1`` whatever ``cond.num_samples``."""
        context = cond.context
        if context is None or context.shape[1] < 1:
            raise ValueError("conv_lstm: needs at least one context frame (B, c, C, H, W)")
        _check_videos(tuple(context.shape), self.config, "context frames")
        self.model.eval()
        model = self.model
        out = [model.frames_out(model.rollout(model.frames_in(chunk.to(self.device, torch.float32)),
                                              cond.num_frames)).cpu()
               for chunk in context.split(64)]
        return torch.cat(out).clamp_(0, 1).unsqueeze(1)
