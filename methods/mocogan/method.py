"""``mocogan``: the registered method (training under the shared loop, sampling).

Training alternates, every step, the three updates of the official trainer
(``sergeytulyakov/mocogan`` ``src/trainers.py``): the image discriminator, then the video
discriminator, then the generator against both, each a phase of the shared loop with its own
Adam. All losses are the non-saturating GAN loss (``BCEWithLogits``). One batch of fake videos is
drawn per step (latents for the global batch, frame picks from ``Batch.generator``) and serves the two discriminator phases (detached)
and the generator phase (upstream draws a fresh batch for each phase: same distribution, three
times the generator cost). Image batches are ``image_batch`` random (clip, frame) pairs of the real
clips and of the fake videos; ``image_batch`` is global like ``train.batch_size`` (each of ``W`` DDP
ranks draws ``image_batch / W`` frames of its own clips).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import distributed as dist_utils
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.mocogan import config as C
from methods.mocogan.model import ImageDiscriminator, VideoDiscriminator, VideoGenerator


def _global_latents(g: Any, batch: Batch, frames: int) -> dict[str, Tensor]:
    """The latents of this rank's clips, drawn for the whole global batch from a generator seeded by
    ``(seed, step)`` alone and sliced to this rank (as :meth:`Batch.global_noise`), so 2 ranks draw
    what 1 process at the same global batch draws."""
    gen = torch.Generator(device=batch.generator.device)
    gen.manual_seed(batch.global_seed)
    n = batch.global_size if batch.global_size is not None else len(batch.videos)
    lat = g.sample_latents(n, frames, gen)
    return lat if batch.rank_slice is None else {k: v[batch.rank_slice] for k, v in lat.items()}


def _pick_frames(videos: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` random frames ``(count, C, H, W)`` of ``videos (N, T, C, H, W)`` (with replacement)."""
    n, t = videos.shape[:2]
    vi = torch.randint(n, (count,), generator=generator, device=generator.device).to(videos.device)
    ti = torch.randint(t, (count,), generator=generator, device=generator.device).to(videos.device)
    return videos[vi, ti]


