"""SVG-LP and SVG-FP networks (Denton & Fergus, ICML 2018, arXiv 1802.07687; ``edenton/svg``).

A frame encoder maps ``x_t`` to ``h_t`` (|h| = ``g_dim``); the frame predictor LSTM maps
``[h_{t-1}, z_t]`` to ``h_hat_t``, which the decoder turns into ``x_hat_t`` with skip connections
from a context frame. ``z_t`` comes from the posterior ``q(z_t | x_{1:t})`` (an LSTM over ``h_t``)
in training and from the prior at test time: SVG-LP learns it (``p(z_t | x_{1:t-1})``, an LSTM
over ``h_{t-1}``), SVG-FP fixes it to N(0, I). Training is teacher-forced over all ``c + p``
frames of a clip (``train_svg_lp.py``'s ``train``): loss = sum_t MSE(x_hat_t, x_t) (MSE averaged
over pixels and batch, summed over the ``c + p - 1`` steps) + beta * sum_t KL(q || p) / B.

Skip connections follow upstream's code: the skip features at step ``t`` (predicting frame ``t``,
0-based) come from frame ``t - 1`` while ``t < c``, after which they stay those of frame ``c - 2``
(the encoder input of the last step ``t < c``) -- the paper says "the last ground truth frame";
the code's ``if i < n_past: h, skip = h`` makes it the second-to-last. ``last_frame_skip`` takes
them from frame ``t - 1`` at every step.

Only torch and ``methods.common`` are imported here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.frame_codecs import (composite_copy, decode_clip, encode_clip, frame_codec, frames_in, frames_out,
                                         frames_per_call)
from methods.common.lstm import GaussianLSTM, VectorLSTM, gaussian_kl
from methods.common.warp import VelocityNet, carry_forward, divergence_penalty


def skip_sources(steps: int, context: int, last_frame_skip: bool, device: torch.device | None = None,
                 skip_from: str = "code") -> Tensor:
    """Frame index of the skip features for each step ``t = 1 .. steps`` (predicting frame ``t``):
    the previous frame within the context, then context frame ``c - 2`` (upstream's code) or
    ``c - 1`` (``skip_from="paper"``); the previous frame always with ``last_frame_skip``.

    >>> skip_sources(5, 3, False).tolist(), skip_sources(5, 3, False, skip_from="paper").tolist()
    ([0, 1, 1, 1, 1], [0, 1, 2, 2, 2])
    """
    t = torch.arange(1, steps + 1, device=device)
    last = context - 1 if skip_from == "paper" else context - 2
    return t - 1 if last_frame_skip else (t - 1).clamp(max=max(last, 0))


class SVGModel(nn.Module):
    """The five networks of SVG-LP (``prior`` is ``None`` for SVG-FP), named as upstream saves them.

    Frames are ``(B, T, C, H, W)`` in [0, 1]. With ``cfg.model_resolution`` set, frames are
    area-resized to it on the way in and predictions bilinearly resized back (the ``cpu`` profile).
    """

    def __init__(self, cfg) -> None:  # cfg: methods.svg.config.SVGConfig (not imported: model.py is torch-only)
        super().__init__()
        self.cfg = cfg
        res = tuple(cfg.model_resolution or cfg.resolution)
        self.encoder, self.decoder = frame_codec(cfg.backbone, cfg.channels, cfg.g_dim, res, cfg.width,
                                                  extra_outputs=int(cfg.copy_mask))
        self.frame_predictor = VectorLSTM(cfg.g_dim + cfg.z_dim, cfg.rnn_size, cfg.g_dim, cfg.predictor_layers)
        self.posterior = GaussianLSTM(cfg.g_dim, cfg.rnn_size, cfg.z_dim, cfg.posterior_layers)
        self.prior = (GaussianLSTM(cfg.g_dim, cfg.rnn_size, cfg.z_dim, cfg.prior_layers)
                      if cfg.prior == "learned" else None)
        # not upstream (cpu option): moves the copy mask's source frame along the context's velocity
        self.velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None

    # ------------------------------------------------------------------------------ helpers ---
    def networks(self) -> dict[str, nn.Module]:
        """Upstream's checkpoint entries: encoder, decoder, frame_predictor, posterior (, prior)."""
        nets = {"encoder": self.encoder, "decoder": self.decoder, "frame_predictor": self.frame_predictor,
                "posterior": self.posterior}
        if self.prior is not None:
            nets["prior"] = self.prior
        return nets

    def future_sources(self, context: Tensor, num_future: int) -> tuple[Tensor, Tensor]:
        """With ``copy_velocity``: the copy sources ``(B, num_future, C, H, W)`` of the frames after ``context
        (B, c, C, H, W)`` (model resolution): the last context frame carried ``h = 1, 2, ...`` steps along the
        context's velocity field; and that field ``(B, 2, H, W)``, smoothed as applied."""
        velocity = self.velocity.smoothed_field(context, self.cfg.velocity_pool)
        return carry_forward(context[:, -1], velocity, num_future), velocity

    def _in(self, x: Tensor) -> Tensor:
        return frames_in(x, self.cfg.channels, self.cfg.model_resolution)

    def _out(self, x: Tensor) -> Tensor:
        return frames_out(x, self.cfg.channels, self.cfg.resolution)

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``x (B, T, C, H, W)`` -> ``h (B, T, g)`` and skips, each ``(T, B, C_l, H_l, W_l)``.

        One encoder call over all frames, BatchNorm statistics per time step (as upstream's one
        call per step)."""
        b, t = x.shape[:2]
        h, skips = self.encoder(x.transpose(0, 1).reshape(t * b, *x.shape[2:]), groups=t)
        return h.view(t, b, -1).transpose(0, 1), [s.view(t, b, *s.shape[1:]) for s in skips]

    # ----------------------------------------------------------------------------- training ---
    def forward(self, x: Tensor, posterior_noise: Tensor | None = None,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Teacher-forced pass over a clip ``x (B, T, C, H, W)`` (upstream ``train``).

        Returns ``x_pred (B, T-1, C, H', W')`` (frames 1..T-1 at the model resolution), the
        targets ``x_target``, the posterior ``mu``, ``logvar`` and the prior's (zeros for SVG-FP),
        each ``(B, T-1, z)``. ``posterior_noise (B, T-1, z)`` fixes the reparameterisation noise.
        """
        x = self._in(x)
        b, t = x.shape[:2]
        # Paper-size batches go through the encoder and decoder a few time steps per call, so that no
        # feature map outgrows glibc's mmap threshold (see frame_codecs.CALL_BYTES); small ones in one call.
        per_call = frames_per_call(self.encoder, x.shape[-2:], b, t, x.element_size())
        h_tm, skips = encode_clip(self.encoder, x, per_call)
        h = h_tm.transpose(0, 1)
        (z, mu, logvar), _ = self.posterior(h[:, 1:], noise=posterior_noise, generator=generator)
        if self.prior is not None:
            # The prior's sample is unused in training; only its distribution enters the KL.
            zeros = torch.zeros_like(mu)
            (_, mu_p, logvar_p), _ = self.prior(h[:, :-1], noise=zeros)
        else:
            mu_p = logvar_p = torch.zeros_like(mu)
        h_pred, _ = self.frame_predictor(torch.cat([h[:, :-1], z], dim=-1))
        src = skip_sources(t - 1, self.cfg.context_frames, self.cfg.last_frame_skip, x.device, self.cfg.skip_from)
        x_pred = decode_clip(self.decoder, h_pred.transpose(0, 1), skips, src.tolist(), per_call)
        x_pred = x_pred.view(t - 1, b, *x_pred.shape[1:]).transpose(0, 1)
        out = {"x_target": x[:, 1:], "mu": mu, "logvar": logvar, "mu_p": mu_p, "logvar_p": logvar_p}
        if self.cfg.copy_mask:
            sources = x[:, src.tolist()]
            if self.velocity is not None:  # the future frames copy the moved last context frame
                c = self.cfg.context_frames
                out["moved"], out["velocity"] = self.future_sources(x[:, :c], t - c)
                sources = torch.cat([sources[:, :c - 1], out["moved"]], dim=1)
            x_pred = composite_copy(x_pred, sources)
        return {"x_pred": x_pred, **out}

    def loss(self, out: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Upstream's objective: ``sum_t mse_t + beta * sum_t KL_t / B`` and its two terms (with
        ``copy_velocity``, not upstream: plus ``velocity_loss`` x the summed MSE of the moved copy sources and
        ``velocity_divergence`` x the mean squared divergence of their field)."""
        steps, b = out["x_pred"].shape[1], out["x_pred"].shape[0]
        recon = F.l1_loss if self.cfg.recon_loss == "l1" else F.mse_loss
        mse = recon(out["x_pred"], out["x_target"]) * steps
        kld = gaussian_kl(out["mu"], out["logvar"], out["mu_p"], out["logvar_p"]).sum() / b
        loss, parts = mse + self.cfg.beta * kld, {"mse": mse.detach(), "kld": kld.detach()}
        if "moved" in out:
            moved = out["moved"]
            warp = F.mse_loss(moved, out["x_target"][:, -moved.shape[1]:]) * moved.shape[1]
            div = divergence_penalty(out["velocity"])
            loss = loss + self.cfg.velocity_loss * warp + self.cfg.velocity_divergence * div
            parts.update(warp_rec=warp.detach(), divergence=div.detach())
        return loss, parts

    # --------------------------------------------------------------------------- generation ---
    @torch.no_grad()
    def rollout(self, context: Tensor, num_future: int, num_samples: int = 1,
                generator: torch.Generator | None = None) -> Tensor:
        """``num_samples`` continuations of ``context (B, c, C, H, W)``: ``(B, k, p, C, H, W)``.

        Upstream ``generate_svg_{lp,fp}.py``: the context warms the LSTMs up (SVG-LP with
        posterior samples and the prior stepped alongside, SVG-FP with posterior means), then each
        step draws ``z_t`` from the prior, predicts ``h_hat_t``, decodes it and re-encodes the
        prediction as the next input.
        """
        cfg = self.cfg
        b, c = context.shape[:2]
        k = num_samples
        ctx = self._in(context)
        h, skips = self.encode(ctx)                      # eval mode: per-frame BatchNorm is irrelevant
        h = h.repeat_interleave(k, dim=0)                # (B*k, c, g): samples of a context adjacent
        skips = [s.repeat_interleave(k, dim=1) for s in skips]
        n = b * k
        noise = lambda: torch.randn(n, cfg.z_dim, generator=generator, device=h.device)  # noqa: E731
        pred_state = post_state = prior_state = None
        if c > 1:
            # Context steps t = 1..c-1: inputs h_{t-1}, targets h_t.
            warm = torch.randn(n, c - 1, cfg.z_dim, generator=generator, device=h.device)
            (z, mu, _), post_state = self.posterior(h[:, 1:], noise=warm)
            if self.prior is not None:
                _, prior_state = self.prior(h[:, :-1], noise=torch.zeros_like(warm))
            else:
                z = mu  # generate_svg_fp.py conditions on the posterior means
            _, pred_state = self.frame_predictor(torch.cat([h[:, :-1], z], dim=-1))
        h_in = h[:, -1]
        last = c - 1 if (cfg.last_frame_skip or cfg.skip_from == "paper") else max(c - 2, 0)
        skip = [s[last] for s in skips]
        base = ctx[:, last].repeat_interleave(k, dim=0)  # the skip frame, the copy mask's source
        moved = (self.future_sources(ctx, num_future)[0].repeat_interleave(k, dim=0)
                 if self.velocity is not None else None)
        frames = []
        for step in range(num_future):
            if self.prior is not None:
                (z, _, _), prior_state = self.prior(h_in, prior_state, noise=noise())
            else:
                z = noise()
            h_pred, pred_state = self.frame_predictor(torch.cat([h_in, z], dim=-1), pred_state)
            frame = self.decoder(h_pred, skip)
            if cfg.copy_mask:
                frame = composite_copy(frame, base if moved is None else moved[:, step])
            frames.append(frame)
            if step + 1 < num_future:
                h_in, new_skips = self.encoder(frame)
                if cfg.last_frame_skip:
                    skip, base = new_skips, frame
        out = self._out(torch.stack(frames, dim=1))
        return out.view(b, k, num_future, *out.shape[2:])
