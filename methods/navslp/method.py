"""``navslp``: the registered method — two-stage non-adversarial training under the shared loop,
sampling from the learned latent dictionaries.

Per training step (a batch of clips; ``Batch.index`` addresses each clip's latents):

* the RNN runs over *all* frames of a video's transient latents from ``h_0 = 0`` and the clip's
  window ``[start, start + T)`` of its outputs is used, so a frame's code does not depend on where
  the loop's random temporal crop starts;
* stage 1 (eq. 3.1): ``min_γ l_rec + λ_s l_static`` — Adam on the generator, latents and RNN fixed;
* stage 2 (eq. 3.2 with eq. 6): ``min_{Z, θ} l_rec + λ_s l_static + λ_t l_triplet`` — SGD with
  momentum on the latents and Adam on the RNN (one :class:`methods.common.OptimizerGroup`), then
  the projection onto the unit ball (and onto rank ρ when ``rank > 0``).

Losses are summed over the videos of the batch (each a per-video mean) so a video's latents get the
gradient the official code gives them with its one-video batches, whatever the batch size.

Generation (``sampling``): ``combine`` (default; the paper's test time, §1 and §4.4.1): a random
static latent of the dictionary with the transient latents of a random training video — mostly
static x transient combinations never seen together; ``paired``: both of the same training video
(reconstructions); ``random``: fresh N(0, I) latents projected onto the unit ball (Table 4a "−Z").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmark.methods import Conditioning, DataSpec, Method, TrainData
from benchmark.registry import METHODS
from benchmark.training import loop
from benchmark.training.loop import Batch, Phase, TrainParts
from methods.common import OptimizerGroup
from methods.common.resize import check_model_frames, resize_frames
from methods.navslp import config as C
from methods.navslp.model import (LatentDictionary, RowSGD, TransientRNN, gaussian_kernel, laplacian_l1,
                                  make_generator, max_pyramid_levels, project_unit_ball_, triplet_loss)


def _rows_of_all_ranks(rows: Tensor) -> Tensor:
    """The latent rows of every rank's batch (``rows`` itself in one process): the latents' gradients
    are averaged over ranks, so each rank must step the union of the rows to stay identical."""
    from benchmark.training import distributed as D

    if not D.is_distributed():
        return rows
    return torch.cat([torch.as_tensor(r) for r in D.all_gather_objects(rows.cpu())]).to(rows.device)


def _dense_ids(ids: np.ndarray | Tensor | None, n: int, what: str) -> Tensor:
    """``(n,)`` int64 group ids renumbered 0..K-1 (identity if None)."""
    if ids is None:
        return torch.arange(n)
    arr = np.asarray(ids)
    if arr.shape != (n,):
        raise ValueError(f"navslp: {what} must give one id per training video ({n}), got shape {arr.shape}")
    _, dense = np.unique(arr, return_inverse=True)
    return torch.from_numpy(dense.astype(np.int64))


def pick_videos(sources: np.ndarray | None, n_items: int, max_videos: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Which training items NAVSLP learns latents for: ``(item indices, their source clip ids or None)``.

    One item (the first window) per distinct source clip; with ``max_videos`` > 0 and more clips than
    that, ``max_videos`` clips drawn without replacement by ``np.random.RandomState(seed)`` (the paper
    "randomly chose 500 videos"), in ascending order. Without ``sources`` every item is a clip.

    >>> pick_videos(np.array([0, 0, 0, 1, 1, 2]), 6, 0, seed=0)
    (array([0, 3, 5]), array([0, 1, 2]))
    >>> pick_videos(None, 4, 0, seed=0)
    (array([0, 1, 2, 3]), None)
    """
    if sources is None:
        clips, first = np.arange(n_items), np.arange(n_items)
    else:
        clips, first = np.unique(np.asarray(sources), return_index=True)   # first window of each clip
    if max_videos and len(clips) > max_videos:
        chosen = np.sort(np.random.RandomState(seed).choice(len(clips), max_videos, replace=False))
        clips, first = clips[chosen], first[chosen]
    return first.astype(np.int64), (None if sources is None else clips.astype(np.int64))


