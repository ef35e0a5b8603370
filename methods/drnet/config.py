"""Config and profiles of DRNet (Denton & Birodkar, "Unsupervised Learning of Disentangled
Representations from Video", NeurIPS 2017, arXiv 1705.10915; upstream ``edenton/drnet-py``).

Two training stages: ``disentangle`` (``train_drnet.py``: content/pose encoders, decoder and the
scene discriminator) then ``lstm`` (``train_lstm.py``: the pose LSTM on frozen encoders).

``paper``: upstream's defaults (the settings of its KTH commands) on KTH (64x64 or 128x128) and
Moving MNIST; ``cpu``: narrow networks on 32x32 frames, ~35 s on two CPU cores; ``smoke``: tiny.
The ``cpu`` profile's deviations (not upstream: a copy mask that starts saturated, ``mask_bias``,
and an L1 reconstruction loss) and their measured reasons: README "cpu profile".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.methods import DataSpec, ProfileUnavailable
from benchmark.training.loop import TrainConfig
from methods.common.warp import check_velocity_options

# train_drnet.py / train_lstm.py: --niter 200 epochs of --epoch_size 600 batches of --batch_size 100.
PAPER_TRAIN = TrainConfig(steps=200 * 600, batch_size=100, checkpoint_every=5_000, log_every=100)


@dataclass(frozen=True)
class DRNetConfig:
    """DRNet's architecture and both stages' optimisation; names follow upstream's flags."""

    channels: int = 1                  # the data's channels
    model_channels: int | None = None  # --channels of the networks (None: the data's); KTH upstream: 3
    resolution: tuple[int, int] = (64, 64)             # --image_width
    model_resolution: tuple[int, int] | None = None    # frames resized to this inside the model (cpu)
    width: int = 64                    # first-stage channels (upstream nf = 64)
    content_model: str = "dcgan_unet"  # --content_model: dcgan_unet | vgg_unet | dcgan
    pose_model: str = "dcgan"          # --pose_model: dcgan | resnet
    content_dim: int = 128             # --content_dim
    pose_dim: int = 10                 # --pose_dim
    normalize: bool = False            # --normalize: L2-normalise pose vectors
    sd_width: int = 100                # --sd_nf: scene discriminator hidden units
    sd_weight: float = 1e-4            # --sd_weight: adversarial weight on the pose encoder
    max_step: int = 20                 # --max_step: frames of a clip the four training frames come from
    copy_mask: bool = False            # not upstream (cpu profile): the decoder also writes a mask m, frame =
                                       # m * (content frame) + (1 - m) * (drawn frame), unchanged pixels copied
    mask_bias: float = 0.0             # not upstream (cpu profile): with copy_mask, the initial bias of the mask's logit
                                       # (3: m = sigmoid(3) = 0.95, the decoder starts as a copy of the content frame)
    recon_loss: str = "mse"            # upstream "mse"; "l1" (cpu profile) pushes flat regions to exact values
    copy_velocity: bool = False        # not upstream (cpu profile): with copy_mask, the content frame the mask
                                       # copies is first moved to the pose frame's time along a velocity field read
                                       # off it and the frame before (methods.common.warp.VelocityNet), trained
                                       # alone before the first stage (velocity_warmup steps), then kept fixed
    max_velocity: float = 0.2          # with copy_velocity: the largest speed (grid_sample units per frame)
    velocity_pool: int = 1             # with copy_velocity: the field is averaged over pool x pool blocks
    velocity_divergence: float = 0.0   # with copy_velocity: weight of the field's squared divergence in its warm-up
    velocity_warmup: int = 0           # with copy_velocity: the velocity net's training steps (alone, first stage)
    velocity_lr: float = 0.0           # with copy_velocity: its Adam lr in the warm-up (0: lr)
    lr: float = 2e-3                   # train_drnet.py --lr
    beta1: float = 0.5                 # train_drnet.py --beta1
    rnn_size: int = 256                # train_lstm.py --rnn_size
    rnn_layers: int = 2                # train_lstm.py --rnn_layers
    context_frames: int = 10           # train_lstm.py --n_past
    future_frames: int = 10            # train_lstm.py --n_future
    lstm_lr: float = 2e-4              # train_lstm.py --lr
    lstm_beta1: float = 0.9            # train_lstm.py --beta1
    train: TrainConfig = field(default_factory=lambda: PAPER_TRAIN)       # stage "disentangle"
    lstm_train: TrainConfig = field(default_factory=lambda: PAPER_TRAIN)  # stage "lstm"

    def __post_init__(self) -> None:
        if self.recon_loss not in ("mse", "l1"):
            raise ValueError(f"drnet: recon_loss must be 'mse' or 'l1', got {self.recon_loss!r}")
        if self.mask_bias and not self.copy_mask:
            raise ValueError(f"drnet: mask_bias={self.mask_bias} needs copy_mask=True (it initialises the copy mask)")
        if self.copy_velocity and not self.copy_mask:
            raise ValueError("drnet: copy_velocity needs copy_mask=True (it moves the copy mask's source)")
        check_velocity_options("drnet", self, needs_warmup=True)

    @property
    def net_channels(self) -> int:
        return self.model_channels or self.channels


