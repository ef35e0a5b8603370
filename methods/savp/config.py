"""Configuration of :mod:`methods.savp`: one config type for SAVP and its ablations.

The four registered methods differ only in their losses (``alexlee-gk/video_prediction``,
``hparams/<dataset>/<model>/model_hparams.json`` over the defaults of ``savp_model.py`` and
``base_model.py``):

=============  =========  ===============  ==========================================================
method         upstream   latent           losses
=============  =========  ===============  ==========================================================
``savp``       ours_savp  posterior+prior  L1 (posterior) + KL + video GAN (prior) + VAE-GAN (posterior)
``savp_vae``   ours_vae   posterior        L1 (posterior) + KL
``savp_gan``   ours_gan   prior only       L1 + video GAN (both on prior samples)
``savp_det``   ours_det.  none (nz = 0)    L1
=============  =========  ===============  ==========================================================

Profiles are functions of the :class:`~benchmark.methods.DataSpec`: ``paper`` uses the per-dataset
hyperparameters of the official hparams files (KTH, BAIR action-free, BAIR action-conditioned), ``cpu``
a narrow network that learns on moving-shapes in the main job (figures at :data:`CPU_STEPS`), ``smoke`` a
tiny one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from benchmark.methods import DataSpec, ProfileUnavailable
from benchmark.training.loop import TrainConfig

VARIANTS = ("savp", "vae", "gan", "deterministic")


@dataclass(frozen=True)
class SAVPConfig:
    """Architecture, losses and optimisation of SAVP (defaults: upstream's, BAIR action-free ``ours_savp``)."""

    channels: int = 3
    resolution: tuple[int, int] = (64, 64)
    context_frames: int = 2          # training protocol c (upstream context_frames)
    future_frames: int = 10          # future frames of a training clip: the protocol's p (paper) or fewer
    action_dim: int = 0              # A of the per-step actions (0: action-free)
    frame_scale: int = 1             # the networks see frames average-pooled by this factor and their
    #                                  predictions are upsampled back (bilinear); 1 = native (paper)
    # generator (SAVPCell)
    ngf: int = 32
    nz: int = 8                      # latent size; 0 = deterministic
    kernel_size: int = 5             # CDNA / DNA kernel side
    num_transformed_images: int = 4
    transformation: str = "cdna"     # "cdna" | "dna"
    prev_image_background: bool = True
    first_image_background: bool = True
    generate_scratch_image: bool = True
    dependent_mask: bool = True
    use_rnn_z: bool = True
    # not upstream (cpu option, as sv2p's): the previous-image candidate of the frame h steps after the context
    # is the last context frame carried h steps along a velocity field (methods.common.warp.VelocityNet)
    copy_velocity: bool = False
    max_velocity: float = 0.2        # with copy_velocity: the largest speed (grid_sample units per frame)
    velocity_pool: int = 1           # with copy_velocity: the field is averaged over pool x pool blocks
    velocity_loss: float = 0.0       # with copy_velocity: weight of the MSE of the moved frames to the true ones
    velocity_divergence: float = 0.0  # with copy_velocity: weight of the field's mean squared divergence
    velocity_lr: float = 0.0         # with copy_velocity: the velocity net's Adam lr (0: lr)
    velocity_warmup: int = 0         # with copy_velocity: steps training the velocity net alone before the model
                                     # (methods.common.velocity_warmup), at velocity_lr (0: lr)
    copy_mask_bias: float = 0.0      # added to the previous-image mask's initial bias (0 = upstream)
    # posterior encoder (networks.encoder) -- used when `encoder` is True
    encoder: bool = True
    nef: int = 64
    n_layers: int = 3
    # video discriminator(s) (networks.video_sn_discriminator)
    ndf: int = 32
    clip_length: int = 10
    # losses
    l1_weight: float = 100.0
    l2_weight: float = 0.0
    kl_weight: float = 1.0
    kl_anneal_steps: tuple[int, int] = (50_000, 100_000)   # linear 0 -> kl_weight (upstream kl_anneal="linear")
    gan_weight: float = 0.1                   # video_sn_gan_weight (prior samples vs real)
    vae_gan_weight: float = 0.1               # video_sn_vae_gan_weight (posterior samples vs real)
    gan_feature_cdist_weight: float = 0.0
    vae_gan_feature_cdist_weight: float = 10.0
    schedule_sampling_k: float = 900.0        # inverse-sigmoid scheduled sampling, p = k / (k + exp(step / k))
    # optimisation (Adam for G and D)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_steps: tuple[int, int] = (200_000, 300_000)       # linear decay of lr to end_lr
    end_lr: float = 0.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=300_000, batch_size=16, checkpoint_every=5_000, log_every=100))