@METHODS.register("mocogan")
class MoCoGAN(Method):
    """Motion/content GAN: content code + GRU motion codes, image and video discriminators."""

    tasks = ("synthesis",)
    stochastic = True
    trainable = True
    paper = "Tulyakov, Liu, Yang & Kautz 2018, MoCoGAN: Decomposing Motion and Content for Video Generation (CVPR)"
    profiles = {"paper": C.paper, "smoke": C.smoke}

    def __init__(self, config: C.MoCoGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.image_discriminator not in C.IMAGE_DISCRIMINATORS:
            raise ValueError(f"mocogan: image_discriminator must be one of {C.IMAGE_DISCRIMINATORS}, "
                             f"got {config.image_discriminator!r}")
        if config.condition_on and not config.dim_category:
            raise ValueError(f"mocogan: condition_on={config.condition_on!r} needs dim_category > 0 "
                             f"(the number of {config.condition_on} classes)")
        self.generator, self.image_d, self.video_d = self._build(seed=0)

    def _build(self, seed: int) -> tuple[VideoGenerator, ImageDiscriminator, VideoDiscriminator]:
        cfg = self.config
        res = tuple(cfg.resolution)
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's RNG is left alone
            torch.manual_seed(seed)
            # Upstream keeps PyTorch's default initialisation (models.py has no init code).
            g = VideoGenerator(cfg.channels, res, cfg.dim_content, cfg.dim_motion, cfg.dim_category, cfg.gen_width)
            di = ImageDiscriminator(cfg.channels, res, cfg.image_disc_width, full=cfg.image_discriminator == "full")
            dv = VideoDiscriminator(cfg.channels, cfg.frames, res, cfg.video_disc_width, cfg.dim_category)
        return g.to(self.device), di.to(self.device), dv.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "image_discriminator": self.image_d, "video_discriminator": self.video_d}

    def label_inputs(self) -> tuple[str, ...]:
        return (self.config.condition_on,) if self.config.condition_on else ()

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        """Train on ``data``. With ``condition_on`` set, ``data.labels[condition_on]`` (one class per
        training video) trains the categorical head of the video discriminator on real videos
        (upstream ``--use_categories``) and the generator's one-hot code takes those classes."""
        cfg = self.config
        proto = data.protocols.get("synthesis")
        frames = proto.num_frames if proto else cfg.frames
        c, h, w = data.videos.shape[-3:]
        if c != cfg.channels or (h, w) != tuple(cfg.resolution):
            raise ValueError(f"mocogan: videos have frames {c}x{h}x{w}, the model was built for "
                             f"{cfg.channels}x{cfg.resolution[0]}x{cfg.resolution[1]}")
        if frames != cfg.frames:
            raise ValueError(f"mocogan: the synthesis protocol has {frames}-frame clips, the video discriminator "
                             f"was built for {cfg.frames}; build it from a profile of this dataset")
        label_t = None
        if cfg.condition_on:
            labels = data.label(cfg.condition_on, self.name)
            if labels.min() < 0 or labels.max() >= cfg.dim_category:
                raise ValueError(f"mocogan: {cfg.condition_on!r} labels must be ints in [0, {cfg.dim_category}) "
                                 f"(dim_category), got [{labels.min()}, {labels.max()}]")
            label_t = torch.from_numpy(labels)
        # image_batch is global like train.batch_size: each of W ranks draws image_batch / W frames
        world = dist_utils.get_world_size()
        if cfg.image_batch % world:
            raise ValueError(f"mocogan: image_batch {cfg.image_batch} (global) is not divisible by {world} ranks; "
                             f"set image_batch to a multiple of the number of processes")
        image_batch = cfg.image_batch // world
        self.generator, self.image_d, self.video_d = self._build(seed)
        g, di, dv = self.generator, self.image_d, self.video_d

        def adam(m: nn.Module) -> torch.optim.Adam:
            return torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                    weight_decay=cfg.weight_decay)

        opt_di, opt_dv, opt_g = adam(di), adam(dv), adam(g)
        sigma = cfg.noise_sigma

        def make_batch(batch: Batch) -> dict[str, Any]:
            gen = batch.generator
            real = batch.videos * 2 - 1                                   # [-1, 1] as upstream
            lat = _global_latents(g, batch, real.shape[1])
            fake = g(**lat)                                               # with grad, for the G phase
            real_images = _pick_frames(real, image_batch, gen)
            fake_images = _pick_frames(fake, image_batch, gen)
            real_cat = label_t.to(real.device)[batch.index] if label_t is not None else None
            return {"real": real, "fake": fake, "real_images": real_images, "fake_images": fake_images,
                    "fake_cat": lat["categories"], "real_cat": real_cat, "gen": gen}

        def bce(logits: Tensor, target: float) -> Tensor:
            return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

        def image_d_loss(b: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            real = di(b["real_images"], sigma, b["gen"])
            fake = di(b["fake_images"].detach(), sigma, b["gen"])
            return bce(real, 1.0) + bce(fake, 0.0), {"real_logit": real.mean().detach()}

        def video_d_loss(b: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            real, real_cat = dv(b["real"], sigma, b["gen"])
            fake, fake_cat = dv(b["fake"].detach(), sigma, b["gen"])
            loss = bce(real, 1.0) + bce(fake, 0.0)
            extras = {"real_logit": real.mean().detach()}
            if cfg.dim_category:
                if b["real_cat"] is not None:     # upstream --use_categories: learn real actions
                    cat = F.cross_entropy(real_cat, b["real_cat"])
                else:                             # no labels: InfoGAN's Q is trained on the fakes
                    cat = F.cross_entropy(fake_cat, b["fake_cat"])
                loss = loss + cat
                extras["category"] = cat.detach()
            return loss, extras

        def generator_loss(b: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
            image = bce(di(b["fake_images"], sigma, b["gen"]), 1.0)
            logit, cat_logits = dv(b["fake"], sigma, b["gen"])
            video = bce(logit, 1.0)
            loss = image + video
            extras = {"image": image.detach(), "video": video.detach()}
            if cfg.dim_category and cfg.use_infogan:
                info = F.cross_entropy(cat_logits, b["fake_cat"])
                loss = loss + info
                extras["infogan"] = info.detach()
            return loss, extras

        parts = TrainParts(method=self.name, modules=self.modules(), make_batch=make_batch,
                           phases=[Phase("image_d", opt_di, image_d_loss), Phase("video_d", opt_dv, video_d_loss),
                                   Phase("generator", opt_g, generator_loss)],
                           config=self.config_dict())
        return loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=frames, resume=resume,
                          progress=progress)

    # ----------------------------------------------------------------------------- inference ---
    @property
    def category_label(self) -> str:
        """The ``Conditioning.labels`` name that fixes the action code: the dataset label the code
        learns from (``condition_on``), or ``"category"`` for unsupervised InfoGAN codes."""
        return self.config.condition_on or "category"

    def visualize(self, task: str, cond: Conditioning, *, seed: int) -> dict[str, Tensor]:
        """With an action code: ``by-<label>``, video ``i`` generated with class ``i % dim_category``
        (in the report's 4-wide grid each column is one class when there are 4)."""
        k = self.config.dim_category
        if task != "synthesis" or not k:
            return {}
        classes = torch.arange(cond.batch_size) % k
        by_class = Conditioning(cond.batch_size, cond.num_frames, labels={self.category_label: classes})
        return {f"by-{self.category_label}": self.generate(by_class, seed=seed)}

    @torch.no_grad()
    def generate(self, cond: Conditioning, *, seed: int) -> Tensor:
        """Sample videos ``(B, T, C, H, W)`` in [0, 1]; any ``T`` (the GRU runs as long as asked).
        With ``dim_category > 0``, ``cond.labels[category_label]`` ``(B,)`` fixes the action code;
        without it the class is drawn uniformly."""
        g = self.generator
        g.eval()
        categories = cond.labels.get(self.category_label) if self.config.dim_category else None
        if categories is not None:
            categories = categories.to(self.device, torch.long)
        lat = g.sample_latents(cond.batch_size, cond.num_frames, self.rng(seed, self.device), categories)
        out = []
        for i in range(0, cond.batch_size, 32):  # chunks of 32 videos bound the memory
            part = {k: v[i:i + 32] for k, v in lat.items()}
            out.append(g(**part).add(1).div(2).clamp(0, 1).float().cpu())
        return torch.cat(out)
