"""Configuration of :mod:`methods.vrnn_hier` (profiles ``paper``, ``paper_1l``, ``cpu``, ``smoke``).

``paper`` is the hierarchical model of the official code (``facebookresearch/improved_vrnn`` at
c370ede1, ``models/vrnn_hier.py`` with ``init_model.py`` and ``main.py`` defaults): base width 64
(encoder 64-128-256-512-512-512), three latent levels at decoder blocks 0, 2, 4 (1x1 with 10
channels, 8x8 with 512, 32x32 with 128), Adam 1e-4 with weight decay 1e-4, batch 16, beta 1
without warm-up, reconstruction loss l1 (BAIR, upstream default) or bce (Stochastic Moving
MNIST, the README's command), 500 epochs. ``paper_1l`` is the paper's one-level ablation
(``models/vrnn.py``: one 1x1 latent level).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.methods import DataSpec, ProfileUnavailable
from benchmark.training.loop import TrainConfig

RECONSTRUCTION_LOSSES = ("l1", "l2", "bce")


@dataclass(frozen=True)
class VRNNHierConfig:
    """Architecture and optimisation of :class:`methods.vrnn_hier.method.VRNNHier`."""

    channels: int = 3
    resolution: tuple[int, int] = (64, 64)       # the model's frame size
    io_resolution: tuple[int, int] | None = None  # the data's, when the model runs smaller (cpu
    #                                              profiles): inputs are downsampled, outputs upsampled
    context_frames: int = 2               # upstream --n_ctx (BAIR 2)
    future_frames: int = 10               # upstream --n_steps (BAIR 10)
    train_future_frames: int | None = None  # frames predicted per training clip (None: the protocol's)
    width: int = 64                       # upstream n_hid: encoder widths width * (1, 2, 4, 8, 8, 8)
    latent_blocks: tuple[int, ...] = (0, 2, 4)          # decoder blocks with a latent level
    latent_channels: tuple[int, ...] = (10, 512, 128)   # per level: n_z at 1x1, else the encoder width
    group_norm: bool = True               # upstream's GroupNorms (off: none, for narrow CPU models)
    reconstruction: str = "l1"            # upstream --rec_loss (default l1; SM-MNIST bce)
    beta: float = 1.0                     # KL weight (upstream --beta)
    beta_warmup_steps: int = 0            # linear warm-up of beta from 0 (upstream --beta_wu: 20 epochs)
    lr: float = 1e-4
    weight_decay: float = 1e-4            # upstream Adam weight_decay
    # upstream: batch 16, --max_epochs 500; BAIR has 43,264 training videos -> 2,704 batches per epoch
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1_352_000, batch_size=16, checkpoint_every=10_000, log_every=100))


def _shape(spec: DataSpec) -> dict:
    p = spec.train_protocol("prediction")
    return {"channels": spec.channels, "resolution": tuple(spec.resolution), "context_frames": p.context_frames,
            "future_frames": p.future_frames}


def _paper_dataset(spec: DataSpec) -> str:
    p = spec.train_protocol("prediction")
    if spec.dataset == "bair" and p.context_frames == 2:
        return "bair"
    if spec.dataset == "mmnist" and p.context_frames == 5:
        return "smmnist"
    raise ProfileUnavailable(f"vrnn_hier: the paper evaluates BAIR (2 -> 10) and Stochastic Moving MNIST "
                             f"(mmnist with motion=stochastic, 5 -> 10) among our datasets, not {spec.dataset!r} "
                             f"{p.context_frames} -> {p.future_frames}; use --profile cpu or smoke")


def paper(spec: DataSpec) -> VRNNHierConfig:
    which = _paper_dataset(spec)
    if which == "smmnist":
        # 60,000 MNIST digits make SVG's epoch; upstream batch 16 -> 3,750 batches x 500 epochs
        return VRNNHierConfig(**_shape(spec), reconstruction="bce",
                              train=TrainConfig(steps=1_875_000, batch_size=16, checkpoint_every=10_000,
                                                log_every=100))
    return VRNNHierConfig(**_shape(spec))


def paper_1l(spec: DataSpec) -> VRNNHierConfig:
    """The one-level VRNN of the paper's ablation (upstream ``models/vrnn.py``)."""
    cfg = paper(spec)
    return VRNNHierConfig(**{**cfg.__dict__, "latent_blocks": (0,), "latent_channels": (10,)})


def _half_size(spec: DataSpec) -> dict:
    """CPU profiles run the model at half the data's size when that is still >= 32 (64x64 -> 32x32)."""
    h, w = spec.resolution
    if min(h, w) >= 64 and h % 2 == 0 and w % 2 == 0:
        return {"resolution": (h // 2, w // 2), "io_resolution": (h, w)}
    return {}


def cpu(spec: DataSpec) -> VRNNHierConfig:
    # ~35 s on 2 cores on moving-shapes (64x64 RGB): the model at 32x32 (frames resized in and out),
    # width 4 (encoder 4-8-16-32-32), two latent levels (1x1 and 8x8), no GroupNorm (with 4-16
    # channels per group it normalises each channel of each frame, erasing flat colours), training
    # clips of c + 5 frames (the per-step ConvLSTM stack is what costs), l2 loss, a faster Adam.
    return VRNNHierConfig(**{**_shape(spec), **_half_size(spec)}, width=4, latent_blocks=(0, 2),
                          latent_channels=(8, 4), group_norm=False, train_future_frames=5, reconstruction="l2",
                          lr=2e-3, weight_decay=0.0,
                          train=TrainConfig(steps=60, batch_size=8, checkpoint_every=30, log_every=10))


def smoke(spec: DataSpec) -> VRNNHierConfig:
    # no GroupNorm: ~1.7x faster sampling of the main job's 128 x 10 rollouts (the GroupNorm path is
    # tested on its own in tests/methods/vrnn_hier)
    return VRNNHierConfig(**{**_shape(spec), **_half_size(spec)}, width=4, latent_blocks=(0, 2),
                          latent_channels=(4, 2), group_norm=False, train_future_frames=3, reconstruction="l2", lr=1e-3,
                          weight_decay=0.0,
                          train=TrainConfig(steps=10, batch_size=4, checkpoint_every=5, log_every=5))
