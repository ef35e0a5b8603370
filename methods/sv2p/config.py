"""Configuration of :mod:`methods.sv2p` (profiles ``paper``, ``cpu``, ``smoke``).

``paper`` follows the SV2P paper's training procedure on tensor2tensor's implementation
(``next_frame_sv2p`` hparams over ``next_frame_basic_stochastic`` / ``next_frame_basic_deterministic`` /
``next_frame_base`` / ``basic_params1``): CDNA with 10 masks, one latent channel from the inference
network (time-invariant), Adam 1e-3 (tensor2tensor's ``true_adam``: beta1 0.85, beta2 0.997, eps 1e-6),
batch 16, gradient norm clipped to 1, inverse-sigmoid scheduled sampling by count (``k = 900``), and the
three phases: 50k steps without the inference network (latents ~ N(0, I)), 50k with posterior latents and
no KL, then the KL weight ramped linearly 0 -> 1e-3 (over 20k steps) and training to 200k steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.methods import DataSpec, ProfileUnavailable
from benchmark.training.loop import TrainConfig
from methods.common.warp import check_velocity_options



@dataclass(frozen=True)
class SV2PConfig:
    """Architecture, schedule and optimisation of :class:`methods.sv2p.method.SV2P`."""

    channels: int = 3
    resolution: tuple[int, int] = (64, 64)
    context_frames: int = 2          # training protocol c (t2t video_num_input_frames)
    future_frames: int = 10          # future frames of a training clip: the protocol's p (paper) or fewer
    action_dim: int = 0              # A of the per-step actions (0: action-free)
    frame_scale: int = 1             # networks see frames average-pooled by this factor (1 = native, paper)
    # predictor (NextFrameSv2p.construct_predictive_tower)
    model: str = "cdna"              # "cdna" | "dna" (t2t model_options)
    num_masks: int = 10
    kernel_size: int = 5             # dna_kernel_size
    relu_shift: float = 1e-12
    width_divisor: int = 1           # 1 = upstream widths
    cdna_shift_init: float = 0.0     # > 0: CDNA kernels start as identity + whole-pixel shifts (cpu option)
    # not upstream (cpu option, as conv_lstm's): what mask 0 copies into the frame h steps after the context is
    # the last context frame carried h steps along a velocity field (methods.common.warp.VelocityNet) read off
    # the last two context frames, instead of the previous (predicted) frame
    copy_velocity: bool = False
    max_velocity: float = 0.2        # with copy_velocity: the largest speed (grid_sample units per frame)
    velocity_pool: int = 1           # with copy_velocity: the field is averaged over pool x pool blocks
    velocity_loss: float = 0.0       # with copy_velocity: weight of the MSE of the moved frames to the true ones
    velocity_divergence: float = 0.0  # with copy_velocity: weight of the field's mean squared divergence
    copy_mask_bias: float = 0.0      # added to mask 0's initial bias: training starts from a mostly copied frame
    velocity_lr: float = 0.0         # with copy_velocity: the velocity net's Adam lr (0: lr)
    velocity_warmup: int = 0         # with copy_velocity: steps training the velocity net alone before the model
                                     # (methods.common.velocity_warmup), at velocity_lr (0: lr)
    # latent (conv_latent_tower); latent_channels = 0 gives the deterministic model
    latent_channels: int = 1
    latent_std_min: float = -5.0
    time_variant_latent: bool = False   # one latent sample per step (the paper's time-variant SV2P)
    # the three training phases (steps)
    stage1_steps: int = 50_000       # phase 1: no inference network, latents ~ N(0, I)
    stage2_steps: int = 50_000       # phase 2: posterior latents, KL weight 0
    kl_ramp_steps: int = 20_000      # phase 3: KL weight linear 0 -> kl_weight over these steps
    kl_weight: float = 1e-3          # latent_loss_multiplier
    internal_loss: bool = True       # also the MSE of the predicted context frames (t2t internal_loss)
    recon_loss: str = "mse"          # "mse" (t2t) or "l1" (not upstream, cpu option: sharp copies, not blurred means)
    schedule_sampling_k: float = 900.0
    # optimisation
    lr: float = 1e-3
    beta1: float = 0.85
    beta2: float = 0.997
    eps: float = 1e-6
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=200_000, batch_size=16, checkpoint_every=5_000, log_every=100, grad_clip=1.0))

    def __post_init__(self) -> None:
        if self.recon_loss not in ("mse", "l1"):
            raise ValueError(f"sv2p: recon_loss must be 'mse' or 'l1', got {self.recon_loss!r}")
        check_velocity_options("sv2p", self)
        if self.copy_velocity and self.model != "cdna":
            raise ValueError("sv2p: copy_velocity moves the previous-frame candidate of the CDNA model; "
                             f"model={self.model!r} has none")


def action_dim(spec: DataSpec) -> int:
    """A of the per-step actions when the training protocol provides them, else 0."""
    proto = spec.train_protocol("prediction")
    return int(spec.action_dim) if "actions" in getattr(proto, "conditioning", ()) else 0


def _base(spec: DataSpec, name: str) -> dict:
    if "prediction" not in spec.protocols:
        raise ProfileUnavailable(f"{name}: dataset {spec.dataset!r} has no prediction protocol")
    proto = spec.train_protocol("prediction")
    h, w = spec.resolution
    if h % 8 or w % 8:
        raise ProfileUnavailable(f"{name}: frames {h}x{w} must be divisible by 8 (three stride-2 stages)")
    return dict(channels=spec.channels, resolution=(h, w), context_frames=proto.context_frames,
                future_frames=proto.future_frames, action_dim=action_dim(spec))


def paper(spec: DataSpec) -> SV2PConfig:
    return SV2PConfig(**_base(spec, "sv2p"))


def cpu(spec: DataSpec) -> SV2PConfig:
    """Learns on moving-shapes in the main job: 32x32 networks at a quarter width, training clips of the
    protocol's context and at most 5 future frames, 200 steps of 4 clips in three phases; not upstream:
    an L1 reconstruction, mask 0 biased to copy at first, and what it copies is the last context frame
    carried along a velocity field (``copy_velocity``; its net at lr 5e-3, first trained alone for 300 steps:
    ``velocity_warmup``): the objects keep their shape and colour instead of blurring away, and move (README
    "cpu and smoke profiles" has the measurements)."""
    base = _base(spec, "sv2p cpu")
    h, w = spec.resolution
    scale = 2 if min(h, w) >= 64 and (h // 2) % 8 == 0 and (w // 2) % 8 == 0 else 1
    steps = 200
    base["future_frames"] = min(base["future_frames"], 5)
    return SV2PConfig(**base, frame_scale=scale, width_divisor=4, stage1_steps=steps // 3, stage2_steps=steps // 5,
                      kl_ramp_steps=steps // 5, schedule_sampling_k=25.0, recon_loss="l1", copy_mask_bias=3.0,
                      copy_velocity=True, velocity_pool=16, velocity_loss=1.0, velocity_divergence=1.0,
                      velocity_lr=5e-3, velocity_warmup=300,
                      train=TrainConfig(steps=steps, batch_size=4, checkpoint_every=50, log_every=10, grad_clip=1.0))


def smoke(spec: DataSpec) -> SV2PConfig:
    """Same code paths (all three phases), tiny, seconds (the main job's default profile): 32x32 networks
    on 64x64 frames, training clips of the context and at most 3 future frames, 5 steps of 2 clips."""
    base = _base(spec, "sv2p smoke")
    h, w = spec.resolution
    scale = 2 if min(h, w) >= 64 and (h // 2) % 8 == 0 and (w // 2) % 8 == 0 else 1
    base["future_frames"] = min(base["future_frames"], 3)
    return SV2PConfig(**base, frame_scale=scale, width_divisor=16, num_masks=3, stage1_steps=2, stage2_steps=1,
                      kl_ramp_steps=2, schedule_sampling_k=2.0,
                      train=TrainConfig(steps=5, batch_size=2, checkpoint_every=2, log_every=1, grad_clip=1.0))
