"""DDPAE networks (Hsieh, Liu, Huang, Fei-Fei & Niebles 2018, "Learning to Decompose and
Disentangle Representations for Video Prediction", NeurIPS, arXiv 1806.04166; official code
``jthsieh/DDPAE-video-prediction``, PyTorch + Pyro).

Each frame is the clipped sum of ``K`` components. Component ``k`` is one object image decoded
from a *content* latent (fixed over the video) and placed by a spatial transformer at a *pose*
``(s, x, y)`` that moves: ``pose_t = pose_0 + sum_{i<=t} beta_i`` (``beta`` the low-dimensional
transition, constrained: scale clamped near the prior scale, translation squashed by tanh).

Inference (the guide):

* :class:`PoseRNN` encodes the input frames with a DCGAN encoder and runs an LSTM over them once
  per component, each component's LSTM reading the previous component's hidden states (the
  "2D LSTM" that decomposes the frame component by component); its outputs give ``q(beta_t)``
  for the input frames, a second LSTM continues it to give ``q(beta_t)`` for the frames to
  predict, and an LSTM over components gives ``q(pose_0)``.
* The object encoder reads each component's crop of every input frame; an LSTM over the frames
  gives ``q(content)``.

cpu-profile deviations (off by default; README "cpu profile: colours and positions"):
``pose_anchor`` makes the poses offsets from object positions found in the context pixels
(:meth:`DDPAEModel.anchors`) and ``colour_head`` colours one-channel objects from the content or
from the crops' pixels.

The generative model puts ``N(0, I)`` on content, ``N(0, 0.1^2)`` on every ``beta`` and
``N((s_prior, 0, 0), (0.2, 1, 1)^2)`` on ``pose_0``, and ``N(frame, 0.3^2)`` on pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.gaussian import gaussian_kl, gaussian_log_prob, sample_gaussian
from methods.common.spatial_transformer import crop_objects, place_objects

POSE_DIM = 3  # (s, x, y)


def _levels(size: int) -> int:
    """Stride-2 convs that take a square ``size`` (a power of two >= 8) down to 4x4."""
    if size < 8 or size & (size - 1):
        raise ValueError(f"DDPAE's DCGAN encoder/decoder needs a power-of-two side >= 8, got {size}")
    return int(math.log2(size)) - 2


class DCGANEncoder(nn.Module):
    """``(N, C, S, S)`` -> ``(N, out_dim)``: 4x4 stride-2 convs of widths ``ngf * 2^i`` (BatchNorm +
    LeakyReLU 0.2, none on the first) down to 4x4, then a 4x4 valid conv; all convs bias-free
    (upstream ``models/networks/encoder.py``)."""

    def __init__(self, channels: int, out_dim: int, ngf: int, size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, ngf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        width = ngf
        for _ in range(_levels(size) - 1):
            layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2)]
            width *= 2
        layers.append(nn.Conv2d(width, out_dim, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1)


class DCGANDecoder(nn.Module):
    """``(N, in_dim)`` -> ``(N, C, S, S)`` in [0, 1]: the mirror of :class:`DCGANEncoder` (transposed
    convs, BatchNorm + ReLU, a sigmoid output; upstream ``models/networks/decoder.py``)."""

    def __init__(self, in_dim: int, channels: int, ngf: int, size: int) -> None:
        super().__init__()
        levels = _levels(size)
        width = ngf * 2 ** (levels - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU()]
        for _ in range(levels - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU()]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


def _std(raw: Tensor) -> Tensor:
    # softplus as upstream; the floor only keeps log(std) finite
    return F.softplus(raw).clamp_min(1e-5)


class PoseRNN(nn.Module):
    """Input frames ``(B, c, C, H, W)`` -> Gaussian parameters of the pose transitions and the
    initial pose of every component (upstream ``models/networks/pose_rnn.py``)."""

    def __init__(self, channels: int, size: int, num_components: int, image_latent_dim: int, hidden_dim: int,
                 ngf: int, independent_components: bool = False) -> None:
        super().__init__()
        self.k, self.hidden_dim, self.independent = num_components, hidden_dim, independent_components
        self.image_encoder = DCGANEncoder(channels, image_latent_dim, ngf, size)
        self.encode_rnn = nn.LSTMCell(image_latent_dim + hidden_dim, hidden_dim)
        self.predict_rnn = nn.LSTMCell(hidden_dim if independent_components else 2 * hidden_dim, hidden_dim)
        self.beta_mean = nn.Linear(hidden_dim, POSE_DIM)
        self.beta_std = nn.Linear(hidden_dim, POSE_DIM)
        self.initial_rnn = nn.LSTM(hidden_dim, hidden_dim, batch_first=True)
        self.initial_mean = nn.Linear(hidden_dim, POSE_DIM)
        self.initial_std = nn.Linear(hidden_dim, POSE_DIM)

    def forward(self, frames: Tensor, num_future: int) -> dict[str, Tensor]:
        """Returns ``beta_mean``/``beta_std`` ``(B, c + p, K, 3)`` (input then future frames) and
        ``initial_mean``/``initial_std`` ``(B, K, 3)``."""
        b, c = frames.shape[:2]
        feats = self.image_encoder(frames.flatten(0, 1)).view(b, c, -1)
        zeros = feats.new_zeros(b, self.hidden_dim)
        # Component k's LSTM reads, at frame j, the hidden state of component k-1 at frame j.
        below = [zeros] * c
        outputs, first, last = [], [], []
        for _ in range(self.k):
            state, outs = None, []
            for j in range(c):
                state = self.encode_rnn(torch.cat([feats[:, j], below[j]], 1), state)
                outs.append(state[0])
            below = outs
            outputs.append(torch.stack(outs, 1))
            first.append(outs[0])
            last.append(state)
        # Prediction: continue each component's LSTM from its last input state, feeding back its
        # output, beside component k-1's prediction state at the same step.
        below = [zeros] * num_future
        predicted = []
        for k in range(self.k):
            state, prev, outs = last[k], outputs[k][:, -1], []
            for j in range(num_future):
                x = prev if self.independent else torch.cat([prev, below[j]], 1)
                state = self.predict_rnn(x, state)
                prev = state[0]
                outs.append(prev)
            below = outs
            predicted.append(torch.stack(outs, 1) if outs else feats.new_zeros(b, 0, self.hidden_dim))
        hidden = torch.cat([torch.stack(outputs, 2), torch.stack(predicted, 2)], 1)  # (B, c + p, K, hidden)
        initial, _ = self.initial_rnn(torch.stack(first, 1))  # an LSTM over the components: (B, K, hidden)
        return {"beta_mean": self.beta_mean(hidden), "beta_std": _std(self.beta_std(hidden)),
                "initial_mean": self.initial_mean(initial), "initial_std": _std(self.initial_std(initial))}


class ContentEncoder(nn.Module):
    """Object crops ``(B, c, K, C, h, w)`` -> ``q(content)`` mean and std, each ``(B, K, content_dim)``:
    a DCGAN encoder per crop, an LSTM over the frames, a linear read-out of its last output."""

    def __init__(self, channels: int, object_size: int, content_dim: int, hidden_dim: int, ngf: int) -> None:
        super().__init__()
        self.object_encoder = DCGANEncoder(channels, content_dim, ngf, object_size)
        self.lstm = nn.LSTM(content_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, 2 * content_dim)

    def forward(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        b, c, k = crops.shape[:3]
        codes = self.object_encoder(crops.flatten(0, 2)).view(b, c, k, -1)
        seq, _ = self.lstm(codes.transpose(1, 2).flatten(0, 1))  # per component, over frames
        mean, raw = self.out(seq[:, -1]).view(b, k, -1).chunk(2, -1)
        return mean, _std(raw)


class DDPAEModel(nn.Module):
    """The full model; see the module docstring. ``cfg`` is a :class:`methods.ddpae.config.DDPAEConfig`."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        h, w = cfg.resolution
        if h != w:
            raise ValueError(f"DDPAE needs square frames, got {h}x{w}")
        self.size, self.object_size = h, h // 2  # upstream: objects are half the frame size
        self.pose_rnn = PoseRNN(cfg.channels, h, cfg.num_components, cfg.image_latent_dim, cfg.hidden_dim, cfg.ngf,
                                cfg.independent_components)
        self.content = ContentEncoder(cfg.channels, self.object_size, cfg.content_dim, cfg.hidden_dim, cfg.ngf)
        # colour_head (cpu deviation): the decoder draws a one-channel object, coloured by a linear read-out
        # of the content (sigmoid, "content") or by the mean colour of the component's crops ("pixels")
        if cfg.colour_head not in ("none", "content", "pixels"):
            raise ValueError(f"ddpae: colour_head must be 'none', 'content' or 'pixels', got {cfg.colour_head!r}")
        self.object_decoder = DCGANDecoder(cfg.content_dim, 1 if cfg.colour_head != "none" else cfg.channels, cfg.ngf,
                                           self.object_size)
        self.object_colour = nn.Linear(cfg.content_dim, cfg.channels) if cfg.colour_head == "content" else None
        prior = torch.tensor([cfg.scale_prior, 0.0, 0.0])
        self.register_buffer("initial_prior_mean", prior, persistent=False)
        logvar = 2 * torch.log(torch.tensor(cfg.initial_pose_std))
        self.register_buffer("initial_prior_logvar", logvar, persistent=False)

    # ------------------------------------------------------------------------------- latents ---
    def constrain(self, pose: Tensor) -> Tensor:
        """Scale clamped to ``scale_prior +- 1``; translation ``tanh(xy) * (s - 0.5)`` (upstream)."""
        s = pose[..., :1].clamp(self.cfg.scale_prior - 1, self.cfg.scale_prior + 1)
        return torch.cat([s, torch.tanh(pose[..., 1:]) * (s - 0.5)], -1)

    def poses(self, betas: Tensor, initial: Tensor, anchor: Tensor | None = None) -> Tensor:
        """``(B, T, K, 3)`` constrained poses from transitions ``(B, T, K, 3)`` and ``pose_0`` ``(B, K, 3)``.
        ``anchor`` ``(B, T, K, 2)`` (``pose_anchor``): window centres in ``[-1, 1]`` that the constrained
        translation is an offset from (then clamped to ``|x|, |y| <= s - 0.5``)."""
        pose = self.constrain(initial[:, None] + betas.cumsum(1))
        if anchor is None:
            return pose
        s = pose[..., :1]
        lim = s - 0.5
        xy = torch.maximum(torch.minimum(pose[..., 1:] - s * anchor, lim), -lim)  # centre -x/s = anchor + offset
        return torch.cat([s, xy], -1)

    @torch.no_grad()
    def anchors(self, frames: Tensor, num_future: int) -> Tensor:
        """``pose_anchor`` (cpu deviation): where the objects are, from the pixels, ``(B, c + p, K, 2)``
        window centres ``(x, y)`` in ``[-1, 1]`` (``x`` along the width), from background-subtracted
        context frames ``(B, c, C, H, W)``. The foreground ``f`` = max over channels. In the last
        context frame component ``k`` takes the densest window of ``f`` (7x7 box sums) after the windows
        of components ``< k`` are blanked (the decomposition, component by component; a component that
        finds no foreground sits in the corner on the background); each is tracked back through the
        earlier context frames by mean shift (centroid of ``f`` within 4 px of its next position). The
        future continues the last two frames' mean velocity at constant speed, reflected at the walls
        ``+-(1 - r)`` (``r`` the object's radius from its foreground area), as the objects bounce."""
        b, c = frames.shape[:2]
        h, w = frames.shape[-2:]
        f = frames.amax(2)  # (B, c, H, W)
        ys = (torch.arange(h, dtype=f.dtype, device=f.device) * 2 + 1) / h - 1
        xs = (torch.arange(w, dtype=f.dtype, device=f.device) * 2 + 1) / w - 1
        px = 2.0 / w  # one pixel in normalised units
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")

        def centroid(ft: Tensor, centre: Tensor, radius: float) -> Tensor:
            win = ((gx - centre[:, 0, None, None]).abs() <= radius) & ((gy - centre[:, 1, None, None]).abs() <= radius)
            wt = ft * win
            mass = wt.flatten(1).sum(1)
            new = torch.stack([(wt * gx).flatten(1).sum(1), (wt * gy).flatten(1).sum(1)], 1) / mass.clamp_min(1e-6)[:, None]
            return torch.where(mass[:, None] > 1e-3, new, centre)

        last = f[:, -1].clone()
        found, radii, present = [], [], []
        for _ in range(self.cfg.num_components):
            dense = F.avg_pool2d(last[:, None], 7, 1, 3, count_include_pad=True)[:, 0]
            peak, idx = dense.flatten(1).max(1)
            centre = torch.stack([xs[idx % w], ys[idx // w]], 1)
            for _ in range(2):
                centre = centroid(last, centre, 4 * px)
            present.append(peak > 0.02)  # a 7x7 window with at least ~1 object pixel
            near = ((gx - centre[:, 0, None, None]).abs() <= 6 * px) & ((gy - centre[:, 1, None, None]).abs() <= 6 * px)
            area = ((last > 0.15) & near).flatten(1).sum(1).to(f.dtype)
            radii.append((area / math.pi).sqrt().clamp_min(1.0) * px)
            last = last * ~near
            found.append(centre)
        track = [torch.stack(found, 1)]  # (B, K, 2) at frame c - 1
        present = torch.stack(present, 1)[..., None]  # (B, K, 1): absent components stay where they are
        for t in range(c - 2, -1, -1):
            prev = cur = track[0]
            for _ in range(2):
                cur = torch.stack([centroid(f[:, t], cur[:, k], 4 * px) for k in range(prev.shape[1])], 1)
            track.insert(0, torch.where(present, cur, prev))
        ctx = torch.stack(track, 1)  # (B, c, K, 2)
        if num_future == 0:
            return ctx
        tt = torch.arange(c, dtype=f.dtype, device=f.device)
        tt = (tt - tt.mean())[None, :, None, None]
        vel = (tt * ctx).sum(1) / (tt ** 2).sum().clamp_min(1e-6) * present  # least-squares slope over the context
        lo = -1 + torch.stack(radii, 1)[..., None]  # (B, K, 1)
        span = (-2 * lo).clamp_min(1e-3)  # hi - lo with hi = -lo
        steps = torch.arange(1, num_future + 1, dtype=f.dtype, device=f.device)[None, :, None, None]
        q = torch.remainder(ctx[:, -1:] + vel[:, None] * steps - lo[:, None], 2 * span[:, None])
        fut = lo[:, None] + torch.where(q > span[:, None], 2 * span[:, None] - q, q)
        fut = torch.where(present[:, None], fut, ctx[:, -1:])  # a component without an object stays put
        return torch.cat([ctx, fut], 1)

    def infer(self, context: Tensor, num_future: int, sample: bool,
              generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Guide: posteriors of all latents from the input frames ``(B, c, C, H, W)`` and a draw (or,
        with ``sample=False``, their means). Keys: the Gaussian parameters, ``pose`` ``(B, c + p, K, 3)``,
        ``content`` ``(B, K, D)``."""
        b, c = context.shape[:2]
        k = self.cfg.num_components
        q = self.pose_rnn(context, num_future)
        draw = (lambda m, s: sample_gaussian(m, 2 * torch.log(s), generator)) if sample else (lambda m, s: m)
        anchor = self.anchors(context, num_future) if self.cfg.pose_anchor else None
        pose = self.poses(draw(q["beta_mean"], q["beta_std"]), draw(q["initial_mean"], q["initial_std"]), anchor)
        frames = context[:, :, None].expand(b, c, k, *context.shape[2:])
        crops = crop_objects(frames.flatten(0, 2), pose[:, :c].flatten(0, 2), (self.object_size,) * 2)
        crops = crops.view(b, c, k, *crops.shape[1:])
        q["content_mean"], q["content_std"] = self.content(crops)
        if self.cfg.colour_head == "pixels":
            q["colour"] = self.crop_colour(crops)
        return {**q, "pose": pose, "content": draw(q["content_mean"], q["content_std"])}

    def decode_objects(self, content: Tensor, colour: Tensor | None = None) -> Tensor:
        """Content ``(N, D)`` -> object images ``(N, C, h, w)`` in [0, 1]; ``colour`` ``(N, C)``: the
        colour of each one-channel object with ``colour_head="pixels"``."""
        objects = self.object_decoder(content)
        if self.object_colour is not None:
            objects = objects * torch.sigmoid(self.object_colour(content))[:, :, None, None]
        elif self.cfg.colour_head == "pixels":
            objects = objects * colour[:, :, None, None]
        return objects

    @staticmethod
    def crop_colour(crops: Tensor) -> Tensor:
        """``colour_head="pixels"``: crops ``(B, c, K, C, h, w)`` of background-subtracted frames -> ``(B, K, C)``
        the mean colour of each component's crops over the input frames, its largest channel scaled to 1
        (the one-channel object carries the intensity); no gradient."""
        mean = crops.detach().mean((1, 4, 5))
        return mean / mean.amax(-1, keepdim=True).clamp_min(0.02)

    def render(self, content: Tensor, pose: Tensor, colour: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Content ``(B, K, D)`` and poses ``(B, T, K, 3)`` -> frames ``(B, T, C, H, W)`` (the sum of the
        components clipped at 1) and the components ``(B, T, K, C, H, W)``. ``colour`` ``(B, K, C)``: see
        :meth:`decode_objects`."""
        b, t, k = pose.shape[:3]
        colour = None if colour is None else colour.flatten(0, 1)
        objects = self.decode_objects(content.flatten(0, 1), colour).view(b, 1, k, self.cfg.channels,
                                                                           *(self.object_size,) * 2)
        objects = objects.expand(b, t, *objects.shape[2:])  # one decoded object per component, placed per frame
        comps = place_objects(objects.flatten(0, 2), pose.flatten(0, 2), (self.size, self.size))
        comps = comps.view(b, t, k, *comps.shape[1:])
        return comps.sum(2).clamp(max=1.0), comps

    def background(self, context: Tensor) -> Tensor:
        """``(B, 1, C, 1, 1)``: the static background added under the components — zero (upstream: the
        datasets have black backgrounds), or with ``subtract_background`` the per-channel median of
        the context pixels (a uniform background, e.g. moving-shapes')."""
        b, _, c = context.shape[:3]
        if not self.cfg.subtract_background:
            return context.new_zeros(b, 1, c, 1, 1)
        return context.transpose(1, 2).flatten(2).median(dim=2).values.view(b, 1, c, 1, 1)

    # -------------------------------------------------------------------------------- objective ---
    def negative_elbo(self, clip: Tensor, context: int, future_only: bool = False,
                      generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``-ELBO`` per clip (nats, batch mean) of clips ``(B, c + p, C, H, W)`` in [0, 1], with analytic
        KL terms. ``future_only``: the likelihood of the predicted frames only (upstream
        ``predict_loss_only``)."""
        cfg = self.cfg
        clip = (clip - self.background(clip[:, :context])).clamp_min(0)
        lat = self.infer(clip[:, :context], clip.shape[1] - context, sample=True, generator=generator)
        recon, _ = self.render(lat["content"], lat["pose"], lat.get("colour"))
        start = context if future_only else 0
        obs_logvar = 2 * math.log(cfg.obs_std)
        nll = -gaussian_log_prob(clip[:, start:], recon[:, start:], obs_logvar).flatten(1).sum(1)
        kl_content = gaussian_kl(lat["content_mean"], 2 * torch.log(lat["content_std"])).flatten(1).sum(1)
        kl_beta = gaussian_kl(lat["beta_mean"], 2 * torch.log(lat["beta_std"]), 0.0,
                              2 * math.log(cfg.beta_prior_std)).flatten(1).sum(1)
        kl_initial = gaussian_kl(lat["initial_mean"], 2 * torch.log(lat["initial_std"]), self.initial_prior_mean,
                                 self.initial_prior_logvar).flatten(1).sum(1)
        loss = (nll + kl_content + kl_beta + kl_initial).mean()
        return loss, {"nll": nll.mean().detach(), "kl_content": kl_content.mean().detach(),
                      "kl_pose": (kl_beta + kl_initial).mean().detach(),
                      "mse": F.mse_loss(recon, clip).detach()}

    @torch.no_grad()
    def predict(self, context: Tensor, num_future: int) -> dict[str, Tensor]:
        """Posterior means (upstream ``test``): ``frames`` ``(B, c + p, C, H, W)``, ``components``
        ``(B, c + p, K, C, H, W)`` (without the background), ``pose`` ``(B, c + p, K, 3)``."""
        bg = self.background(context)
        lat = self.infer((context - bg).clamp_min(0), num_future, sample=False)
        frames, comps = self.render(lat["content"], lat["pose"], lat.get("colour"))
        return {"frames": (frames + bg).clamp(0, 1), "components": comps, "pose": lat["pose"]}
