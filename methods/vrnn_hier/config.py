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
from methods.common.warp import check_velocity_options

RECONSTRUCTION_LOSSES = ("l1", "l2", "bce")
COPY_SOURCES = ("previous", "context")


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
    he_init: bool = False                 # not upstream (cpu deviation): He (kaiming-normal, LeakyReLU 0.2) init of
    #                                       the frame encoder's conv weights, zero biases (upstream keeps PyTorch's
    #                                       default, whose ~1/sqrt(3) gain per layer GroupNorm undoes; without
    #                                       GroupNorm the narrow encoder's 1x1 embeddings are ~30x less spread
    #                                       across frames: nearly the same for every frame)
    copy_mask: bool = False               # not upstream (cpu deviation): the decoder also writes a mask m and the
    #                                       frame is m * reference + (1 - m) * drawn (methods.common.frame_codecs.
    #                                       composite_copy), so unchanging pixels are copied instead of redrawn
    copy_from: str = "previous"           # with copy_mask, the reference frame: "previous" (the frame before:
    #                                       ground truth in training, the model's own prediction when sampling)
    #                                       or "context" (always the last context frame)
    mask_bias: float = 0.0                # with copy_mask, the initial bias of the mask's logit (3: m starts at
    #                                       sigmoid(3) = 0.95; methods.common.frame_codecs.init_copy_mask_)
    copy_velocity: bool = False           # not upstream (cpu deviation): with copy_from="context", the reference of
    #                                       the frame h steps after the context is the last context frame warped by h x
    #                                       a velocity field that a small conv net reads off the last two context
    #                                       frames (methods.common.warp.VelocityNet): the copied objects move on
    max_velocity: float = 0.2             # with copy_velocity: the largest speed (grid_sample units per frame)
    velocity_pool: int = 1                # with copy_velocity: the field is averaged over pool x pool blocks (whole
    #                                       objects move instead of tearing; methods.common.warp.smooth_flow)
    velocity_loss: float = 0.0            # with copy_velocity: weight of a direct l2 loss between the warped
    #                                       references and the true frames (summed like the reconstruction loss),
    #                                       so the velocity net learns even where the copy mask does not look
    velocity_divergence: float = 0.0      # with copy_velocity: weight of the mean squared divergence of the (pooled)
    #                                       field (a diverging field shrinks what it moves; methods.common.warp)
    lr: float = 1e-4
    weight_decay: float = 1e-4            # upstream Adam weight_decay
    # upstream: batch 16, --max_epochs 500; BAIR has 43,264 training videos -> 2,704 batches per epoch
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1_352_000, batch_size=16, checkpoint_every=10_000, log_every=100))

    def __post_init__(self) -> None:
        if self.copy_from not in COPY_SOURCES:
            raise ValueError(f"vrnn_hier: copy_from must be one of {COPY_SOURCES}, got {self.copy_from!r}")
        if self.mask_bias and not self.copy_mask:
            raise ValueError(f"vrnn_hier: mask_bias={self.mask_bias} needs copy_mask=True (it initialises the copy mask)")
        if self.copy_velocity and not (self.copy_mask and self.copy_from == "context"):
            raise ValueError("vrnn_hier: copy_velocity needs copy_mask=True and copy_from='context' (it moves the last "
                             "context frame that the copy mask reads)")
        check_velocity_options("vrnn_hier", self)


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
    # ~39 s of one-thread training on moving-shapes (64x64 RGB): the model at 32x32 (frames resized in
    # and out), width 4 (encoder 4-8-16-32-32), two latent levels (1x1 and 8x8), no GroupNorm (with 4-16
    # channels per group it normalises each channel of each frame, erasing flat colours), training clips
    # of c + 5 frames (the per-step ConvLSTM stack is what costs), l2 loss, a faster Adam, 160 steps.
    # Not upstream (README "Deviations"): He init of the frame encoder (with PyTorch's default init and no
    # GroupNorm its embeddings were nearly the same for every frame) and a copy mask over the last context
    # frame, its logit starting at 3 (m = 0.95): 60 steps without them predicted each clip's background
    # without the objects (ssim_best 0.7674 / 0.7419, fvd_shapes 270 / 298 on seeds 0 / 1); with them
    # 0.7862 / 0.7949 and 141.6 / 135.0 (copy_last 0.7617, 184.6): the objects stay, fading over the 15
    # frames (not moved). Copying the frame before instead (copy_from="previous", the model's own frames
    # when sampling) gave 0.8014 / 0.7517: errors compound in closed loop on seed 1. An l1 loss drives the
    # mask to ~1 (a plain copy through the 32x32 model, 0.7703 on both seeds). The copied objects then stayed
    # put; copy_velocity (not upstream) moves them: the copy source of the frame h steps on is the last
    # context frame warped by h x a velocity field (16x16 block means, at most 0.2 grid units a frame) read
    # off the last two context frames by a small conv net, which a direct l2 loss on the warped frames
    # trains (velocity_loss 1), and 160 steps instead of 120 (~34-39 s wall): ssim_best 0.7973 / 0.7860 /
    # 0.7753 / 0.8035, fvd_shapes 56.1 / 86.9 / 91.5 / 62.9, motion 0.340 / 0.262 / 0.345 / 0.320 on seeds
    # 0-3 (at 120 steps 0.7879 / 0.7934 / 0.7650 / 0.7955; velocity_loss 3 or 8x8 blocks were no better;
    # README "Deviations").
    return VRNNHierConfig(**{**_shape(spec), **_half_size(spec)}, width=4, latent_blocks=(0, 2),
                          latent_channels=(8, 4), group_norm=False, train_future_frames=5, reconstruction="l2",
                          lr=2e-3, weight_decay=0.0, he_init=True, copy_mask=True, copy_from="context",
                          mask_bias=3.0, copy_velocity=True, max_velocity=0.2, velocity_pool=16, velocity_loss=1.0,
                          train=TrainConfig(steps=160, batch_size=8, checkpoint_every=40, log_every=10))


def smoke(spec: DataSpec) -> VRNNHierConfig:
    # no GroupNorm: ~1.7x faster sampling of the main job's 128 x 10 rollouts (the GroupNorm path is
    # tested on its own in tests/methods/vrnn_hier)
    return VRNNHierConfig(**{**_shape(spec), **_half_size(spec)}, width=4, latent_blocks=(0, 2),
                          latent_channels=(4, 2), group_norm=False, train_future_frames=3, reconstruction="l2", lr=1e-3,
                          weight_decay=0.0,
                          train=TrainConfig(steps=10, batch_size=4, checkpoint_every=5, log_every=5))