# Loss weights and optimiser per (dataset family, variant) from the official hparams files.
# "bair_action_free" and "kth" at HEAD (df43be5); "bair" (action-conditioned) as last published, at
# edb65e6, before the files were removed (their state_weight is dropped: we feed no end-effector state).
_SAVP = dict(lr=2e-4, beta1=0.5, beta2=0.999, l1_weight=100.0, l2_weight=0.0, encoder=True)
_GAN = dict(_SAVP, kl_weight=0.0, vae_gan_weight=0.0, vae_gan_feature_cdist_weight=0.0, encoder=False)
_VAE = dict(lr=1e-3, beta1=0.9, beta2=0.999, l1_weight=1.0, l2_weight=0.0, gan_weight=0.0, vae_gan_weight=0.0,
            gan_feature_cdist_weight=0.0, vae_gan_feature_cdist_weight=0.0, encoder=True)
_DET = dict(_VAE, kl_weight=0.0, nz=0, encoder=False)
HPARAMS: dict[str, dict[str, dict]] = {
    "bair_action_free": {
        "savp": dict(_SAVP, kl_weight=1.0, gan_weight=0.1, vae_gan_weight=0.1, gan_feature_cdist_weight=0.0,
                     vae_gan_feature_cdist_weight=10.0, nz=8, batch_size=16),
        "gan": dict(_GAN, gan_weight=0.1, gan_feature_cdist_weight=10.0, nz=8, batch_size=16),
        "vae": dict(_VAE, kl_weight=1e-3, nz=8, batch_size=32),
        "deterministic": dict(_DET, batch_size=32),
    },
    "kth": {
        "savp": dict(_SAVP, kl_weight=0.01, gan_weight=0.1, vae_gan_weight=0.1, gan_feature_cdist_weight=0.0,
                     vae_gan_feature_cdist_weight=10.0, nz=32, batch_size=16),
        "gan": dict(_GAN, gan_weight=0.1, gan_feature_cdist_weight=10.0, nz=32, batch_size=16),
        "vae": dict(_VAE, kl_weight=1e-5, nz=32, batch_size=32),
        "deterministic": dict(_DET, batch_size=32),
    },
    "bair": {  # action-conditioned
        "savp": dict(_SAVP, kl_weight=0.1, gan_weight=1.0, vae_gan_weight=1.0, gan_feature_cdist_weight=0.0,
                     vae_gan_feature_cdist_weight=0.0, nz=8, batch_size=16),
        "gan": dict(_GAN, gan_weight=1.0, gan_feature_cdist_weight=0.0, nz=8, batch_size=16),
        "vae": dict(_VAE, kl_weight=1e-3, nz=8, batch_size=32),
        "deterministic": dict(_DET, batch_size=32),
    },
}


def action_dim(spec: DataSpec) -> int:
    """A of the per-step actions when the training protocol provides them, else 0."""
    proto = spec.train_protocol("prediction")
    return int(spec.action_dim) if "actions" in getattr(proto, "conditioning", ()) else 0


def _base(spec: DataSpec, name: str) -> dict:
    if "prediction" not in spec.protocols:
        raise ProfileUnavailable(f"{name}: dataset {spec.dataset!r} has no prediction protocol")
    proto = spec.train_protocol("prediction")
    h, w = spec.resolution
    if min(h, w) < 32 or h % 4 or w % 4:
        raise ProfileUnavailable(f"{name}: frames {h}x{w} are too small or not divisible by 4 for the generator")
    if proto.context_frames < 1:
        raise ProfileUnavailable(f"{name}: needs at least one context frame")
    return dict(channels=spec.channels, resolution=(h, w), context_frames=proto.context_frames,
                future_frames=proto.future_frames, action_dim=action_dim(spec),
                clip_length=min(10, proto.num_frames - 1))


def _family(spec: DataSpec) -> str:
    name = spec.dataset.lower()
    if name.startswith("kth"):
        return "kth"
    if name.startswith("bair"):
        return "bair" if action_dim(spec) else "bair_action_free"
    # Datasets the paper did not use: BAIR action-free's hyperparameters (the code's defaults).
    return "bair_action_free"


