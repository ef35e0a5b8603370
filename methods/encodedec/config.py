"""Configuration of :mod:`methods.encodedec` (profiles ``paper``, ``cpu``, ``smoke``).

``paper`` follows the final training command of the official script (voletiv's torchdiffeq fork,
branch ``vikram/mmnist_rnn``, ``examples/latent_ode_moving_mnist.py`` at 456790e0): four residual
blocks of 8-16-32-32 channels, latent 64, hidden 128 (encoder RNN, ODE MLP and decoder MLP all use
``--nhidden``), Gaussian likelihood with sd 0.3 on [-1, 1] frames, KL to N(0, I), Adam 1e-4, batch
128, 10000 clips x 1001 epochs, frames at times ``linspace(0, 1, 20)``, dopri5 with torchdiffeq's
default tolerances. The earlier 128/256 variant is :func:`paper_v1` (``--set`` the fields to use
it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.methods import DataSpec, ProfileUnavailable
from benchmark.training.loop import TrainConfig

LOSS_FRAMES = ("context", "all")
RECON_LOSSES = ("gaussian", "laplace")


@dataclass(frozen=True)
class EncODEDecConfig:
    """Architecture, solver and optimisation of :class:`methods.encodedec.method.EncODEDec`."""

    channels: int = 1
    resolution: tuple[int, int] = (64, 64)       # the model's frame size
    io_resolution: tuple[int, int] | None = None  # the data's, when the model runs smaller (cpu
    #                                              profiles): inputs are downsampled, outputs upsampled
    context_frames: int = 10             # training protocol c (official --n_frames_input)
    future_frames: int = 10              # training protocol p (official --n_frames_output)
    res_channels: tuple[int, ...] = (8, 16, 32, 32)   # encoder blocks; the decoder mirrors them
    latent_dim: int = 64                 # official --latent_dim (final command)
    hidden_dim: int = 128                # official --nhidden: encoder RNN, ODE MLP, decoder MLP
    group_norm: bool = True              # GroupNorm(min(32, C)) in the residual blocks (official)
    he_init: bool = False                # He (kaiming-normal, ReLU gain) init of the conv/linear weights, zero
    #                                      biases (cpu deviation; upstream keeps PyTorch's default, whose gain
    #                                      of ~1/sqrt(3) per layer is harmless with GroupNorm but without it
    #                                      shrinks the encoder's features ~100x and the decoder's output)
    unit_input: bool = False             # encoder reads frames in [0, 1] instead of [-1, 1] (cpu deviation: without
    #                                      GroupNorm the first block's ReLU zeroes every pixel below mid-grey,
    #                                      i.e. all of moving-shapes' dark backgrounds)
    feature_norm: bool = False           # LayerNorm of each frame's flattened encoder features before the RNN
    #                                      cell (cpu deviation; not upstream: without GroupNorm their scale drifts
    #                                      from ~0.01 at init to ~5 and saturates the tanh RNN)
    skip_level: int = 0                  # official --skip_level: first frame's block-s features into the
    #                                      decoder block of the same size (0: none, the final command)
    warp: bool = False                   # not upstream (cpu deviation): the decoder writes a flow instead of
    #                                      pixels; the frame is the last context frame warped by it
    flow_pool: int = 1                   # with warp: the flow is averaged over flow_pool x flow_pool blocks and
    #                                      bilinearly upsampled (a smooth flow moves objects whole)
    max_flow: float = 1.0                # with warp: the largest displacement, in units of half the frame size
    flow_div_weight: float = 0.0         # with warp: weight of |divergence| of the decoder's flow (pixels per pixel, summed
    #                                      per clip like the nll) added to the loss (an area-change penalty)
    velocity_net: bool = False           # with warp: a small conv net reads the last two context frames and writes a
    #                                      velocity field; the flow at each frame adds it times the frames after the
    #                                      last context frame (a constant-velocity prior estimated from the context)
    max_velocity: float = 0.2            # with velocity_net: its largest speed (grid_sample units per frame)
    noise_std: float = 0.3               # likelihood sd on [-1, 1] frames (official noise_std)
    recon_loss: str = "gaussian"         # likelihood of the frames: "gaussian" (official, sd noise_std) or
    #                                      "laplace" (cpu deviation: an L1 loss, scale noise_std)
    kl_weight: float = 1.0
    # Time of one frame in ODE units: the official loader puts the c + p training frames at
    # linspace(0, 1, c + p), i.e. 1 / (c + p - 1); frame time t (first context frame at 0) -> t * frame_dt.
    frame_dt: float = 1.0 / 19
    loss_frames: str = "context"         # "context": reconstruct the c context frames (official);
    #                                      "all": the c + p frames of the training clip
    solver: str = "dopri5"               # torchdiffeq method
    rtol: float = 1e-7                   # torchdiffeq's odeint defaults, used by the official script
    atol: float = 1e-9
    adjoint: bool = False                # official --adjoint False
    step_size: float | None = None       # fixed-grid solvers only
    lr: float = 1e-4
    # official: 10000 clips / batch 128 = 78 batches per epoch, 1001 epochs
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=78_078, batch_size=128, checkpoint_every=5_000, log_every=100))


def _is_moving_mnist(spec: DataSpec) -> bool:
    return spec.dataset == "mmnist" and spec.train_protocol("prediction").context_frames == 10


def _shape(spec: DataSpec) -> dict:
    p = spec.train_protocol("prediction")
    return {"channels": spec.channels, "resolution": tuple(spec.resolution), "context_frames": p.context_frames,
            "future_frames": p.future_frames, "frame_dt": 1.0 / max(1, p.num_frames - 1)}


def paper(spec: DataSpec) -> EncODEDecConfig:
    if not _is_moving_mnist(spec):
        raise ProfileUnavailable(f"encodedec: the paper evaluates Moving MNIST 10 -> 10 only (dataset mmnist, "
                                 f"deterministic motion), not {spec.dataset!r}; use --profile cpu or smoke")
    return EncODEDecConfig(**_shape(spec))


def paper_v1(spec: DataSpec) -> EncODEDecConfig:
    """The script's earlier sizes (latent 128, hidden 256, blocks 16-32-64-64; the class defaults)."""
    return EncODEDecConfig(**{**_shape(spec), "latent_dim": 128, "hidden_dim": 256, "res_channels": (16, 32, 64, 64)})


