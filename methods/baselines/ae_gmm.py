"""``vgan_ae_gmm``: the autoencoder + GMM synthesis baseline of VGAN (Vondrick, Pirsiavash &
Torralba 2016, "Generating Videos with Scene Dynamics", §3.2; upstream architecture in
``cvondrick/videogan`` main.lua, Torch7 — the baseline itself has no public code).

"We train an autoencoder over our data. The encoder is similar to the discriminator network
(except producing 100 dimensional code), while the decoder follows the two-stream generator
network. [...] We then feed examples through the encoder and fit a Gaussian Mixture Model (GMM)
with 256 components over the 100 dimensional hidden space. To generate a novel video, we sample
from this GMM, and feed the sample through the decoder."

* Encoder: VGAN's 5-layer discriminator, 4x4x4 stride-2 3D convs 64-128-256-512 (BatchNorm
  eps 1e-3 except the first layer, LeakyReLU 0.2) and a last valid conv to a linear 100-d code.
* Decoder: the two-stream generator, ``m * f + (1 - m) * b`` with a 3D foreground trunk
  512-256-128-64 (first kernel ``T/16 x 4 x 4``: 2x4x4 for 32 frames, 1x4x4 for 16), tanh
  foreground and sigmoid mask heads on the shared trunk, a 2D DCGAN background replicated in time.
* Loss: mean squared error (L2) between the input clip and its reconstruction in [-1, 1], plus
  VGAN's mask sparsity prior ``lambda * mean|m|`` with lambda = 0.1 (our choice: it keeps the
  two-stream decoder from collapsing to its foreground stream; set ``mask_l1=0`` to drop it).
* Optimiser and init as VGAN: Adam 2e-4, beta1 0.5, batch 64; conv weights ~ N(0, 0.01).
* GMM: ``sklearn.mixture.GaussianMixture`` on the codes of the first ``frames`` frames of every
  training video (encoder in eval mode); 256 components (never more than the number of clips),
  full covariances (the paper does not say which; sklearn's default). Sampling is our own seeded
  torch code, so a state-dict round trip gives identical samples without sklearn.

Two training stages (``Method.stages``): ``autoencoder`` (the shared loop, ``train/autoencoder/``),
then ``gmm`` (the codes of the training clips through the trained encoder, ``train/gmm/``). Changing
only the GMM settings refits the GMM and keeps the autoencoder.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import distributed as dist_utils
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainConfig, TrainParts
from methods.common import Conv3dEncoder, TwoStreamGenerator, init_normal_, to_ncthw, to_ntchw
from methods.common.resize import check_model_frames, model_size, resize_frames

log = logging.getLogger(__name__)

COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")


@dataclass(frozen=True)
class AEGMMConfig:
    """Architecture, optimisation and GMM of :class:`AutoencoderGMM` (``paper``: VGAN's settings)."""

    channels: int = 3
    resolution: tuple[int, int] = (64, 64)   # the networks' frame size
    io_resolution: tuple[int, int] | None = None  # the data's, when the networks run smaller (cpu profile)
    frames: int = 32               # clip length the encoder reads and the decoder writes
    code_dim: int = 100            # VGAN z / the AE code
    decoder_width: int = 64        # generator 512-256-128-64 (x8 at the coarsest level)
    encoder_width: int = 64        # discriminator 64-128-256-512
    init_std: float = 0.01         # VGAN: N(0, 0.01)
    mask_l1: float = 0.1           # VGAN's mask sparsity weight lambda
    lr: float = 2e-4               # VGAN: Adam 2e-4, beta1 0.5
    beta1: float = 0.5
    gmm_components: int = 256      # Vondrick et al. 2016 §3.2
    gmm_covariance: str = "full"
    gmm_reg_covar: float = 1e-6    # sklearn default
    gmm_max_iter: int = 100
    # Steps are our choice (the paper gives none for the AE); VGAN trained "several days on a GPU".
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=100_000, batch_size=64, checkpoint_every=5_000, log_every=100))


