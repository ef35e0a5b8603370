"""The VGAN family as harness methods: ``vgan`` (two-stream), ``vgan_one_stream`` and
``vgan_future`` (one image -> video), trained with the shared loop.

Vondrick, Pirsiavash & Torralba 2016, "Generating Videos with Scene Dynamics";
upstream ``cvondrick/videogan`` (Torch7), read for layer sizes, init and the update order.

Training follows upstream ``main.lua``: every step one discriminator update (real clips labelled
real, generated clips labelled fake, cross entropy over D's 2 logits, the two losses averaged),
then one generator update (non-saturating: fakes labelled real) plus the mask sparsity term
``lambda * mean|m|`` (``nn.L1Penalty(lambda, sizeAverage=true)``). The generator runs once per step;
its output is detached for the D update and reused for the G update, as upstream does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.common import init_normal_, to_ncthw, to_ntchw
from methods.common.resize import resize_frames
from methods.common.velocity_warmup import warm_up_velocity
from methods.common.warp import VelocityNet, check_velocity_options
from methods.vgan import config as C
from methods.vgan.model import FutureGenerator, build_discriminator, build_generator

REAL, FAKE = 0, 1  # class indices of D's two logits (upstream labels 1 and 2)


def _labels(n: int, label: int, device: torch.device) -> Tensor:
    return torch.full((n,), label, dtype=torch.long, device=device)


def _io_size(cfg: Any) -> tuple[int, int]:
    """The data's frame size (the networks run at ``cfg.resolution``; the cpu profile at a fraction of it)."""
    return tuple(cfg.io_resolution or cfg.resolution)


def _check_frames(name: str, cfg: Any, videos: np.ndarray, clip_frames: int) -> None:
    c, h, w = videos.shape[-3:]
    io = _io_size(cfg)
    if c != cfg.channels or (h, w) != io:
        raise ValueError(f"{name}: videos have frames {c}x{h}x{w}, the model was built for "
                         f"{cfg.channels}x{io[0]}x{io[1]}")
    if videos.shape[1] < clip_frames:
        extra = clip_frames - cfg.frames   # vgan_future's copy_velocity also reads the frame before frame 0
        raise ValueError(f"{name}: the model trains on {clip_frames}-frame clips but the training videos have "
                         f"{videos.shape[1]} frames; use --set frames=N with N <= {videos.shape[1] - extra} "
                         f"(the paper profile keeps the paper's {C.PAPER_FRAMES})")