def _blocks_to_4x4(spec: DataSpec, widths: tuple[int, ...]) -> tuple[int, ...]:
    """Downsampling blocks until the smaller side is 4 (64 -> 4 blocks, 32 -> 3)."""
    n, side = 0, min(spec.resolution)
    while side > 4 and side % 2 == 0:
        side, n = side // 2, n + 1
    if n == 0:
        raise ProfileUnavailable(f"encodedec: resolution {spec.resolution} is too small for its conv encoder")
    return tuple(widths[min(i, len(widths) - 1)] for i in range(n))


def _half_size(spec: DataSpec) -> dict:
    """CPU profiles run the model at half the data's size when that is still >= 32 (64x64 -> 32x32)."""
    h, w = spec.resolution
    if min(h, w) >= 64 and h % 2 == 0 and w % 2 == 0:
        return {"resolution": (h // 2, w // 2), "io_resolution": (h, w)}
    return {}


def cpu(spec: DataSpec) -> EncODEDecConfig:
    # Learns on moving-shapes in ~33 one-thread CPU-s of training: the model at 32x32 (frames resized in
    # and out), narrow blocks without GroupNorm (at 8-32 channels it normalises each channel of each
    # frame and erases the flat background colour), a likelihood scale of 0.05, a fixed-step RK4 solver
    # (one step per frame; adaptive dopri5 takes many more steps on an untrained ODE), and a loss on all
    # c + p frames (the official objective reconstructs the context only and extrapolates; that needs
    # far more steps to pay off). A Laplace likelihood (an L1 loss, scale 0.05) instead of the Gaussian:
    # it fits flat backgrounds to their exact colour, which SSIM's contrast term rewards. Without
    # GroupNorm the encoder was blind (README "Deviations"): the first block's ReLU zeroed every pixel
    # below mid-grey on the [-1, 1] scale (all the dark backgrounds), PyTorch's default init shrank its
    # features ~100x, and Adam then grew them until the tanh RNN saturated, so q(z_0) and every
    # prediction were the same for every context (one mean frame). unit_input + he_init + feature_norm
    # fix that (best-of-5 SSIM 0.8036 / 0.7896 on seeds 0 / 1 vs 0.7744 before), but the 32-d latent did
    # not learn object positions within the budget: the drawn frames were the background without the
    # objects (fvd_shapes 291 / 295, static 0.19-0.23). warp + flow_pool=16 (not upstream): the decoder
    # writes a flow, pooled to 2x2 blocks, that warps the last context frame, so the objects stay whole
    # and visible: ssim_best 0.8150 / 0.8184, fvd_shapes 87.7 / 100.4, static 0.678 / 0.642 on seeds 0 / 1
    # (copy_last 0.7617, 184.6, 0.845). It learned mostly to shrink the objects towards their last place
    # (the L1 median under position uncertainty), little of their motion (motion 0.180 / 0.155 < copy's 0.207).
    # velocity_net + flow_div_weight=0.03 (not upstream): a small conv net reads the last two context frames
    # and writes a velocity field (pooled like the flow) that adds (t - last context time) x velocity to each
    # frame's flow (a constant-velocity prior; the context frames, at negative horizons, train it without
    # uncertainty), and |divergence| of the decoder's flow is penalised: ssim_best 0.8315 / 0.8298, fvd_shapes
    # 36.6 / 28.0, static 0.759 / 0.744, motion 0.363 / 0.414 on seeds 0 / 1; the objects move along their
    # paths and keep more of their size, but still shrink and shear with the horizon (README "Deviations").
    size = _half_size(spec)
    small = DataSpec(spec.dataset, spec.channels, size.get("resolution", spec.resolution), spec.protocols)
    return EncODEDecConfig(**{**_shape(spec), **size, "res_channels": _blocks_to_4x4(small, (8, 16, 32, 32)),
                              "latent_dim": 32, "hidden_dim": 96, "group_norm": False, "noise_std": 0.05,
                              "recon_loss": "laplace", "loss_frames": "all",
                              "solver": "rk4", "lr": 3e-3, "he_init": True, "unit_input": True,
                              "feature_norm": True, "warp": True, "flow_pool": 16, "velocity_net": True,
                              "flow_div_weight": 0.03,
                              "train": TrainConfig(steps=420, batch_size=8, checkpoint_every=140, log_every=20)})


def smoke(spec: DataSpec) -> EncODEDecConfig:
    size = _half_size(spec)
    small = DataSpec(spec.dataset, spec.channels, size.get("resolution", spec.resolution), spec.protocols)
    return EncODEDecConfig(**{**_shape(spec), **size, "res_channels": _blocks_to_4x4(small, (4, 8, 8, 8)),
                              "latent_dim": 8, "hidden_dim": 16, "loss_frames": "all", "solver": "rk4",
                              "lr": 1e-3,
                              "train": TrainConfig(steps=20, batch_size=4, checkpoint_every=10, log_every=5)})