def _protocol(spec: DataSpec) -> tuple[int, int]:
    if "prediction" not in spec.protocols:
        raise ProfileUnavailable(f"dataset {spec.dataset!r} has no prediction protocol")
    p = spec.train_protocol("prediction")
    return p.context_frames, p.future_frames


def paper(spec: DataSpec) -> DRNetConfig:
    # Other datasets: upstream's defaults (the same networks as for KTH and Moving MNIST).
    if tuple(spec.resolution) not in ((64, 64), (128, 128)):
        raise ProfileUnavailable(f"upstream has 64x64 and 128x128 networks, the data is "
                                 f"{spec.resolution[0]}x{spec.resolution[1]}")
    c, p = _protocol(spec)
    # Upstream reads KTH frames as RGB PNGs (gray replicated) with the default --channels 3.
    model_channels = 3 if spec.dataset == "kth" else None
    return DRNetConfig(channels=spec.channels, model_channels=model_channels, resolution=tuple(spec.resolution),
                       context_frames=c, future_frames=p, max_step=max(20, c + p) if spec.dataset == "mmnist" else 20)


def cpu(spec: DataSpec) -> DRNetConfig:
    c, p = _protocol(spec)
    h, w = spec.resolution
    return DRNetConfig(channels=spec.channels, resolution=(h, w),
                       model_resolution=(32, 32) if (h, w) == (64, 64) else None,
                       width=16, content_dim=64, pose_dim=8, sd_width=64, rnn_size=128,
                       context_frames=c, future_frames=p, max_step=c + p, lstm_lr=2e-3,
                       # Not upstream: the decoder's copy mask over the content frame and an L1 loss, so
                       # the flat backgrounds are copied rather than redrawn with a texture SSIM punishes;
                       # the mask starts saturated (mask_bias 3): from m = 0.5 at init, 250 steps left it at
                       # ~0.89 on the background, blending 11% of the drawn colours into the copy (frame 1
                       # 0.856 vs copy_last 0.883); ssim_best 0.7644 -> 0.7916 / 0.8018 (seeds 0 / 1; README).
                       copy_mask=True, mask_bias=3.0, recon_loss="l1",
                       # Not upstream: what the mask copies moves, the content frame carried to the decoded
                       # frame's time along a velocity field (its net trained alone first: velocity_warmup).
                       # Without it the objects stood where the last context frame had them (README).
                       copy_velocity=True, velocity_pool=16, velocity_divergence=1.0, velocity_warmup=300,
                       train=TrainConfig(steps=250, batch_size=32, checkpoint_every=125, log_every=25),
                       lstm_train=TrainConfig(steps=150, batch_size=16, checkpoint_every=75, log_every=25))


def smoke(spec: DataSpec) -> DRNetConfig:
    c, p = _protocol(spec)
    return DRNetConfig(channels=spec.channels, resolution=tuple(spec.resolution), width=4, content_dim=16,
                       pose_dim=4, sd_width=16, rnn_size=16, context_frames=c, future_frames=p, max_step=c + p,
                       train=TrainConfig(steps=10, batch_size=8, checkpoint_every=5, log_every=5),
                       lstm_train=TrainConfig(steps=10, batch_size=8, checkpoint_every=5, log_every=5))