def _paper(spec: DataSpec) -> AEGMMConfig:
    return AEGMMConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                       frames=spec.train_protocol("synthesis").num_frames)



def _cpu(spec: DataSpec) -> AEGMMConfig:
    # The main job's profile (~35 s on 2 cores): VGAN's encoder/decoder pair and L2 loss on a quarter of
    # the frame size (64x64 -> 16x16: both lose two stride-2 levels), narrower, batch 16, 600 steps; a
    # 32-component GMM (the paper's 256 would put about two of the 512 training clips in each component).
    # Adam at 1e-3 (VGAN's 2e-4 is a GAN's rate) and no mask sparsity prior: at 2e-4 with the prior the
    # autoencoder decoded grey, faint blobs within the budget (fvd_shapes 856 -> 346, seed 0; README).
    return AEGMMConfig(channels=spec.channels, **model_size(spec.resolution, 4),
                       frames=spec.train_protocol("synthesis").num_frames,
                       decoder_width=32, encoder_width=16, gmm_components=32, lr=1e-3, mask_l1=0.0,
                       train=TrainConfig(steps=600, batch_size=16, checkpoint_every=200, log_every=50))


def _smoke(spec: DataSpec) -> AEGMMConfig:
    # Same code paths, tiny widths and a small GMM: ~0.1 s/step on a 2-core CPU at 64x64x16
    # (CPU transposed 3D convs slow down sharply beyond batch 8 at this size).
    return AEGMMConfig(channels=spec.channels, resolution=tuple(spec.resolution),
                       frames=spec.train_protocol("synthesis").num_frames,
                       decoder_width=8, encoder_width=8, gmm_components=8, lr=1e-3,
                       train=TrainConfig(steps=250, batch_size=8, checkpoint_every=50, log_every=10))


class VideoAutoencoder(nn.Module):
    """VGAN-discriminator encoder + two-stream-generator decoder, on videos in [-1, 1] ``(N, C, T, H, W)``."""

    def __init__(self, cfg: AEGMMConfig) -> None:
        super().__init__()
        res = tuple(cfg.resolution)
        self.encoder = Conv3dEncoder(cfg.channels, cfg.code_dim, cfg.frames, res, cfg.encoder_width)
        self.decoder = TwoStreamGenerator(cfg.code_dim, cfg.channels, cfg.frames, res, cfg.decoder_width)


# -------------------------------------------------------------------------------------- GMM ---