@METHODS.register("navslp")
class NAVSLP(Method):
    """Non-adversarial video synthesis from learned static/transient latent priors."""

    tasks = ("synthesis",)
    stochastic = True
    trainable = True
    samples_untrained = False  # sampling needs the learned latents
    paper = ("Aich, Gupta, Panda, Hyder, Asif & Roy-Chowdhury 2020, Non-Adversarial Video Synthesis with "
             "Learned Priors (CVPR 2020)")
    profiles = {"paper": C.paper, "cpu": C.cpu, "smoke": C.smoke}

    def __init__(self, config: C.NAVSLPConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        if config.static_groups not in C.STATIC_GROUPS:
            raise ValueError(f"navslp: static_groups must be one of {C.STATIC_GROUPS}, got {config.static_groups!r}")
        if config.sampling not in C.SAMPLING:
            raise ValueError(f"navslp: sampling must be one of {C.SAMPLING}, got {config.sampling!r}")
        if config.static_label and config.static_groups == "shared":
            raise ValueError(f"navslp: static_groups='shared' (one static latent) contradicts "
                             f"static_label={config.static_label!r} (one per class); pick one")
        if not 1 <= config.pyramid_levels <= max_pyramid_levels(tuple(config.resolution)):
            raise ValueError(f"navslp: pyramid_levels {config.pyramid_levels} does not fit "
                             f"{config.resolution[0]}x{config.resolution[1]} frames")
        self.generator, self.rnn = self._build(seed=0)
        self.latents = LatentDictionary.empty(config.dim_static, config.dim_transient)

    def _build(self, seed: int) -> tuple[nn.Module, TransientRNN]:
        cfg = self.config
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's RNG is left alone
            torch.manual_seed(seed)
            # PyTorch's default init for G (models.py has none); GRU weights Xavier-uniform and
            # update-gate biases 1 as upstream GRU.initWeight.
            g = make_generator(cfg.dim_static, cfg.dim_transient, cfg.channels, tuple(cfg.resolution), cfg.gen_width)
            rnn = TransientRNN(cfg.dim_transient, cfg.rnn_hidden, cfg.rnn_batchnorm)
            _init_gru_(rnn)
        return g.to(self.device), rnn.to(self.device)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "rnn": self.rnn, "latents": self.latents}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        lat = state["latents"]
        self.latents = LatentDictionary(self.config.dim_static, self.config.dim_transient,
                                        lat["static_index"].cpu(), lat["transient_index"].cpu(),
                                        lat["transient"].shape[1]).to(self.device)
        super().load_state_dict(state)

    # ------------------------------------------------------------------------------ codes ---
    def codes(self, static_rows: Tensor, transient_rows: Tensor, start: Tensor | None = None,
              frames: int | None = None) -> tuple[Tensor, Tensor]:
        """Per-frame generator inputs ``(B, T, D_s + D_t)`` and the RNN outputs ``(B, T, D_t)`` for
        dictionary rows; frames ``[start, start + frames)`` of each transient sequence."""
        lat = self.latents
        z_s = lat.static[static_rows]                                 # (B, D_s)
        r = self.rnn(lat.transient[transient_rows])                   # (B, T_v, D_t), GRU from frame 0
        frames = frames or r.shape[1]
        if start is not None:
            t_idx = start.to(r.device)[:, None] + torch.arange(frames, device=r.device)
            r = r[torch.arange(r.shape[0], device=r.device)[:, None], t_idx]
        else:
            r = r[:, :frames]
        return torch.cat([z_s[:, None].expand(-1, r.shape[1], -1), r], dim=2), r

    def render(self, codes: Tensor) -> Tensor:
        """Codes ``(B, T, D)`` -> frames ``(B, T, C, H, W)`` in [-1, 1] (at the networks' size)."""
        b, t = codes.shape[:2]
        x = self.generator(codes.reshape(b * t, -1))
        return x.reshape(b, t, *x.shape[1:])

    def _output(self, frames: Tensor) -> Tensor:
        """Rendered frames in [-1, 1] -> the data's frame size in [0, 1], on the CPU."""
        io = tuple(self.config.io_resolution or self.config.resolution)
        return resize_frames(frames, io).add(1).div(2).clamp(0, 1).float().cpu()

    # ------------------------------------------------------------------------------ training ---
    def label_inputs(self) -> tuple[str, ...]:
        return tuple(n for n in (self.config.static_label, self.config.transient_label) if n)

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        """Learn G, R and the latent dictionaries on ``data``.

        With ``static_label`` / ``transient_label`` set, videos of one class of that label share a
        latent: e.g. Weizmann's 9 identities (static) and 10 actions (transient) as in §4.1. By
        default every video has its own (``static_groups="shared"``: one static latent for all).
        """
        cfg = self.config
        static_ids = data.label(cfg.static_label, self.name) if cfg.static_label else None
        transient_ids = data.label(cfg.transient_label, self.name) if cfg.transient_label else None
        proto = data.protocols.get("synthesis")
        frames = proto.num_frames if proto else cfg.frames
        # The training videos: distinct source clips picked at random (seeded), one window each (its
        # first); N (the step budget μ_γ·μ_zθ·N) and max_videos count these, not step-1 windows.
        keep, picked_sources = pick_videos(data.sources, len(data.videos), cfg.max_videos, seed)
        if len(keep) != len(data.videos) or (keep != np.arange(len(keep))).any():
            data = dataclasses.replace(data, videos=data.videos[keep], sources=None)
            static_ids = None if static_ids is None else np.asarray(static_ids)[keep]
            transient_ids = None if transient_ids is None else np.asarray(transient_ids)[keep]
        n, t_video = data.videos.shape[:2]
        check_model_frames("navslp", tuple(data.videos.shape), cfg, "videos")
        if cfg.static_groups == "shared" and static_ids is None:
            static_ids = np.zeros(n, np.int64)
        s_idx, t_idx = _dense_ids(static_ids, n, "static_ids"), _dense_ids(transient_ids, n, "transient_ids")

        self.generator, self.rnn = self._build(seed)
        gen = torch.Generator().manual_seed(int(seed) + 1)
        # Two Gaussians (§3.3): static and transient latents drawn separately, then projected.
        self.latents = LatentDictionary(cfg.dim_static, cfg.dim_transient, s_idx, t_idx, t_video, gen).to(self.device)
        lat, g, rnn = self.latents, self.generator, self.rnn
        lat.project_(cfg.rank)   # a feasible start (rank ρ too): later only the updated rows are projected

        train_cfg = cfg.train
        if train_cfg.steps <= 0:  # μ_γ · μ_zθ iterations per video, batch = train.batch_size videos
            steps = max(1, cfg.epochs_generator * cfg.iterations_per_video * n // train_cfg.batch_size)
            train_cfg = dataclasses.replace(train_cfg, steps=steps)

        adam = dict(betas=tuple(cfg.adam_betas), eps=cfg.adam_eps)
        opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_generator, **adam)
        opt_rnn = torch.optim.Adam(rnn.parameters(), lr=cfg.lr_rnn, **adam)
        # per-row momentum: only the latents of the batch's videos move (and their buffers advance)
        opt_z = RowSGD([lat.static, lat.transient], lr=cfg.lr_latent, momentum=cfg.latent_momentum)
        if not cfg.optimize_latents:  # Fig. 4-left ablation: no gradient, so SGD never moves them
            lat.requires_grad_(False)
        kernel = gaussian_kernel().to(self.device)
        batch_rows: dict[str, Tensor] = {}

        def make_batch(batch: Batch) -> dict[str, Tensor]:
            x = resize_frames(batch.videos, tuple(cfg.resolution)) * 2 - 1   # [-1, 1] as upstream
            k = torch.randint(x.shape[1], (x.shape[0],), generator=batch.generator,
                              device=batch.generator.device).to(x.device)  # l_static's random frame
            return {"x": x, "index": batch.index, "start": batch.start, "k": k}

        def losses(b: dict[str, Tensor], latent_grads: bool, generator_grads: bool = True
                   ) -> tuple[Tensor, dict[str, Tensor]]:
            x, idx = b["x"], b["index"]
            bsz, t = x.shape[:2]
            # stage 2 never steps γ: no weight gradients for G then (its input gradients still flow)
            g.requires_grad_(generator_grads)
            s_rows, t_rows = lat.static_index[idx], lat.transient_index[idx]
            if latent_grads:  # the rows of the global batch: under DDP every rank steps the same rows
                moved = [_rows_of_all_ranks(s_rows), _rows_of_all_ranks(t_rows)]
                batch_rows.update(static=moved[0], transient=moved[1])
                opt_z.set_rows(moved)
            with torch.set_grad_enabled(latent_grads):
                codes, r = self.codes(s_rows, t_rows, b["start"], t)
            if not latent_grads:
                codes = codes.detach()
            x_hat = self.render(codes)
            per_frame = laplacian_l1(x_hat.flatten(0, 1), x.flatten(0, 1), cfg.pyramid_levels, kernel).view(bsz, t)
            rec = per_frame.mean(1)
            total = rec.sum()
            extras = {"rec": rec.mean().detach()}
            if cfg.use_static_loss and cfg.lambda_static:
                # l_static = L_Lap(v_k, G(z_k)) of one random frame k per video: that frame's term of l_rec
                static = per_frame[torch.arange(bsz, device=x.device), b["k"]]
                total = total + cfg.lambda_static * static.sum()
                extras["static"] = static.mean().detach()
            if latent_grads and cfg.use_triplet_loss and cfg.lambda_triplet:
                trip = triplet_loss(r, cfg.triplet_margin, cfg.triplet_pos_radius, cfg.triplet_neg_radius)
                total = total + cfg.lambda_triplet * trip.sum()
                extras["triplet"] = trip.mean().detach()
            return total, extras

        def project() -> None:  # the rows just updated (the others are untouched and stay so)
            lat.project_(cfg.rank, batch_rows["static"], batch_rows["transient"])

        if cfg.two_stage:
            phases = [Phase("generator", opt_g, lambda b: losses(b, latent_grads=False)),
                      Phase("latents", OptimizerGroup(opt_z, opt_rnn),
                            lambda b: losses(b, latent_grads=True, generator_grads=False), after_step=project)]
        else:  # the official code's single joint update of G, R and Z from one loss
            phases = [Phase("joint", OptimizerGroup(opt_z, opt_rnn, opt_g), lambda b: losses(b, latent_grads=True),
                            after_step=project)]
        parts = TrainParts(method=self.name, modules=self.modules(), phases=phases, make_batch=make_batch,
                           config=self.config_dict())
        try:
            summary = loop.train(parts, data, train_cfg, run_dir, seed=seed, clip_frames=frames, resume=resume,
                                 progress=progress)
        finally:
            g.requires_grad_(True)
        summary["videos"] = {"count": int(n), "windows": [int(i) for i in keep],
                             "source_clips": None if picked_sources is None else [int(i) for i in picked_sources],
                             "pick_seed": int(seed)}
        summary["latents"] = {"static": int(lat.static.shape[0]), "transient": int(lat.transient.shape[0]),
                              "frames": int(lat.frames)}
        return summary

    # ----------------------------------------------------------------------------- inference ---
    def _check_trained(self, num_frames: int) -> None:
        if self.latents.num_videos == 0:
            raise RuntimeError("navslp has no learned latents: call fit() or load a state_dict first")
        if num_frames > self.latents.frames:
            raise ValueError(f"navslp has transient latents for {self.latents.frames} frames; asked for {num_frames}")

    @torch.no_grad()
    def generate_rows(self, static_rows: Tensor, transient_rows: Tensor, num_frames: int,
                      batch_size: int = 32) -> Tensor:
        """Videos ``(N, T, C, H, W)`` in [0, 1] from dictionary rows (any static x transient combination)."""
        self._check_trained(num_frames)
        self.generator.eval()
        self.rnn.eval()
        out = []
        for i in range(0, len(static_rows), batch_size):
            codes, _ = self.codes(static_rows[i:i + batch_size].to(self.device),
                                  transient_rows[i:i + batch_size].to(self.device), None, num_frames)
            out.append(self._output(self.render(codes)))
        return torch.cat(out)

    @torch.no_grad()
    def generate_from_latents(self, z_static: Tensor, z_transient: Tensor, batch_size: int = 32) -> Tensor:
        """Videos from explicit latents ``z_static (N, D_s)`` and ``z_transient (N, T, D_t)``."""
        self.generator.eval()
        self.rnn.eval()
        out = []
        for i in range(0, len(z_static), batch_size):
            zs, zt = z_static[i:i + batch_size].to(self.device), z_transient[i:i + batch_size].to(self.device)
            r = self.rnn(zt)
            codes = torch.cat([zs[:, None].expand(-1, r.shape[1], -1), r], dim=2)
            out.append(self._output(self.render(codes)))
        return torch.cat(out)

    def generate(self, cond: Conditioning, *, seed: int) -> Tensor:
        """Sample ``cond.batch_size`` videos of ``cond.num_frames`` frames per ``config.sampling``."""
        num_videos, num_frames = cond.batch_size, cond.num_frames
        self._check_trained(num_frames)
        g = self.rng(seed)
        lat = self.latents
        if self.config.sampling == "random":
            zs = project_unit_ball_(torch.randn(num_videos, self.config.dim_static, generator=g))
            zt = project_unit_ball_(torch.randn(num_videos, num_frames, self.config.dim_transient, generator=g))
            return self.generate_from_latents(zs, zt)
        videos = torch.randint(lat.num_videos, (num_videos,), generator=g)
        if self.config.sampling == "paired":
            other = videos
        else:
            other = torch.randint(lat.num_videos, (num_videos,), generator=g)
        s_rows, t_rows = lat.static_index.cpu()[videos], lat.transient_index.cpu()[other]
        return self.generate_rows(s_rows, t_rows, num_frames)

    @torch.no_grad()
    def interpolate(self, video: int, first: int = 1, last: int = 4, steps: int = 3) -> dict[str, Tensor]:
        """§4.3.3 / Fig. 7: frames between the 2nd and 5th (0-based ``first=1``, ``last=4``) of a
        training video from ``z_first + n/k (z_last − z_first)``, ``n = 1..k``, with its static latent.

        Returns ``{"learned": frames first..last from the learned latents (C, H, W each),
        "interpolated": the same span with frames first+1..last-1 replaced by interpolants}`` as
        ``(1, T, C, H, W)`` in [0, 1], plus ``"ends"``: the learned end frames.
        """
        lat = self.latents
        s_row, t_row = lat.static_index[video], lat.transient_index[video]
        z_t = lat.transient[t_row].detach()                           # (T_v, D_t)
        a, b = z_t[first], z_t[last]
        inter = torch.stack([a + n / steps * (b - a) for n in range(1, steps + 1)])
        seq = torch.cat([z_t[:first + 1], inter, z_t[last + 1:]], dim=0)   # first, k interpolants, rest
        z_s = lat.static[s_row].detach()[None]
        learned = self.generate_from_latents(z_s, z_t[None])[:, first:last + 1]
        interp = self.generate_from_latents(z_s, seq[None])[:, first:first + steps + 1]
        return {"learned": learned, "interpolated": interp}


@torch.no_grad()
def _init_gru_(rnn: TransientRNN, update_gate_bias: float = 1.0) -> None:
    """Upstream ``GRU.initWeight``: Xavier-uniform weights, update-gate biases 1, other biases 0."""
    for name, p in rnn.named_parameters():
        if "weight" in name:
            nn.init.xavier_uniform_(p)
        else:
            nn.init.zeros_(p)
            if name.startswith("gru.cell.bias_"):
                p[p.shape[0] // 3:2 * p.shape[0] // 3] = update_gate_bias
