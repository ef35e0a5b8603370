"""Video VQ-VAE as a harness method (``video_vqvae``): three training stages and cached
autoregressive prediction.

Walker, Razavi & van den Oord 2021, "Predicting Video with VQVAE" (arXiv 2103.01950). No public
code; the networks are :mod:`methods.video_vqvae.model`, sized by :mod:`methods.video_vqvae.config`.

Stages (:meth:`VideoVQVAE.stages`):

1. ``vqvae`` -- the VQ-VAE on clips of ``frames`` frames: ``||D(z_q) - x||^2 + beta * commitment``
   (eq. 2), EMA codebooks (eq. 3), random masking of the bottom level in the decoder input.
2. ``top_prior`` -- with the VQ-VAE frozen: the top prior's negative log-likelihood of the
   predicted top codes given the conditioning frames' latents.
3. ``bottom_prior`` -- the bottom prior's negative log-likelihood of the predicted bottom slices
   given all top codes and the past bottom slices.

Latents of a training clip: the whole clip is encoded (``codes_top (T_t, h, w)``, ``codes_bottom
(T_b, 2h, 2w)``), and the conditioning frames are encoded alone, as at test time, when only they
exist; their codes replace the clip's first ``c_t`` top / ``c_b`` bottom steps, so the priors train
on exactly what they condition on when predicting (Table 6: "the conditioning frames ... are
compressed using our VQ-VAE into a 32x32 and 64x64x2 space").

Prediction: encode the last ``context_frames`` context frames, sample the top codes (cached
PixelCNN, position by position), then the bottom slices one by one (each conditioned on all top
codes and its past slices), decode the whole clip and return its frames after the context. Longer
futures than ``frames - context_frames`` continue from the last ``context_frames`` produced frames.

``cpu`` deviation (``frame_decoder="warp"``, README "Deviation"): the VQ-VAE's decoder warps the
window's last conditioning frame (in training clip frame ``context_frames - 1``; in sampling the last
context or produced frame), so pixels come from the real frame and the codes carry the change.

The paper-profile priors have ~1.5 and ~0.8 billion parameters (Tables 4-8): modules are built on
PyTorch's ``meta`` device (shapes only) and materialised -- seeded, on the method's device -- when
a stage trains them, a state dict is loaded into them, or the method samples.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.common import to_ncthw, to_ntchw
from methods.common.frames import pool_frames
from methods.common.threads import one_cpu_thread
from methods.common.velocity_warmup import warm_up_velocity
from methods.common.warp import VelocityNet, carry_forward, divergence_penalty, field_at
from methods.video_vqvae import config as C
from methods.video_vqvae.model import BottomPrior, TopPrior, VideoVQVAE as VQVAENet, discretized_gaussian_log_prob

LN2 = math.log(2.0)
SIGMA_CLIPS = 64   # training clips whose reconstruction error fixes the decoder's Gaussian std


def build_vqvae(cfg: C.VideoVQVAEConfig) -> VQVAENet:
    net = VQVAENet(cfg.channels, cfg.hidden, cfg.residual_units, cfg.residual_layers, cfg.num_codes, cfg.code_dim,
                   cfg.beta, cfg.ema_decay, tuple(cfg.bottom_kernel), tuple(cfg.bottom_stride),
                   tuple(cfg.top_kernel), tuple(cfg.top_stride), cfg.codebook_init, cfg.frame_decoder,
                   cfg.flow_pool, cfg.max_flow)
    # not in the paper (cpu): moves the reference frame the decoder warps (its last conv 0: no motion at first)
    net.velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None
    return net


def build_top_prior(cfg: C.VideoVQVAEConfig) -> TopPrior:
    ct, _ = cfg.context_steps()
    t, h, w = cfg.top_grid()
    return TopPrior(cfg.num_codes, (t - ct, h, w), cfg.top_hidden, cfg.top_residual_units, cfg.top_layers,
                    cfg.top_attention_every, cfg.top_heads, cfg.top_kernel_size, cfg.top_time_kernel, cfg.top_dropout,
                    cfg.top_cond_embed, cfg.top_cond_mid, cfg.top_cond_hidden, cfg.top_cond_residual_units,
                    cfg.top_cond_layers, ct, tuple(cfg.top_kernel), tuple(cfg.top_stride))


def build_bottom_prior(cfg: C.VideoVQVAEConfig) -> BottomPrior:
    _, h, w = cfg.bottom_grid()
    return BottomPrior(cfg.num_codes, (h, w), cfg.bottom_hidden, cfg.bottom_residual_units, cfg.bottom_layers,
                       cfg.bottom_attention_every, cfg.bottom_heads, cfg.bottom_kernel_size, cfg.bottom_dropout,
                       cfg.bottom_cond_embed, cfg.bottom_cond_hidden, cfg.bottom_cond_residual_units,
                       cfg.bottom_cond_blocks, cfg.bottom_past_window)


BUILDERS = {"vqvae": build_vqvae, "top_prior": build_top_prior, "bottom_prior": build_bottom_prior}
#: config fields each stage depends on besides the earlier stages' (its cache key)
_STAGE_PREFIX = {"vqvae": ("channels", "resolution", "frames", "context_frames", "hidden", "residual_units",
                           "residual_layers", "num_codes", "code_dim", "beta", "ema_decay", "codebook_init",
                           "bottom_kernel", "bottom_stride", "top_kernel", "top_stride", "bottom_mask_prob",
                           "vqvae_lr", "train", "frame_decoder", "flow_pool", "max_flow"),
                 "top_prior": ("top_", "prior_lr"),
                 "bottom_prior": ("bottom_hidden", "bottom_residual_units", "bottom_layers", "bottom_attention",
                                  "bottom_heads", "bottom_kernel_size", "bottom_dropout", "bottom_cond",
                                  "bottom_past_window", "prior_lr", "bottom_train")}


@METHODS.register("video_vqvae")
class VideoVQVAE(Method):
    """Hierarchical 3D VQ-VAE + time-causal PixelCNN top prior + per-slice PixelCNN bottom prior."""

    tasks = ("prediction",)
    stochastic = True
    trainable = True
    paper = ("Walker, Razavi & van den Oord 2021, Predicting Video with VQVAE (arXiv 2103.01950): hierarchical "
             "3D VQ-VAE with PixelCNN priors")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}

    def __init__(self, config: C.VideoVQVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        config.validate()
        # Networks are built when first needed: on the meta device (shapes only) for modules(), for
        # real when a stage trains, loads or samples (see module doc). Not in __init__: a cached rerun
        # constructs the method without using it, and a meta build of nn.Embedding runs its init
        # through torch._refs, which imports torch._dynamo (~1 s).
        self._nets: dict[str, nn.Module] = {}
        self._real: set[str] = set()

    # ------------------------------------------------------------------------------- modules ---
    def modules(self) -> dict[str, nn.Module]:
        for name, build in BUILDERS.items():
            if name not in self._nets:
                with torch.device("meta"):
                    self._nets[name] = build(self.config)
        return {name: self._nets[name] for name in BUILDERS}

    def _materialize(self, name: str, seed: int = 0) -> nn.Module:
        """Build network ``name`` for real, initialised from ``seed``, on the method's device."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = BUILDERS[name](self.config)
        self._nets[name] = net.to(self.device)
        self._real.add(name)
        return self._nets[name]

    def _ready(self) -> None:
        for name in BUILDERS:
            if name not in self._real:
                self._materialize(name)

    def to(self, device: torch.device | str) -> "VideoVQVAE":
        self.device = torch.device(device)
        for name in self._real:
            self._nets[name].to(self.device)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {name: self._nets[name].state_dict() for name in BUILDERS if name in self._real}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in BUILDERS:
            if name in state:
                net = self._nets[name] if name in self._real else self._materialize(name)
                net.load_state_dict(state[name])

    # ------------------------------------------------------------------------------- stages ---
    def stages(self) -> tuple[str, ...]:
        return C.STAGES

    def stage_config(self, stage: str) -> dict[str, Any]:
        self.check_stage(stage)
        full = self.config_dict()
        keys = [k for k in full if any(k.startswith(p) for p in _STAGE_PREFIX[stage])]
        return {k: full[k] for k in keys}

    def _frozen_vqvae(self) -> VQVAENet:
        if "vqvae" not in self._real:
            raise RuntimeError("video_vqvae: train (or load) the 'vqvae' stage before the priors")
        vq = self._nets["vqvae"].eval()
        for p in vq.parameters():
            p.requires_grad_(False)
        return vq

    def _reference(self, x: Tensor, index: int | None = None) -> Tensor | None:
        """The frame a ``frame_decoder`` warps / adds to: frame ``index`` (default: the last conditioning
        frame, ``context_frames - 1``) of ``x (N, C, T, H, W)``; None for the paper's decoder."""
        if self.config.frame_decoder == "none":
            return None
        return x[:, :, self.config.context_frames - 1 if index is None else index]

    def _moved(self, vq: VQVAENet, previous: Tensor, reference: Tensor, frames: int) -> Tensor | None:
        """With ``copy_velocity`` (cpu): ``reference (N, C, H, W)`` (in [-0.5, 0.5], frame ``context_frames - 1``
        of a clip) carried ``t - (context_frames - 1)`` steps for each frame ``t < frames`` of the clip along the
        field of ``previous`` (the frame before it) and it: ``(N, C, frames, H, W)``; None without."""
        if vq.velocity is None:
            return None
        field = field_at(vq.velocity, torch.stack([previous, reference], 1) + 0.5, self.config.velocity_pool,
                         self.config.velocity_scale)
        return carry_forward(reference, field, frames, first=1 - self.config.context_frames).transpose(1, 2)

    def _clip_moved(self, vq: VQVAENet, x: Tensor) -> Tensor | None:
        """:meth:`_moved` for a clip ``x (N, C, T, H, W)`` (in [-0.5, 0.5]) whose frame ``context_frames - 1`` is
        the reference."""
        c = self.config.context_frames
        if vq.velocity is None:
            return None
        return self._moved(vq, x[:, :, max(c - 2, 0)], x[:, :, c - 1], x.shape[2])

    @torch.no_grad()
    def latents(self, videos: Tensor) -> dict[str, Tensor]:
        """Codes of clips ``(B, frames, C, H, W)`` in [0, 1], with the conditioning frames encoded alone:
        ``top (B, T_t, h, w)``, ``bottom (B, T_b, 2h, 2w)``, ``ctx_top``, ``ctx_bottom``."""
        cfg, vq = self.config, self._frozen_vqvae()
        x = to_ncthw(videos.to(self.device)) - 0.5
        full = vq.encode(x)
        ctx = vq.encode(x[:, :, :cfg.context_frames])
        ct, cb = cfg.context_steps()
        return {"top": torch.cat([ctx["codes_top"], full["codes_top"][:, ct:]], dim=1),
                "bottom": torch.cat([ctx["codes_bottom"], full["codes_bottom"][:, cb:]], dim=1),
                "ctx_top": ctx["codes_top"], "ctx_bottom": ctx["codes_bottom"]}

    def _check_data(self, data: TrainData) -> None:
        cfg = self.config
        c, h, w = data.videos.shape[-3:]
        if (c, h, w) != (cfg.channels, *cfg.resolution):
            raise ValueError(f"video_vqvae: videos have frames {c}x{h}x{w}, the model was built for "
                             f"{cfg.channels}x{cfg.resolution[0]}x{cfg.resolution[1]}")
        if data.videos.shape[1] < cfg.frames:
            raise ValueError(f"video_vqvae: trains on {cfg.frames}-frame clips but the videos have "
                             f"{data.videos.shape[1]} frames; use --set frames=N (a multiple of {cfg.time_factors[1]})")

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False, progress: bool = True,
            stage: str = "train") -> dict[str, Any]:
        self.check_stage(stage)
        self._check_data(data)
        cfg = self.config
        net = self._materialize(stage, seed)
        if stage == "vqvae":
            if net.velocity is not None:  # cpu: the velocity net trains alone first, then stays fixed
                with one_cpu_thread(self.device):
                    warm_up_velocity(net.velocity, data, run_dir, method=self.name, seed=seed,
                                     steps=cfg.velocity_warmup, lr=cfg.velocity_lr or cfg.vqvae_lr,
                                     context=cfg.context_frames, clip_frames=cfg.frames, pool=cfg.velocity_pool,
                                     divergence_weight=cfg.velocity_divergence,
                                     frames_in=lambda v: pool_frames(v, cfg.velocity_scale),
                                     resume=resume, progress=progress)
                net.velocity.requires_grad_(False)
            opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg.vqvae_lr)

            def loss_fn(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
                x = to_ncthw(batch.videos) - 0.5
                with torch.no_grad():
                    moved = self._clip_moved(net, x)
                recon, enc = net(x, cfg.bottom_mask_prob, batch.generator, self._reference(x), moved)
                mse = F.mse_loss(recon, x)
                used_t = enc["codes_top"].unique().numel()
                used_b = enc["codes_bottom"].unique().numel()
                extras = {"recon_mse": mse.detach(), "commitment": enc["commitment"].detach(),
                          "codes_used_top": used_t, "codes_used_bottom": used_b}
                loss = mse + enc["commitment"]
                if cfg.flow_divergence:  # cpu option, not in the paper: keep the warp from shrinking objects
                    div = divergence_penalty(enc["flow"])
                    loss, extras["flow_divergence"] = loss + cfg.flow_divergence * div, div.detach()
                return loss, extras

            parts = TrainParts(method=self.name, modules={"vqvae": net}, phases=[Phase("vqvae", opt, loss_fn)],
                               config=self.config_dict())
        else:
            self._frozen_vqvae()
            opt = torch.optim.Adam(net.parameters(), lr=cfg.prior_lr)
            loss_fn = self._top_loss if stage == "top_prior" else self._bottom_loss
            parts = TrainParts(method=self.name, modules={stage: net}, make_batch=lambda b: self.latents(b.videos),
                               phases=[Phase(stage, opt, loss_fn)], config=self.config_dict())
        with one_cpu_thread(self.device):  # small convs: threads only add synchronisation on a CPU
            summary = loop.train(parts, data, cfg.stage_train(stage), run_dir, seed=seed, clip_frames=cfg.frames,
                                 resume=resume, progress=progress)
        if stage == "vqvae":
            summary["decoder_sigma"] = self._fit_sigma(data, seed)
        return summary

    @torch.no_grad()
    def _fit_sigma(self, data: TrainData, seed: int) -> float:
        """sigma^2 = mean squared reconstruction error (the Gaussian MLE) of up to ``SIGMA_CLIPS``
        training clips (first frames of randomly chosen videos) -- stored in the VQ-VAE's state.

        With a ``frame_decoder`` (cpu deviation): the error of the predicted frames of whole training
        videos reconstructed window by window, each window warping the previous window's last decoded
        frame -- exactly what :meth:`likelihood_terms` scores (a decoded reference drifts, so one
        window's error underestimates it)."""
        import numpy as np

        cfg, vq = self.config, self._nets["vqvae"].eval()
        rng = np.random.default_rng([seed, 11])
        idx = np.sort(rng.choice(len(data.videos), size=min(SIGMA_CLIPS, len(data.videos)), replace=False))
        if cfg.frame_decoder != "none":
            length = cfg.context_frames + 4 * (cfg.frames - cfg.context_frames)   # up to 4 windows
            return self._fit_sigma_chained(torch.from_numpy(np.stack([data.videos[i, :length] for i in idx])).float()
                                           / 255)
        clips = torch.from_numpy(np.stack([data.videos[i, :cfg.frames] for i in idx])).float() / 255
        err, n = 0.0, 0
        for chunk in clips.split(8):
            x = to_ncthw(chunk.to(self.device)) - 0.5
            enc = vq.encode(x)
            recon = vq.decode(enc["q_top"], enc["q_bottom"], reference=self._reference(x))
            err += float(((recon - x) ** 2).double().sum())
            n += x.numel()
        vq.log_sigma.fill_(0.5 * math.log(max(err / n, 1e-12)))
        return math.exp(float(vq.log_sigma))

    @torch.no_grad()
    def _fit_sigma_chained(self, videos: Tensor) -> float:
        cfg, vq = self.config, self._frozen_vqvae()
        c, window = cfg.context_frames, cfg.frames - cfg.context_frames
        err, n = 0.0, 0
        for chunk in videos.split(8):
            chunk = chunk.to(self.device)
            ctx = chunk[:, :c]
            for start in range(c, chunk.shape[1] - window + 1, window):
                target = chunk[:, start:start + window]
                lat = self.latents(torch.cat([ctx, target], dim=1))
                c_x = to_ncthw(ctx[:, -2:]) - 0.5
                ref = self._reference(c_x, c_x.shape[2] - 1)
                moved = self._moved(vq, c_x[:, :, 0], c_x[:, :, -1], cfg.frames)
                recon = to_ntchw(vq.decode_codes(lat["top"], lat["bottom"], ref, moved) + 0.5)
                err += float(((recon[:, c:] - target) ** 2).double().sum())
                n += target.numel()
                ctx = recon[:, -c:].clamp(0, 1)
        vq.log_sigma.fill_(0.5 * math.log(max(err / max(n, 1), 1e-12)))
        return math.exp(float(vq.log_sigma))

    # ------------------------------------------------------------------ prior likelihoods ---
    def _top_nats(self, lat: dict[str, Tensor]) -> tuple[Tensor, int]:
        """``(B,)`` nats of the predicted top codes and how many codes that is."""
        ct, _ = self.config.context_steps()
        target = lat["top"][:, ct:]
        return -self._nets["top_prior"].log_prob(target, lat["ctx_top"], lat["ctx_bottom"]), target[0].numel()

    def _bottom_nats(self, lat: dict[str, Tensor]) -> tuple[Tensor, int]:
        _, cb = self.config.context_steps()
        slices = list(range(cb, lat["bottom"].shape[1]))
        nats = -self._nets["bottom_prior"].log_prob(lat["top"], lat["bottom"], slices)
        return nats, len(slices) * lat["bottom"][0, 0].numel()

    def _top_loss(self, lat: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        nats, n = self._top_nats(lat)
        per_code = nats.mean() / n
        return per_code, {"bits_per_code": per_code.detach() / LN2}

    def _bottom_loss(self, lat: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        nats, n = self._bottom_nats(lat)
        per_code = nats.mean() / n
        return per_code, {"bits_per_code": per_code.detach() / LN2}

    @torch.no_grad()
    def latent_nll(self, videos: Tensor) -> dict[str, Tensor]:
        """Negative log-likelihood of the predicted latent codes of clips ``(B, frames, C, H, W)``:
        ``top_nats``, ``bottom_nats`` ``(B,)`` and the number of codes of each. This is the likelihood
        of the discrete latents under the priors -- **not** a likelihood of the video's pixels (the
        decoder is deterministic; see README.md)."""
        self._ready()
        for name in ("top_prior", "bottom_prior"):
            self._nets[name].eval()
        lat = self.latents(videos)
        top, n_top = self._top_nats(lat)
        bottom, n_bottom = self._bottom_nats(lat)
        return {"top_nats": top, "bottom_nats": bottom, "top_codes": n_top, "bottom_codes": n_bottom}

    # --------------------------------------------------------------------------- likelihood ---
    def likelihood_protocol(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "frames": "future",
            "dequantization": ("none: each frame's 256 levels get a discretized Gaussian (bins of +-0.5/255, end bins "
                               "open) around the VQ-VAE decoder's output with sigma fitted on training reconstructions "
                               "(sigma^2 = their mean squared error) -- a noise model the paper does not have, added so "
                               "that the model defines a pixel likelihood"),
            "bound": ("-log p(x_f | x_c) <= -log p(z_f | z_c) - log p(x_f | D(z_c, z_f)) for the encoder's codes z_f of "
                      "the clip (one latent path of the sum over codes): an upper bound on the codelength of the "
                      "priors x decoder x Gaussian model; the latent term alone is the priors' nats of the codes"),
            "windows": (f"futures longer than {cfg.frames - cfg.context_frames} frames are scored window by window, "
                        f"each conditioned on the previous window's last {cfg.context_frames} decoded frames, as the "
                        "sampler continues"),
            "latent_only": "not a pixel likelihood: see latent_nll() for the priors' bits per latent code",
        }

    @torch.no_grad()
    def log_likelihood(self, videos: Tensor, cond: Conditioning) -> Tensor:
        """``(B,)`` nats of the future frames given the context (see :meth:`likelihood_protocol`)."""
        with one_cpu_thread(self.device):  # small networks: threads only add synchronisation
            return self.likelihood_terms(videos, cond)["total"]

    @torch.no_grad()
    def likelihood_terms(self, videos: Tensor, cond: Conditioning) -> dict[str, Tensor]:
        """Per video ``(B,)`` nats: ``latent`` (priors, over the codes of every window), ``pixels``
        (discretized Gaussian of the future frames), ``total``; plus ``codes`` (how many latent codes)."""
        cfg = self.config
        self._ready()
        for net in self._nets.values():
            net.eval()
        vq = self._nets["vqvae"]
        c = cond.context_frames
        if c and videos.shape[1] == cond.num_frames:
            videos = torch.cat([cond.context.to(videos), videos], dim=1)
        if c < cfg.context_frames:
            raise ValueError(f"video_vqvae conditions on {cfg.context_frames} frames; got {c}")
        videos = videos.to(self.device).float()
        future = videos[:, c:]
        ctx = videos[:, c - cfg.context_frames:c]
        window = cfg.frames - cfg.context_frames
        latent = videos.new_zeros(len(videos), dtype=torch.float64)
        pixels = torch.zeros_like(latent)
        codes = 0
        for start in range(0, future.shape[1], window):
            target = future[:, start:start + window]
            r = target.shape[1]
            if r < window:  # the last, partial window: any filling gives a valid bound; repeat the last frame
                target = torch.cat([target, target[:, -1:].expand(-1, window - r, -1, -1, -1)], dim=1)
            lat = self.latents(torch.cat([ctx, target], dim=1))
            top, n_top = self._top_nats(lat)
            bottom, n_bottom = self._bottom_nats(lat)
            latent -= (top + bottom).double()
            codes += n_top + n_bottom
            c_x = to_ncthw(ctx[:, -2:].to(self.device)) - 0.5
            moved = self._moved(vq, c_x[:, :, 0], c_x[:, :, -1], cfg.frames)
            recon = to_ntchw(vq.decode_codes(lat["top"], lat["bottom"], self._reference(c_x, c_x.shape[2] - 1), moved)
                             + 0.5)
            lp = discretized_gaussian_log_prob(target[:, :r], recon[:, cfg.context_frames:cfg.context_frames + r],
                                               vq.log_sigma)
            pixels += lp.flatten(1).sum(1)
            ctx = recon[:, -cfg.context_frames:].clamp(0, 1)
        return {"latent": latent, "pixels": pixels, "total": latent + pixels, "codes": torch.tensor(codes)}

    # ----------------------------------------------------------------------------- predict ---
    @torch.no_grad()
    def rollout(self, context: Tensor, generator: torch.Generator, cached: bool = True) -> Tensor:
        """One clip from ``context (N, context_frames, C, H, W)`` in [0, 1]: ``(N, frames, C, H, W)``."""
        cfg = self.config
        vq, top, bottom = (self._nets[n].eval() for n in BUILDERS)
        ct, cb = cfg.context_steps()
        enc = vq.encode(to_ncthw(context) - 0.5)
        ctx_t, ctx_b = enc["codes_top"], enc["codes_bottom"]
        n = context.shape[0]
        sample = top.pixelcnn.sample if cached else top.pixelcnn.sample_uncached
        gen_t = sample(n, top.condition(ctx_t, ctx_b), generator=generator, temperature=cfg.temperature)
        codes_t = torch.cat([ctx_t, gen_t], dim=1)
        top_feat = bottom.condition.top_features(codes_t)
        codes_b = ctx_b
        sample = bottom.pixelcnn.sample if cached else bottom.pixelcnn.sample_uncached
        for s in range(cb, cfg.bottom_grid()[0]):
            cond = bottom.condition(top_feat, bottom.condition.past_window(codes_b, s), s)[:, :, None]
            codes_b = torch.cat([codes_b, sample(n, cond, generator=generator, temperature=cfg.temperature)], dim=1)
        c_x = to_ncthw(context[:, -2:]) - 0.5
        ref = self._reference(c_x, c_x.shape[2] - 1)
        moved = self._moved(vq, c_x[:, :, 0], c_x[:, :, -1], cfg.frames)
        return to_ntchw(vq.decode_codes(codes_t, codes_b, ref, moved) + 0.5).clamp(0, 1)

    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        cfg = self.config
        if cond.context is None or cond.context.shape[1] < cfg.context_frames:
            got = 0 if cond.context is None else cond.context.shape[1]
            raise ValueError(f"video_vqvae conditions on {cfg.context_frames} frames; got {got}")
        self._ready()
        gen = self.rng(seed, self.device)
        b, k, p = cond.batch_size, cond.num_samples, cond.num_frames
        ctx = cond.context[:, -cfg.context_frames:].repeat_interleave(k, dim=0)
        out: list[Tensor] = []
        produced = 0
        while produced < p:
            with one_cpu_thread(self.device):  # per-position sampling (methods/common/threads.py)
                clip = self.rollout(ctx, gen)
            out.append(clip[:, cfg.context_frames:])
            produced += out[-1].shape[1]
            ctx = clip[:, -cfg.context_frames:]
        future = torch.cat(out, dim=1)[:, :p]
        return future.reshape(b, k, p, *future.shape[2:])

    @torch.no_grad()
    def reconstruct(self, videos: Tensor) -> Tensor:
        """VQ-VAE reconstructions of clips ``(B, T, C, H, W)`` (FVD* compares samples with these)."""
        vq = self._frozen_vqvae() if "vqvae" in self._real else self._materialize("vqvae")
        x = to_ncthw(videos.to(self.device)) - 0.5
        enc = vq.encode(x)
        return to_ntchw(vq.decode(enc["q_top"], enc["q_bottom"], reference=self._reference(x),
                                  moved=self._clip_moved(vq, x)) + 0.5).clamp(0, 1)