def paper(variant: str):
    """The ``paper`` profile of ``variant``: the official hparams of the dataset family."""

    def profile(spec: DataSpec) -> SAVPConfig:
        base = _base(spec, f"savp ({variant})")
        hp = dict(HPARAMS[_family(spec)][variant])
        batch = hp.pop("batch_size")
        # upstream: 300k steps, lr decayed linearly to 0 over the last 100k (decay_steps (200k, 300k))
        return SAVPConfig(**base, **hp, train=TrainConfig(steps=300_000, batch_size=batch, checkpoint_every=5_000,
                                                          log_every=100))

    return profile


def _narrow(variant: str, spec: DataSpec, name: str, **small) -> SAVPConfig:
    """The paper's losses for ``variant`` on a narrow network with short schedules."""
    base = _base(spec, name)
    hp = dict(HPARAMS["bair_action_free"][variant])
    hp.pop("batch_size")
    hp.update(small)
    return SAVPConfig(**base, **hp)


#: Training steps of the ``cpu`` profile per variant. Measured on moving-shapes (5 -> 15, k = 5, 128 test
#: clips; copy_last ssim_best 0.7617), one torch thread: train / sample / score CPU-s and ssim_best --
#: savp 60 steps (~0.57 s each): 34 / 21 / 11 (ssim only; all default metrics ~18), 0.7673;
#: vae 120 (~0.22 s): 26 / 20 / 11, 0.7723; gan 100 (~0.28 s): 28 / 22 / 12, 0.7681;
#: deterministic 150 (~0.17 s): 25 / 3 / 3 (all metrics ~7), 0.7877 (on a loaded 2-core machine).
CPU_STEPS = {"savp": 60, "vae": 120, "gan": 100, "deterministic": 150}


def cpu(variant: str):
    """``cpu`` profile: learns on moving-shapes in the main job's budget (one torch thread per method).

    32x32 networks on 64x64 frames (``frame_scale`` 2), narrow widths, training clips of the protocol's
    context and at most 5 future frames, batches of 4 clips, :data:`CPU_STEPS` steps (fewer for the
    variants whose step costs more: SAVP runs two generator paths and two discriminators per step);
    Adam 1e-3 (5e-4 for the GAN-only one); KL ramp over the first third, scheduled sampling with
    ``k = steps / 8`` (the same curve whatever the length), no lr decay. Not upstream: the previous-image
    candidate of the future frames is the last context frame carried along a velocity field whose net first
    trains alone for 300 steps (``velocity_warmup``), that candidate's mask biased to copy at first
    (README "cpu and smoke profiles").
    """

    def profile(spec: DataSpec) -> SAVPConfig:
        steps = CPU_STEPS[variant]
        h, w = spec.resolution
        scale = 2 if min(h, w) >= 64 else 1  # 32x32 networks on 64x64 frames: 4x fewer pixels
        cfg = _narrow(variant, spec, f"savp ({variant}) cpu", frame_scale=scale, ngf=8, nef=16, ndf=4,
                      nz=0 if variant == "deterministic" else 8,
                      kl_anneal_steps=(0, steps // 3), schedule_sampling_k=steps / 8,
                      decay_steps=(steps, steps), lr=5e-4 if variant == "gan" else 1e-3,
                      copy_velocity=True, velocity_pool=16, velocity_loss=1.0, velocity_divergence=1.0,
                      copy_mask_bias=3.0, velocity_lr=2e-3, velocity_warmup=300,
                      train=TrainConfig(steps=steps, batch_size=4, checkpoint_every=25, log_every=10))
        future = min(cfg.future_frames, 5)
        return dataclasses.replace(cfg, future_frames=future,
                                   clip_length=min(6, cfg.context_frames + future - 1))

    return profile


def smoke(variant: str):
    """``smoke`` profile: same code paths, tiny, seconds (the main job's default profile): 32x32 networks
    on 64x64 frames, training clips of the context and at most 3 future frames, 4 steps of 2 clips."""

    def profile(spec: DataSpec) -> SAVPConfig:
        h, w = spec.resolution
        scale = 2 if min(h, w) >= 64 and h % 8 == 0 and w % 8 == 0 else 1
        cfg = _narrow(variant, spec, f"savp ({variant}) smoke", frame_scale=scale, ngf=4, nef=4, ndf=2,
                      nz=2 if variant != "deterministic" else 0, kl_anneal_steps=(0, 4), schedule_sampling_k=2.0,
                      decay_steps=(20, 20), train=TrainConfig(steps=4, batch_size=2, checkpoint_every=2, log_every=1))
        future = min(cfg.future_frames, 3)
        return dataclasses.replace(cfg, future_frames=future,
                                   clip_length=min(cfg.clip_length, cfg.context_frames + future - 1))

    return profile
