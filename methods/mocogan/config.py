"""Configuration of :mod:`methods.mocogan` (profiles ``paper``, ``cpu`` and ``smoke``).

``paper`` follows Tulyakov et al. 2018 (MoCoGAN, CVPR) and the training command of the official
code (``sergeytulyakov/mocogan``, ``src/train.py`` options, ``src/trainers.py`` optimisers):
z_C 50, z_M 10, GRU motion generator, DCGAN image generator (ngf 64), patch image discriminator,
categorical 3D video discriminator, Adam 2e-4 (0.5, 0.999) with weight decay 1e-5 for all three
networks, image and video batches of 32, instance noise sigma 0.1, 100k iterations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.methods import DataSpec
from benchmark.training.loop import TrainConfig
from methods.common.resize import model_size

IMAGE_DISCRIMINATORS = ("patch", "full")


@dataclass(frozen=True)
class MoCoGANConfig:
    """Architecture and optimisation of :class:`methods.mocogan.method.MoCoGAN`."""

    channels: int = 3
    resolution: tuple[int, int] = (64, 64)   # the networks' frame size
    io_resolution: tuple[int, int] | None = None  # the data's, when the networks run smaller (cpu profile)
    frames: int = 16                 # video length seen by the video discriminator (upstream 16)
    dim_content: int = 50            # z_C
    dim_motion: int = 10             # z_M (GRU cell of this size)
    dim_category: int = 0            # z_A one-hot action code; 0 = unconditional (upstream default 6)
    condition_on: str = ""           # dataset label the category head learns from (upstream --use_categories),
    #                                  e.g. "action"; "" = none (with dim_category > 0: unsupervised InfoGAN codes)
    use_infogan: bool = True         # G is asked to make its category recognisable (only if dim_category)
    gen_width: int = 64              # ngf: generator 512-256-128-64
    image_disc_width: int = 64       # ndf of the image discriminator
    video_disc_width: int = 64       # ndf of the video discriminator
    image_discriminator: str = "patch"   # upstream default PatchImageDiscriminator; "full": DCGAN D
    image_batch: int = 32            # frames per image-discriminator batch (upstream README: 32)
    noise_sigma: float = 0.1         # instance noise on discriminator inputs (upstream --noise_sigma)
    lr: float = 2e-4                 # Adam, all three networks (trainers.py)
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-5
    # The video batch is train.batch_size (upstream README: 32); upstream --batches 100000.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=100_000, batch_size=32, checkpoint_every=5_000, log_every=100))


def _conditioning(spec: DataSpec) -> dict:
    """Action-conditional (one-hot z_A learned from the dataset's ``action`` labels) when it has them."""
    if "action" in spec.labels:
        return {"condition_on": "action", "dim_category": spec.labels["action"]}
    return {}


def paper(spec: DataSpec) -> MoCoGANConfig:
    # Weizmann is the paper's categorical-dynamics dataset (§4.3) and an Aich et al. 2020 Table 2 baseline
    # there: action-conditional. Elsewhere unconditional, as the papers' unconditional comparisons.
    cond = _conditioning(spec) if "weizmann" in spec.dataset.lower() else {}
    return MoCoGANConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                         frames=spec.train_protocol("synthesis").num_frames, **cond)



def cpu(spec: DataSpec) -> MoCoGANConfig:
    # The main job's profile (~33 one-thread CPU-s of training): the paper's networks, losses, instance
    # noise and Adam (beta 0.5, 0.999, weight decay 1e-5), on a quarter of the frame size (64x64 -> 16x16:
    # the DCGAN generator and both discriminators lose two stride-2 levels), narrower.
    # Conditional on labelled data as the smoke profile (moving-shapes: the motion direction).
    # Deviations measured on moving-shapes, fvd_shapes seed 0 / seed 1 (uniform grey 2334, untrained 2337),
    # one torch thread, training CPU-s (user + sys):
    #   lr 2e-4, batch 16 videos / 32 images, 400 steps (the previous cpu profile): 1266.6 / 933.1, ~33 s,
    #     colour noise: Adam at the paper's 2e-4 has barely left its initialisation after 400 steps
    #   lr 1e-3: 576 / 693;  lr 2e-3: 429 / 388 (coloured blobs);  lr 4e-3: 444 / 451
    #   lr 2e-3, batch 8 videos / 16 images, 700 steps (same CPU time, more updates): 261 / 247, ~33 s,
    #     coloured shapes that move  <- this profile
    #   (also tried at lr 2e-3: no instance noise 392 / 444, the full DCGAN image discriminator 273 / 435,
    #   and with batch 8 x 700: 336 / 474; 32x32 networks cost 51 CPU-s for 150 steps and score 1006;
    #   batch 8 x 700 at lr 1.5e-3: 245 / 445, at 3e-3: 413 / 307; batch 6 / 12 images x 900: 247 / 266)
    # Current evaluator (dcdb429a), seeds 0 / 1 / 2: this profile 300.2 / 290.0 / 263.8; video_disc_width 32:
    # 286.7 / 284.4 / 274.7 (less flicker, ~40 % more time), at 500 steps (same time) 301.2 / 491.2 / 275.6.
    return MoCoGANConfig(channels=spec.channels, **model_size(spec.resolution, 4),
                         frames=spec.train_protocol("synthesis").num_frames, **_conditioning(spec),
                         dim_content=32, dim_motion=10, gen_width=32, image_disc_width=16, video_disc_width=16,
                         image_batch=16, lr=2e-3,
                         train=TrainConfig(steps=700, batch_size=8, checkpoint_every=350, log_every=50))


def smoke(spec: DataSpec) -> MoCoGANConfig:
    # Same code paths, tiny widths: well under a second per step on a 2-core CPU at 64x64x16.
    # Conditional on labelled data (moving-shapes: the motion direction) so `benchmark run` exercises it.
    return MoCoGANConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                         frames=spec.train_protocol("synthesis").num_frames, **_conditioning(spec),
                         dim_content=16, dim_motion=8, gen_width=8, image_disc_width=8, video_disc_width=4,
                         image_batch=8, lr=1e-3,
                         train=TrainConfig(steps=60, batch_size=4, checkpoint_every=30, log_every=10))