class _AdversarialVGAN(Method):
    """What every VGAN variant shares: G and D built and initialised N(0, init_std) from one seed,
    and the upstream update order (one D step, then one G step on the same generated batch).

    Subclasses say how G is built (:meth:`_make_generator`), what a batch holds (:meth:`_batch`), how
    the fakes are made (:meth:`_generate_fake`) and what G's loss adds to the adversarial term
    (:meth:`_generator_terms`).
    """

    trainable = True

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.generator, self.discriminator = self._build(seed=0)

    def _make_generator(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build(self, seed: int) -> tuple[nn.Module, nn.Module]:
        cfg = self.config
        with torch.random.fork_rng(devices=[]):  # seeded; the caller's RNG is left alone
            torch.manual_seed(seed)
            g = self._make_generator()
            d = build_discriminator(cfg.channels, cfg.frames, cfg.resolution, cfg.d_width, cfg.d_bn_eps)
            init_normal_(g, std=cfg.init_std)
            init_normal_(d, std=cfg.init_std)
            self._after_init(g)
        return g.to(self.device), d.to(self.device)

    def _after_init(self, generator: nn.Module) -> None:
        """Initialisation beyond the paper's N(0, init_std), in the same seeded RNG scope (none here)."""

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    # ------------------------------------------------------------------------------ training ---
    def _batch(self, batch: Batch) -> dict[str, Any]:
        """The step's inputs; ``real`` is ``(B, C, T, H, W)`` in [-1, 1] (VGAN works in [-1, 1]), at the
        networks' frame size."""
        return {"real": to_ncthw(resize_frames(batch.videos, tuple(self.config.resolution))) * 2 - 1}

    def _generate_fake(self, b: dict[str, Any]) -> None:  # pragma: no cover - abstract
        """Set ``b["fake"]`` (with gradients; plus whatever :meth:`_generator_terms` needs)."""
        raise NotImplementedError

    def _generator_terms(self, b: dict[str, Any]) -> tuple[Tensor | None, dict[str, Tensor]]:
        """Loss terms G minimises besides the adversarial one (``None``: none)."""
        return None, {}

    def _clip_frames(self) -> int:
        """Frames of a training clip (D's clips are ``config.frames`` long)."""
        return self.config.frames

    def _before_adversarial(self, data: TrainData, run_dir: Path, seed: int, resume: bool, progress: bool) -> None:
        """A stage trained before the adversarial one, on the freshly built networks (none here)."""

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        cfg = self.config
        _check_frames(self.name, cfg, data.videos, self._clip_frames())
        self.generator, self.discriminator = self._build(seed)
        self._before_adversarial(data, run_dir, seed, resume, progress)
        d = self.discriminator
        opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

        def d_loss(b: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            self._generate_fake(b)   # once per step: detached here, reused with gradients by G
            real = b["real"]
            n = len(real)
            loss_real = F.cross_entropy(d(real), _labels(n, REAL, real.device))
            loss_fake = F.cross_entropy(d(b["fake"].detach()), _labels(n, FAKE, real.device))
            return (loss_real + loss_fake) / 2, {"real": loss_real.detach(), "fake": loss_fake.detach()}

        def g_loss(b: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            adv = F.cross_entropy(d(b["fake"]), _labels(len(b["fake"]), REAL, b["fake"].device))
            extra, logs = self._generator_terms(b)
            if extra is None:
                return adv, {}
            return adv + extra, {"adv": adv.detach(), **logs}

        parts = TrainParts(method=self.name, modules=self.modules(), make_batch=self._batch,
                           phases=[Phase("discriminator", opt_d, d_loss), Phase("generator", opt_g, g_loss)],
                           config=self.config_dict())
        return loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=self._clip_frames(),
                          resume=resume, progress=progress)


class _VGANBase(_AdversarialVGAN):
    """Shared by ``vgan`` and ``vgan_one_stream`` (they differ in ``config.two_stream``)."""

    tasks = ("synthesis",)
    stochastic = True

    def _make_generator(self) -> nn.Module:
        cfg = self.config
        return build_generator(cfg.z_dim, cfg.channels, cfg.frames, cfg.resolution, cfg.g_width, cfg.two_stream)

    def _batch(self, batch: Batch) -> dict[str, Any]:
        # drawn for the global batch and sliced to this rank: DDP trains as one process at the same batch
        z = batch.global_noise(torch.randn, self.config.z_dim).to(batch.videos.device)
        return {**super()._batch(batch), "z": z}

    def _generate_fake(self, b: dict[str, Any]) -> None:
        if self.config.two_stream:
            b["fake"], (_, b["mask"], _) = self.generator(b["z"], return_streams=True)
        else:
            b["fake"] = self.generator(b["z"])

    def _generator_terms(self, b: dict[str, Any]) -> tuple[Tensor | None, dict[str, Tensor]]:
        if not self.config.two_stream:
            return None, {}
        sparsity = b["mask"].abs().mean()
        return self.config.mask_l1 * sparsity, {"mask_l1": sparsity.detach()}

    # ----------------------------------------------------------------------------- inference ---
    def _z(self, n: int, seed: int) -> Tensor:
        return torch.randn(n, self.config.z_dim, generator=self.rng(seed)).to(self.device)

    def _check_len(self, num_frames: int) -> None:
        if num_frames > self.config.frames:
            raise ValueError(f"{self.name} generates {self.config.frames}-frame clips; asked for {num_frames}")

    @torch.no_grad()
    def generate(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, T, C, H, W)`` in [0, 1]: the first ``cond.num_frames`` of ``config.frames``."""
        self._check_len(cond.num_frames)
        self.generator.eval()
        z = self._z(cond.batch_size, seed)
        io = _io_size(self.config)
        out = [resize_frames(to_ntchw(self.generator(chunk))[:, :cond.num_frames], io).add(1).div(2).clamp(0, 1).cpu()
               for chunk in z.split(32)]
        return torch.cat(out).contiguous()


@METHODS.register("vgan")
class VGAN(_VGANBase):
    """VGAN two-stream generator ``m * f + (1 - m) * b`` against a 5-layer 3D discriminator."""

    paper = "Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics (two-stream VGAN)"
    profiles = {"paper": C.vgan_paper, "cpu": C.vgan_cpu, "smoke": C.vgan_smoke}

    @torch.no_grad()
    def visualize(self, task: str, cond: Conditioning, *, seed: int) -> dict[str, Tensor]:
        """The learned streams (Vondrick et al. 2016 Fig. 3): ``background`` (static, shown over time),
        ``foreground`` ``f``, ``mask`` ``m`` (1 channel, white = foreground), and ``generation``."""
        if task != "synthesis":
            return {}
        num_frames = cond.num_frames
        self._check_len(num_frames)
        self.generator.eval()
        video, (f, m, b) = self.generator(self._z(cond.batch_size, seed), return_streams=True)
        t = video.shape[2]
        views = {"background": b[:, :, None].expand(-1, -1, t, -1, -1), "foreground": f, "generation": video}
        io = _io_size(self.config)
        out = {k: resize_frames(to_ntchw(v)[:, :num_frames], io).add(1).div(2).clamp(0, 1).cpu().contiguous()
               for k, v in views.items()}
        out["mask"] = resize_frames(to_ntchw(m)[:, :num_frames], io).clamp(0, 1).cpu().contiguous()
        return {k: out[k] for k in ("background", "foreground", "mask", "generation")}


@METHODS.register("vgan_one_stream")
class VGANOneStream(_VGANBase):
    """VGAN's one-stream generator (a single 3D fractionally strided network, no mask)."""

    paper = "Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics (one-stream VGAN)"
    profiles = {"paper": C.one_stream_paper, "cpu": C.one_stream_cpu, "smoke": C.one_stream_smoke}


# ------------------------------------------------------------------------------ vgan_future ---

@METHODS.register("vgan_future")
class VGANFuture(_AdversarialVGAN):
    """VGAN conditioned on one image (Vondrick et al. 2016 §3.4): a 2D encoder in front of the two-stream
    generator, the same discriminator, and ``lambda * ||x0 - G0(x0)||`` on the first frame.

    As a prediction method it reads **one** frame, through :class:`~benchmark.methods.Conditioning`:
    ``cond.first_frame`` when the protocol provides one, else the last context frame. It generates
    ``config.frames`` frames whose frame 0 reconstructs that frame and returns frames ``1 .. p``.
    Deterministic (no noise, as upstream): ``k = 1``. With ``copy_velocity`` (cpu profile, not the
    paper's) its velocity net also reads the context frame before that one (none given: a still pair).
    """

    tasks = ("prediction",)
    stochastic = False
    paper = "Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics (§3.4 future generation)"
    profiles = {"paper": C.future_paper, "cpu": C.future_cpu, "smoke": C.future_smoke}

    def __init__(self, config: C.VGANFutureConfig, spec: DataSpec) -> None:
        if config.recon_loss not in ("l1", "l2"):
            raise ValueError(f"vgan_future: recon_loss must be 'l1' or 'l2', got {config.recon_loss!r}")
        if config.future_recon_weight < 0:
            raise ValueError(f"vgan_future: future_recon_weight must be >= 0, got {config.future_recon_weight}")
        if config.copy_background and not config.two_stream:
            raise ValueError("vgan_future: copy_background needs two_stream=True (it replaces the background stream)")
        if config.copy_mask_bias and not config.copy_background:
            raise ValueError("vgan_future: copy_mask_bias needs copy_background=True (it biases the mask to copy it)")
        if config.copy_velocity and not config.copy_background:
            raise ValueError("vgan_future: copy_velocity needs copy_background=True (it moves the copied input frame)")
        check_velocity_options("vgan_future", config, needs_warmup=True)
        super().__init__(config, spec)

    def _make_generator(self) -> nn.Module:
        cfg = self.config
        velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None
        return FutureGenerator(cfg.channels, cfg.frames, tuple(cfg.resolution), cfg.width, cfg.two_stream,
                               copy_background=cfg.copy_background, velocity=velocity, velocity_pool=cfg.velocity_pool)

    @torch.no_grad()
    def _after_init(self, generator: nn.Module) -> None:
        if generator.velocity is not None:   # cpu option: the velocity net's own init (last conv 0: no motion)
            generator.velocity.reset_parameters()
        if self.config.copy_mask_bias:       # cpu option (needs copy_background): m ~ 0 copies the background
            generator.generator.mask[0].bias.sub_(self.config.copy_mask_bias)

    def _clip_frames(self) -> int:
        # copy_velocity: the frame before the condition frame too (the velocity net reads it; D does not)
        return self.config.frames + int(self.config.copy_velocity)

    def _before_adversarial(self, data: TrainData, run_dir: Path, seed: int, resume: bool, progress: bool) -> None:
        cfg, velocity = self.config, self.generator.velocity
        if velocity is None:
            return
        # cpu option: the velocity net trains alone first (methods.common.velocity_warmup), then stays fixed
        warm_up_velocity(velocity, data, run_dir, method=self.name, seed=seed, steps=cfg.velocity_warmup,
                         lr=cfg.velocity_lr or cfg.lr, context=2, clip_frames=self._clip_frames(),
                         pool=cfg.velocity_pool, divergence_weight=cfg.velocity_divergence,
                         frames_in=lambda v: resize_frames(v, tuple(cfg.resolution)), resume=resume, progress=progress)
        velocity.requires_grad_(False)

    def _batch(self, batch: Batch) -> dict[str, Any]:
        b = super()._batch(batch)
        if self.config.copy_velocity:   # clip frame 0 only shows the velocity net the motion into frame 1
            b["previous"], b["real"] = b["real"][:, :, 0], b["real"][:, :, 1:]
        return b

    # D's real example is a clip of config.frames frames whose frame 0 is the condition.
    def _generate_fake(self, b: dict[str, Any]) -> None:
        b["fake"] = self.generator(b["real"][:, :, 0], previous=b.get("previous"))

    def _generator_terms(self, b: dict[str, Any]) -> tuple[Tensor | None, dict[str, Tensor]]:
        cfg = self.config
        recon = F.mse_loss if cfg.recon_loss == "l2" else F.l1_loss
        first = recon(b["fake"][:, :, 0], b["real"][:, :, 0])
        loss, logs = cfg.recon_weight * first, {"first_frame": first.detach()}
        if cfg.future_recon_weight > 0:   # not the paper's (cpu profile): the same norm on the future frames
            future = recon(b["fake"][:, :, 1:], b["real"][:, :, 1:])
            loss, logs["future"] = loss + cfg.future_recon_weight * future, future.detach()
        return loss, logs

    @torch.no_grad()
    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """``(B, 1, p, C, H, W)`` in [0, 1] from ``cond.first_frame``, else the **last** context frame
        (``copy_velocity``: and the one before it).

        One generator pass gives ``config.frames - 1`` future frames. A longer horizon (our extension;
        the paper generates one clip) continues from the last generated frame (and the one before it),
        pass after pass."""
        previous = None   # the frame before the condition (copy_velocity reads it; None: a still pair)
        if cond.first_frame is not None:
            frame = cond.first_frame
        elif cond.context is not None and cond.context.shape[1] >= 1:
            frame = cond.context[:, -1]
            if self.config.copy_velocity and cond.context.shape[1] >= 2:
                previous = cond.context[:, -2]
        else:
            raise ValueError("vgan_future: needs a first frame or at least one context frame")
        self.generator.eval()
        per_pass = self.config.frames - 1
        size = tuple(self.config.resolution)
        x0 = resize_frames(frame.to(self.device, torch.float32), size) * 2 - 1   # [-1, 1]
        x_prev = x0 if previous is None else resize_frames(previous.to(self.device, torch.float32), size) * 2 - 1
        parts, left = [], cond.num_frames
        while left > 0:
            n = min(per_pass, left)
            video = torch.cat([to_ntchw(self.generator(chunk, previous=before))
                               for chunk, before in zip(x0.split(32), x_prev.split(32))])   # (B, T, C, H, W)
            parts.append(video[:, 1:1 + n])
            x0, x_prev, left = video[:, n], video[:, n - 1], left - n
        future = resize_frames(torch.cat(parts, dim=1), _io_size(self.config))
        return future.add(1).div(2).clamp(0, 1).cpu().unsqueeze(1).contiguous()