def fit_gmm(codes: np.ndarray, components: int, covariance_type: str, reg_covar: float, max_iter: int,
            seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit ``sklearn.mixture.GaussianMixture`` to ``codes (N, D)``; returns ``(state, info)``.

    ``state`` holds float64 tensors ``weights (K,)``, ``means (K, D)``, ``covariances`` (shape by
    type, as sklearn) and the ``covariance_type`` string.
    """
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
    except ImportError as e:  # pragma: no cover - sklearn is a declared dependency
        raise ImportError("vgan_ae_gmm needs scikit-learn for its GMM: pip install scikit-learn") from e
    k = min(components, len(codes))
    gmm = GaussianMixture(n_components=k, covariance_type=covariance_type, reg_covar=reg_covar,
                          max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        gmm.fit(codes.astype(np.float64))
    state = {"weights": torch.from_numpy(gmm.weights_.copy()), "means": torch.from_numpy(gmm.means_.copy()),
             "covariances": torch.from_numpy(np.asarray(gmm.covariances_).copy()),
             "covariance_type": covariance_type}
    info = {"components": k, "covariance_type": covariance_type, "clips": len(codes),
            "converged": bool(gmm.converged_), "n_iter": int(gmm.n_iter_),
            "lower_bound": float(gmm.lower_bound_), "warnings": [str(w.message) for w in caught][:3]}
    return state, info


def sample_gmm(state: dict[str, Any], n: int, generator: torch.Generator) -> Tensor:
    """``n`` float64 samples ``(n, D)`` of the GMM ``state`` using only ``generator`` (CPU)."""
    w, mu, cov = state["weights"].double(), state["means"].double(), state["covariances"].double()
    kind = state["covariance_type"]
    comp = torch.multinomial(w, n, replacement=True, generator=generator)
    eps = torch.randn(n, mu.shape[1], generator=generator, dtype=torch.float64)
    if kind == "full":
        scale = torch.linalg.cholesky(cov)[comp]                    # (n, D, D)
        return mu[comp] + (scale @ eps[:, :, None])[:, :, 0]
    if kind == "tied":
        return mu[comp] + eps @ torch.linalg.cholesky(cov).T
    if kind == "diag":
        return mu[comp] + cov[comp].sqrt() * eps
    if kind == "spherical":
        return mu[comp] + cov[comp].sqrt()[:, None] * eps
    raise ValueError(f"unknown GMM covariance type {kind!r}; expected one of {COVARIANCE_TYPES}")


# ----------------------------------------------------------------------------------- method ---

@METHODS.register("vgan_ae_gmm")
class AutoencoderGMM(Method):
    """VGAN's synthesis baseline: a video autoencoder whose code distribution is a 256-component GMM."""

    tasks = ("synthesis",)
    stochastic = True
    trainable = True
    samples_untrained = False  # sampling needs the fitted GMM
    paper = "Vondrick, Pirsiavash & Torralba 2016 (VGAN), §3.2 baseline: autoencoder + 256-component GMM"
    profiles = {"paper": _paper, "cpu": _cpu, "smoke": _smoke}

    def __init__(self, config: AEGMMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.gmm_covariance not in COVARIANCE_TYPES:
            raise ValueError(f"vgan_ae_gmm: gmm_covariance must be one of {COVARIANCE_TYPES}, "
                             f"got {config.gmm_covariance!r}")
        self.model = self._build(seed=0)
        self.gmm: dict[str, Any] | None = None

    def _build(self, seed: int) -> VideoAutoencoder:
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's RNG is left alone
            torch.manual_seed(seed)
            model = init_normal_(VideoAutoencoder(self.config), std=self.config.init_std)
        return model.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.model.encoder, "decoder": self.model.decoder}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.gmm is not None:
            state["gmm"] = dict(self.gmm)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        gmm = state.get("gmm")
        if gmm is not None:
            if gmm["means"].shape[-1] != self.config.code_dim:
                raise ValueError(f"vgan_ae_gmm: GMM of {gmm['means'].shape[-1]}-d codes, model has "
                                 f"{self.config.code_dim}-d codes")
            gmm = {k: (v.cpu() if isinstance(v, Tensor) else v) for k, v in gmm.items()}
        self.gmm = gmm

    # ------------------------------------------------------------------------------ training ---
    def _check_data(self, videos: np.ndarray, frames: int) -> None:
        cfg = self.config
        check_model_frames("vgan_ae_gmm", tuple(videos.shape), cfg, "videos")
        if frames != cfg.frames:
            raise ValueError(f"vgan_ae_gmm: the synthesis protocol has {frames}-frame clips, the model was "
                             f"built for {cfg.frames}; build it from a profile of this dataset")
        if videos.shape[1] < frames:
            raise ValueError(f"vgan_ae_gmm: videos have {videos.shape[1]} frames, clips need {frames}")

    def stages(self) -> tuple[str, ...]:
        return ("autoencoder", "gmm")

    def stage_config(self, stage: str) -> dict[str, Any]:
        """The autoencoder does not depend on the GMM settings (so changing them refits only the GMM)."""
        config = self.config_dict()
        if stage == "autoencoder":
            return {k: v for k, v in config.items() if not k.startswith("gmm_")}
        return config

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "autoencoder") -> dict[str, Any]:
        """Stage ``autoencoder``: train the AE from scratch; stage ``gmm``: fit the GMM to the codes of
        the training clips through the current (trained or restored) encoder."""
        self.check_stage(stage)
        cfg = self.config
        proto = data.protocols.get("synthesis")
        frames = proto.num_frames if proto else cfg.frames
        self._check_data(data.videos, frames)
        if stage == "gmm":
            return self._fit_gmm(data.videos[:, :frames], seed)
        self.model, self.gmm = self._build(seed), None
        encoder, decoder = self.model.encoder, self.model.decoder
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

        def reconstruction(batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
            x = to_ncthw(resize_frames(batch.videos, tuple(cfg.resolution))) * 2 - 1   # VGAN works in [-1, 1]
            video, (_, mask, _) = decoder(encoder(x), return_streams=True)
            l2 = F.mse_loss(video, x)
            sparsity = mask.abs().mean()
            return l2 + cfg.mask_l1 * sparsity, {"l2": l2.detach(), "mask": sparsity.detach()}

        parts = TrainParts(method=self.name, modules=self.modules(),
                           phases=[Phase("reconstruction", optimizer, reconstruction)],
                           config=self.stage_config("autoencoder"))
        return loop.train(parts, data, cfg.train, run_dir, seed=seed, clip_frames=frames,
                          resume=resume, progress=progress)

    def _fit_gmm(self, videos: np.ndarray, seed: int) -> dict[str, Any]:
        """GMM on the codes of the training clips: fitted on rank 0, shared with the other ranks."""
        cfg = self.config
        gmm_and_info = None
        if dist_utils.is_main_process():
            codes = self.encode(videos)
            gmm_and_info = fit_gmm(codes.numpy(), cfg.gmm_components, cfg.gmm_covariance, cfg.gmm_reg_covar,
                                   cfg.gmm_max_iter, seed)
        self.gmm, info = dist_utils.broadcast_object(gmm_and_info)
        if not info["converged"]:
            log.warning("vgan_ae_gmm: GMM did not converge in %d iterations", info["n_iter"])
        return {"gmm": info}

    @torch.no_grad()
    def encode(self, videos: np.ndarray | Tensor, batch_size: int = 64) -> Tensor:
        """100-d codes ``(N, code_dim)`` (float64, CPU) of uint8 or [0, 1] float videos ``(N, T, C, H, W)``."""
        self.model.eval()
        out = []
        for i in range(0, len(videos), batch_size):
            chunk = videos[i:i + batch_size]
            x = torch.from_numpy(np.ascontiguousarray(chunk)) if isinstance(chunk, np.ndarray) else chunk
            x = x.to(self.device)
            x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
            x = resize_frames(x, tuple(self.config.resolution))
            out.append(self.model.encoder(to_ncthw(x) * 2 - 1).double().cpu())
        return torch.cat(out)

    # ----------------------------------------------------------------------------- inference ---
    @torch.no_grad()
    def decode(self, codes: Tensor, batch_size: int = 32) -> Tensor:
        """Videos ``(N, T, C, H, W)`` in [0, 1] (CPU) from codes ``(N, code_dim)``."""
        self.model.eval()
        out, io = [], tuple(self.config.io_resolution or self.config.resolution)
        for chunk in codes.split(batch_size):
            video = self.model.decoder(chunk.to(self.device, torch.float32))
            out.append(resize_frames(to_ntchw(video), io).add(1).div(2).clamp(0, 1).cpu())
        return torch.cat(out)

    def generate(self, cond: Conditioning, *, seed: int) -> Tensor:
        """Sample codes from the GMM (seeded, own generator) and decode them.

        The decoder writes ``config.frames`` frames; ``cond.num_frames`` may be fewer (a prefix is
        returned), not more.
        """
        if self.gmm is None:
            raise RuntimeError("vgan_ae_gmm has no fitted GMM: fit its 'gmm' stage or load a state_dict first")
        if cond.num_frames > self.config.frames:
            raise ValueError(f"vgan_ae_gmm decodes {self.config.frames}-frame clips; asked for {cond.num_frames}")
        codes = sample_gmm(self.gmm, cond.batch_size, self.rng(seed))
        return self.decode(codes)[:, :cond.num_frames].contiguous()
