"""P2P networks (Wang, Cheng, Lin, Chen & Sun, "Point-to-Point Video Generation", ICCV 2019,
arXiv 1904.02912; upstream ``yccyenchicheng/p2pvg`` ``models/p2p_model.py``).

SVG-LP made control-point aware: the encoding of the target end frame ``x_T`` (the "global
descriptor" ``h_T``) and a time counter -- ``time_until_cp = (T - t + 1) / T`` and
``delta_time = (t - t_prev) / T`` -- are appended to the inputs of the posterior and prior
(``[h, h_T, tuc, dt]``) and of the frame predictor (``[h, z, tuc, dt]``). Training adds

* skip-frame training: after the first ``n_past`` steps, each step except the first and the last
  is dropped with probability ``skip_prob`` (at most ``T * skip_prob`` of them): its LSTM updates
  do not happen, and the next kept step sees the larger ``delta_time``;
* the control-point-consistency (CPC) loss: at the last step the frame predicted with the
  *prior's* ``z`` must equal ``x_T``; it trains the prior only (upstream's second backward pass),
  with the KL, while everything else gets ``mse + beta * kl + w_align * align``;
* the alignment loss between encoder and predictor latent spaces (see ``align`` below).

Upstream quirks kept by default (``upstream`` settings), each switchable:

* ``align="upstream"``: upstream computes ``MSE(h[0], h_pred)`` with ``h`` the *previous* step's
  input encoding ``(B, g)``, so ``h[0]`` is sample 0's encoding, broadcast against the batch's
  previous prediction. ``"paper"`` aligns each step's prediction with its target's encoding.
* ``cpc_after_step=True``: upstream runs the predictor a second time at the last step for the
  prior's ``z``, from the LSTM state the posterior step has already advanced. ``False`` restarts
  from the state before that step.
* skip connections: in training from frame ``min(t - 1, n_past - 1)`` (``i <= n_past``); at
  generation from frame ``max(0, n_past - 2)`` (``i == 1 or i < n_past``), as upstream.

Only torch and ``methods.common`` are imported here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.frame_codecs import (composite_copy, decode_clip, encode_clip, frame_codec, frames_in, frames_out,
                                         frames_per_call)
from methods.common.lstm import GaussianLSTM, VectorLSTM, gaussian_kl
from methods.common.warp import VelocityNet, divergence_penalty, move_by_velocity, smooth_flow


def backward_main_and_prior(main: Tensor, prior_loss: Tensor, prior_params: list[nn.Parameter]) -> None:
    """Upstream's two backward passes: every network but the prior gets the gradients of ``main``, the
    prior only those of its own loss (``kld + w_cpc * cpc``). Leaves the ``.grad`` of both sets in place."""
    prior_grads = torch.autograd.grad(prior_loss, prior_params, retain_graph=True, allow_unused=True)
    main.backward()
    for p, g in zip(prior_params, prior_grads):
        p.grad = None if g is None else g.detach()


def kept_steps(seq_len: int, n_past: int, skip_prob: float, draws: Tensor | None) -> list[int]:
    """Steps ``1 .. seq_len-1`` that upstream's skip-frame training keeps, given the uniform draws
    ``(seq_len - 1,)`` (``None``: keep all).

    >>> kept_steps(6, 1, 0.5, torch.tensor([0.1, 0.1, 0.9, 0.1, 0.1]))
    [1, 3, 5]
    """
    if draws is None or skip_prob <= 0:
        return list(range(1, seq_len))
    cp, kept, skipped = seq_len - 1, [], 0
    for i in range(1, seq_len):
        if (float(draws[i - 1]) <= skip_prob and i >= n_past and skipped < seq_len * skip_prob
                and i != 1 and i != cp):
            skipped += 1
            continue
        kept.append(i)
    return kept


class P2PModel(nn.Module):
    """Encoder, decoder, frame predictor, posterior and prior, named as upstream saves them."""

    def __init__(self, cfg) -> None:  # cfg: methods.p2p.config.P2PConfig (model.py is torch-only)
        super().__init__()
        self.cfg = cfg
        g, z, r = cfg.g_dim, cfg.z_dim, cfg.rnn_size
        res = tuple(cfg.model_resolution or cfg.resolution)
        self.encoder, self.decoder = frame_codec(cfg.backbone, cfg.channels, g, res, cfg.width,
                                                  extra_outputs=int(cfg.copy_mask))
        self.frame_predictor = VectorLSTM(g + z + 2, r, g, cfg.predictor_layers)
        self.posterior = GaussianLSTM(2 * g + 2, r, z, cfg.posterior_layers)
        self.prior = GaussianLSTM(2 * g + 2, r, z, cfg.prior_layers)
        # not upstream (cpu option): the displacement field that moves the copy mask's source to the end frame
        self.motion = VelocityNet(cfg.channels, cfg.max_displacement) if cfg.copy_motion else None

    def networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder, "frame_predictor": self.frame_predictor,
                "posterior": self.posterior, "prior": self.prior}

    def moved_sources(self, frames: Tensor, start: Tensor, end: Tensor, fractions: Tensor) -> tuple[Tensor, Tensor]:
        """With ``copy_motion``: ``frames (B, m, C, H, W)`` each warped by its ``fractions (m,)`` of the displacement
        field ``(B, 2, H, W)`` that the net reads off ``start`` and ``end (B, C, H, W)`` (smoothed as applied);
        the moved frames and the field."""
        b, m = frames.shape[:2]
        field = smooth_flow(self.motion(torch.stack([start, end], 1) * 2 - 1), self.cfg.motion_pool)
        moved = move_by_velocity(frames.flatten(0, 1), field.repeat_interleave(m, 0), fractions.repeat(b))
        return moved.view_as(frames), field

    def _in(self, x: Tensor) -> Tensor:
        return frames_in(x, self.cfg.channels, self.cfg.model_resolution)

    def _out(self, x: Tensor) -> Tensor:
        return frames_out(x, self.cfg.channels, self.cfg.resolution)

    # ----------------------------------------------------------------------------- training ---
    def forward(self, x: Tensor, kept: list[int], posterior_noise: Tensor | None = None,
                cpc_noise: Tensor | None = None, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Upstream ``P2PModel.forward`` over a clip ``x (B, T, C, H, W)`` whose last frame is the
        control point, on the steps ``kept`` (:func:`kept_steps`). Returns the losses' inputs and
        the loss terms ``mse``, ``kld``, ``cpc``, ``align`` (each summed over steps as upstream).
        ``posterior_noise (B, len(kept), z)`` and ``cpc_noise (B, z)`` (the prior's draw at the
        last step) fix the reparameterisation noise; by default it is drawn with ``generator``."""
        cfg = self.cfg
        x = self._in(x)
        b, t = x.shape[:2]
        cp = t - 1
        m = len(kept)
        # All frames encoded once, BatchNorm statistics per frame as upstream's per-step calls; paper-size
        # batches a few frames per call (no feature map over glibc's mmap threshold, frame_codecs.CALL_BYTES).
        per_call = frames_per_call(self.encoder, x.shape[-2:], b, t, x.element_size())
        h_all, skips_all = encode_clip(self.encoder, x, per_call)   # (T, B, g), skips by frame
        steps = torch.tensor(kept, device=x.device)
        prev = torch.cat([steps.new_zeros(1), steps[:-1]])
        tuc = ((cp - steps + 1).float() / cp).to(x.dtype)          # time until the control point
        dt = ((steps - prev).float() / cp).to(x.dtype)             # time since the last kept step
        time = torch.stack([tuc, dt], dim=-1)[None].expand(b, m, 2)
        h_in = h_all[steps - 1].transpose(0, 1)                    # (B, m, g): encodings of x[i-1]
        h_tgt = h_all[steps].transpose(0, 1)                       # (B, m, g): encodings of x[i]
        glob = h_all[cp][:, None].expand(b, m, h_all.shape[-1])    # the global descriptor h_T
        (z, mu, logvar), _ = self.posterior(torch.cat([h_tgt, glob, time], -1), noise=posterior_noise,
                                            generator=generator)
        (_, mu_p, logvar_p), _ = self.prior(torch.cat([h_in, glob, time], -1), noise=torch.zeros_like(mu))
        # The prior's sample at the control point feeds the CPC loss (the other prior samples are unused).
        if cpc_noise is None:
            cpc_noise = torch.randn(mu_p[:, -1].shape, generator=generator, device=x.device, dtype=x.dtype)
        z_p_last = mu_p[:, -1] + torch.exp(0.5 * logvar_p[:, -1]) * cpc_noise
        pred_in = torch.cat([h_in, z, time], -1)
        h_pred, state = self.frame_predictor(pred_in)
        cpc_in = torch.cat([h_in[:, -1], z_p_last, time[:, -1]], -1)
        if cfg.cpc_after_step:
            h_cpc, _ = self.frame_predictor(cpc_in, state)
        else:
            _, before = self.frame_predictor(pred_in[:, :-1]) if m > 1 else (None, None)
            h_cpc, _ = self.frame_predictor(cpc_in, before)
        # Skip features: from x[i-1] while i <= n_past (among the kept steps), then fixed.
        src, last = [], 0
        for i in kept:
            if cfg.last_frame_skip or i <= cfg.context_frames:
                last = i - 1
            src.append(last)
        src_t = torch.tensor(src + [src[-1]], device=x.device)
        dec_h = torch.cat([h_pred, h_cpc[:, None]], dim=1)         # (B, m + 1, g)
        frames = decode_clip(self.decoder, dec_h.transpose(0, 1), skips_all, src + [src[-1]], per_call)
        frames = frames.view(m + 1, b, *frames.shape[1:]).transpose(0, 1)
        extra = {}
        if cfg.copy_mask:
            sources = x[:, src_t.tolist()]
            if self.motion is not None:
                # step i copies its skip frame s_i moved by (i - s_i) / (cp - s) of the way to the control point,
                # s = c - 1 the skip frame after the context (for c = 1, the two-ended protocol, the pair that
                # sampling reads too)
                s = cfg.context_frames - 1
                fractions = (torch.cat([steps, steps.new_full((1,), cp)]) - src_t).to(x.dtype) / max(cp - s, 1)
                sources, field = self.moved_sources(sources, x[:, s], x[:, cp], fractions)
                future = [j for j, i in enumerate(kept) if i >= cfg.context_frames]
                extra["motion"] = F.mse_loss(sources[:, future], x[:, steps[future]]) * len(future)
                extra["divergence"] = divergence_penalty(field)
            frames = composite_copy(frames, sources)
        x_pred, x_cpc = frames[:, :m], frames[:, m]
        recon = F.l1_loss if cfg.recon_loss == "l1" else F.mse_loss
        mse = recon(x_pred, x[:, steps]) * m
        kld = gaussian_kl(mu, logvar, mu_p, logvar_p).sum() / b
        cpc = F.mse_loss(x_cpc, x[:, cp])
        if m > 1:
            if cfg.align == "upstream":
                # MSE(h[0], h_pred) with h[0] = sample 0's input encoding of the previous step.
                align = ((h_in[0:1, :-1].transpose(0, 1) - h_pred[:, :-1].transpose(0, 1)) ** 2).mean(dim=(1, 2)).sum()
            else:
                align = F.mse_loss(h_pred[:, :-1], h_tgt[:, :-1]) * (m - 1)
        else:
            align = x.new_zeros(())
        return {"mse": mse, "kld": kld, "cpc": cpc, "align": align, **extra}

    def losses(self, out: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(main, prior_loss)``: upstream's ``mse + beta * kld + w_align * align`` (every network
        but the prior; with ``copy_motion``, not upstream, plus the weighted ``motion`` and ``divergence``
        terms) and ``kld + w_cpc * cpc`` (the prior only)."""
        cfg = self.cfg
        main = out["mse"] + cfg.beta * out["kld"] + cfg.weight_align * out["align"]
        if "motion" in out:
            main = main + cfg.motion_loss * out["motion"] + cfg.motion_divergence * out["divergence"]
        return main, out["kld"] + cfg.weight_cpc * out["cpc"]

    # --------------------------------------------------------------------------- generation ---
    @torch.no_grad()
    def rollout(self, context: Tensor, end_frame: Tensor, num_future: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> Tensor:
        """Upstream ``p2p_generate`` (``model_mode="full"``, no frame skipping) for ``num_samples``
        samples: ``context (B, c, C, H, W)`` and ``end_frame (B, C, H, W)``, producing frames
        ``c .. c+p-1`` whose last one is to match ``end_frame``: ``(B, k, p, C, H, W)``.

        The control point index is ``c + p - 1`` (upstream ``eval_cp_ix = len_output - 1``).
        """
        cfg = self.cfg
        b, c = context.shape[:2]
        k, n = num_samples, context.shape[0] * num_samples
        ctx, end = self._in(context), self._in(end_frame)
        cp = c + num_future - 1
        h_ctx, skips = self.encoder(ctx.transpose(0, 1).reshape(c * b, *ctx.shape[2:]))
        h_ctx = h_ctx.view(c, b, -1).repeat_interleave(k, dim=1)          # (c, B*k, g)
        skips = [s.view(c, b, *s.shape[1:]).repeat_interleave(k, dim=1) for s in skips]
        glob, _ = self.encoder(end)
        glob = glob.repeat_interleave(k, dim=0)
        skip_ix = c - 1 if cfg.last_frame_skip else max(0, c - 2)
        skip = [s[skip_ix] for s in skips]
        base = ctx[:, skip_ix].repeat_interleave(k, dim=0)  # the skip frame, the copy mask's source
        if self.motion is not None:  # the skip frame moved (i - s) / (cp - s) of the way at frame i
            fractions = (torch.arange(c, cp + 1, device=ctx.device, dtype=ctx.dtype) - skip_ix) / max(cp - skip_ix, 1)
            moved = self.moved_sources(ctx[:, skip_ix, None].expand(-1, num_future, -1, -1, -1), ctx[:, skip_ix],
                                       end, fractions)[0].repeat_interleave(k, dim=0)
        pred_state = post_state = prior_state = None

        def tc(i: int) -> Tensor:
            return torch.tensor([(cp - i + 1) / cp, 1.0 / cp], device=glob.device, dtype=glob.dtype).expand(n, 2)

        def noise() -> Tensor:
            return torch.randn(n, cfg.z_dim, generator=generator, device=glob.device, dtype=glob.dtype)

        for i in range(1, c):  # context steps: posterior z, prior stepped alongside
            h, tgt, time = h_ctx[i - 1], h_ctx[i], tc(i)
            (z, _, _), post_state = self.posterior(torch.cat([tgt, glob, time], -1), post_state, noise=noise())
            _, prior_state = self.prior(torch.cat([h, glob, time], -1), prior_state, noise=noise())
            _, pred_state = self.frame_predictor(torch.cat([h, z, time], -1), pred_state)
        h = h_ctx[c - 1]
        frames = []
        for j in range(num_future):
            i, time = c + j, tc(c + j)
            # (Upstream also steps the posterior here; in "full" mode its output is never used.)
            (z, _, _), prior_state = self.prior(torch.cat([h, glob, time], -1), prior_state, noise=noise())
            h_pred, pred_state = self.frame_predictor(torch.cat([h, z, time], -1), pred_state)
            frame = self.decoder(h_pred, skip)
            if cfg.copy_mask:
                frame = composite_copy(frame, base if self.motion is None else moved[:, j])
            frames.append(frame)
            if j + 1 < num_future:
                h, new_skips = self.encoder(frame)
                if cfg.last_frame_skip:
                    skip, base = new_skips, frame
        out = self._out(torch.stack(frames, dim=1))
        return out.view(b, k, num_future, *out.shape[2:])
