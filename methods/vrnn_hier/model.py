"""Hierarchical conditional VRNN networks (Castrejón, Ballas & Courville 2019, "Improved
Conditional VRNNs for Video Prediction", ICCV, arXiv 1904.12165; official code
``facebookresearch/improved_vrnn``, ``models/vrnn_hier.py``).

Three parts, all convolutional:

* **Frame encoder** – per frame, levels of residual blocks at sizes ``S, S/2, ..., 4, 1``
  (max-pooling between levels) giving one embedding per level.
* **Latent hierarchy** – one latent level per chosen decoder block, each a spatial map at that
  block's resolution. Level ``j`` has a prior ``p(z_t^j | x_<t)`` (a ConvLSTM over the previous
  frames' embeddings at that resolution) and a posterior ``q(z_t^j | x_<=t, z_t^<j)`` (a ConvLSTM
  over the current frames' embeddings whose read-out also sees the coarser levels' samples,
  upsampled: the dense top-down connectivity). Both ConvLSTMs start from a state computed from
  the context frames.
* **Decoder** ("renderer", the likelihood model) – one ConvLSTM block per encoder level, from
  1x1 up to full size, each started from the context frames' embeddings at its level, reading the
  previous frame's top embedding and, at its latent level, ``z_t^j``; upsampling transposed convs
  between blocks; sigmoid output.

The official prior networks do not read the coarser levels' samples (only the posterior does);
this follows the code. KL terms are per level and per step (analytic here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.frame_codecs import composite_copy, init_copy_mask_
from methods.common.gaussian import gaussian_kl, sample_gaussian
from methods.common.init import init_he_
from methods.common.resblocks import GroupNormConvLSTMCell, ScaledResBlock, group_norm
from methods.common.warp import VelocityNet, carry_forward

LSTMState = tuple[Tensor, Tensor]


def encoder_sizes(resolution: tuple[int, int]) -> list[tuple[int, int]]:
    """Spatial sizes of the encoder levels: halvings down to the first side of 4, then 1x1.

    >>> encoder_sizes((64, 64))
    [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (1, 1)]
    """
    h, w = resolution
    sizes = [(h, w)]
    while min(h, w) > 4:
        if h % 2 or w % 2:
            raise ValueError(f"resolution {resolution} must halve evenly down to a side of 4")
        h, w = h // 2, w // 2
        sizes.append((h, w))
    if min(h, w) != 4 or len(sizes) < 2:
        raise ValueError(f"resolution {resolution} must halve to a 4-pixel side (e.g. 32x32 or 64x64)")
    return sizes + [(1, 1)]


def encoder_widths(width: int, levels: int) -> list[int]:
    """Channels per encoder level: ``width * (1, 2, 4, 8, 8, ...)``, the 1x1 level as the one before."""
    widths = [width * min(2 ** i, 8) for i in range(levels - 1)]
    return widths + [widths[-1]]


def official_latent_channels(width: int, z_dim: int, latent_blocks: tuple[int, ...], levels: int) -> tuple[int, ...]:
    """The official rule: ``z_dim`` channels at the 1x1 level, else the encoder width at that level
    (64x64, width 64, blocks (0, 2, 4): ``(10, 512, 128)``)."""
    widths = encoder_widths(width, levels)
    return tuple(z_dim if b == 0 else widths[levels - 1 - b] for b in latent_blocks)


def _conv1x1_norm(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1), group_norm(groups, cout))


def _groups(groups: int, norm: bool) -> int:
    """The GroupNorm group count, or 0 (no normalisation) when ``norm`` is off."""
    return groups if norm else 0


class ContextInit(nn.Module):
    """Context embeddings ``(B, c, C, h, w)`` -> an initial ConvLSTM state ``(h0, c0)`` of ``hidden`` channels:
    1x1 conv + GroupNorm(4) + LeakyReLU over the channel-stacked context, a 1x1 conv to ``2 * hidden``,
    GroupNorm(1), split in two."""

    def __init__(self, channels: int, context: int, hidden: int, norm: bool = True) -> None:
        super().__init__()
        cin = channels * context
        self.net = nn.Sequential(nn.Conv2d(cin, cin, 1), group_norm(_groups(4, norm), cin), nn.LeakyReLU(0.2),
                                 *_conv1x1_norm(cin, 2 * hidden, _groups(1, norm)))

    def forward(self, ctx: Tensor) -> LSTMState:
        h, c = self.net(ctx.flatten(1, 2)).chunk(2, dim=1)
        return h, c


class LatentLevel(nn.Module):
    """Prior or posterior of one latent level: ``(B, C_in, h, w)`` embeddings one step at a time ->
    ``(mean, logvar)`` each ``(B, z, h, w)``."""

    def __init__(self, in_channels: int, z_channels: int, context: int, extra_channels: int = 0,
                 norm: bool = True) -> None:
        super().__init__()
        hid = in_channels
        self.embed = _conv1x1_norm(in_channels, hid, _groups(1, norm))
        self.init = ContextInit(in_channels, context, hid, norm)
        self.lstm = GroupNormConvLSTMCell(hid, hid, norm_groups=_groups(16, norm))
        self.out = _conv1x1_norm(hid + extra_channels, 2 * z_channels, _groups(1, norm))
        # upstream: the last normalisation starts at weight 0, bias N(0, 1e-3): q and p begin equal
        # (without normalisation, the read-out conv does)
        last = self.out[1] if norm else self.out[0]
        nn.init.zeros_(last.weight)
        nn.init.normal_(last.bias, std=1e-3)

    def step(self, emb: Tensor, state: LSTMState, coarser: Tensor | None = None) -> tuple[Tensor, Tensor, LSTMState]:
        h, state = self.lstm(self.embed(emb), state)
        if coarser is not None:
            h = torch.cat([coarser, h], dim=1)
        mean, pre = self.out(h).chunk(2, dim=1)
        return mean, torch.log(F.softplus(pre).clamp_min(1e-8)), state  # upstream: variance = softplus


class RenderBlock(nn.Module):
    """One decoder block: a ConvLSTM (started from the context) then an upsampling transposed conv,
    or at full size a 3x3 conv and the 3x3 output conv."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, context: int, ctx_channels: int,
                 kind: str, image_channels: int, norm: bool = True) -> None:
        super().__init__()
        self.init = ContextInit(ctx_channels, context, hidden, norm)
        self.lstm = GroupNormConvLSTMCell(in_channels, hidden, norm_groups=_groups(16, norm))
        if kind == "first":  # 1x1 -> 4x4
            conv = nn.ConvTranspose2d(hidden, out_channels, 4, 1, 0)
        elif kind == "up":
            conv = nn.ConvTranspose2d(hidden, out_channels, 4, 2, 1)
        else:  # "last"
            conv = nn.Conv2d(hidden, out_channels, 3, 1, 1)
        self.post = nn.Sequential(conv, group_norm(_groups(4, norm), out_channels), nn.LeakyReLU(0.2))
        self.to_image = nn.Conv2d(out_channels, image_channels, 3, 1, 1) if kind == "last" else None

    def step(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, state = self.lstm(x, state)
        y = self.post(h)
        return (self.to_image(y) if self.to_image is not None else y), state


class VRNNHierModel(nn.Module):
    """The whole model; ``cfg`` is a :class:`methods.vrnn_hier.config.VRNNHierConfig`. Frames are in [0, 1]."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        sizes = encoder_sizes(tuple(cfg.resolution))
        self.levels = L = len(sizes)
        widths = encoder_widths(cfg.width, L)
        self.widths = widths
        c = cfg.context_frames
        blocks = tuple(cfg.latent_blocks)
        if len(set(blocks)) != len(blocks) or list(blocks) != sorted(blocks) or not all(0 <= b < L for b in blocks):
            raise ValueError(f"latent_blocks must be increasing decoder block indices in [0, {L}), got {blocks}")
        if len(cfg.latent_channels) != len(blocks):
            raise ValueError(f"latent_channels {cfg.latent_channels} must give one channel count per latent "
                             f"block {blocks}")
        self.latent_blocks = blocks

        # Frame encoder: level 0 a 1x1 conv + residual block; then pool + two residual blocks per level.
        norm = cfg.group_norm
        g4 = _groups(4, norm)
        enc = [nn.Sequential(nn.Conv2d(cfg.channels, widths[0], 1), ScaledResBlock(widths[0], widths[0], g4))]
        for i in range(1, L):
            pool = nn.MaxPool2d(2, 2) if i < L - 1 else nn.MaxPool2d(sizes[-2], 1)
            enc.append(nn.Sequential(pool, ScaledResBlock(widths[i - 1], widths[i], g4),
                                     ScaledResBlock(widths[i], widths[i], g4)))
        self.encoder = nn.ModuleList(enc)

        # Latent levels: block b sits at encoder level L - 1 - b.
        self.priors, self.posteriors = nn.ModuleList(), nn.ModuleList()
        for j, (b, zc) in enumerate(zip(blocks, cfg.latent_channels)):
            ch = widths[L - 1 - b]
            self.priors.append(LatentLevel(ch, zc, c, norm=norm))
            self.posteriors.append(LatentLevel(ch, zc, c, extra_channels=sum(cfg.latent_channels[:j]), norm=norm))

        # Decoder blocks, coarse to fine.
        self.render = nn.ModuleList()
        for i in range(L):
            level = L - 1 - i
            hid = widths[level]
            out = widths[level - 1] if level > 0 else widths[0]
            zc = cfg.latent_channels[blocks.index(i)] if i in blocks else 0
            kind = "first" if i == 0 else ("last" if i == L - 1 else "up")
            image = cfg.channels + int(cfg.copy_mask)  # + the copy mask's logit
            self.render.append(RenderBlock(hid + zc, hid, out, c, widths[level], kind, image, norm))
        if cfg.he_init:  # cpu deviation (config.he_init): the frame encoder only
            init_he_(self.encoder, 0.2, layers=(nn.Conv2d,))
        if cfg.copy_mask:
            init_copy_mask_(self.render[-1], cfg.mask_bias)
        # built last: the other modules' initial weights do not depend on it
        self.velocity = VelocityNet(cfg.channels, cfg.max_velocity) if cfg.copy_velocity else None

    # ---------------------------------------------------------------------------------- parts ---
    def embed(self, frames: Tensor) -> list[Tensor]:
        """Frames ``(B, T, C, H, W)`` -> per level ``(B, T, C_l, h_l, w_l)`` (finest first)."""
        b, t = frames.shape[:2]
        x, out = frames.flatten(0, 1), []
        for level in self.encoder:
            x = level(x)
            out.append(x.view(b, t, *x.shape[1:]))
        return out

    def _level_of(self, block: int) -> int:
        return self.levels - 1 - block

    def _initial_states(self, emb: list[Tensor]) -> dict[str, list[LSTMState]]:
        c = self.cfg.context_frames
        ctx = [e[:, :c] for e in emb]
        return {"prior": [p.init(ctx[self._level_of(b)]) for p, b in zip(self.priors, self.latent_blocks)],
                "posterior": [q.init(ctx[self._level_of(b)]) for q, b in zip(self.posteriors, self.latent_blocks)],
                "render": [r.init(ctx[self._level_of(i)]) for i, r in enumerate(self.render)]}

    def _render_step(self, top: Tensor, zs: list[Tensor], states: list[LSTMState],
                     reference: Tensor | None = None) -> tuple[Tensor, list[LSTMState]]:
        """One decoded frame; with ``copy_mask`` composited over ``reference`` (the frame it may copy)."""
        x, new = top, []
        for i, block in enumerate(self.render):
            if i in self.latent_blocks:
                x = torch.cat([x, zs[self.latent_blocks.index(i)]], dim=1)
            x, s = block.step(x, states[i])
            new.append(s)
        x = torch.sigmoid(x)
        if self.cfg.copy_mask:
            x = composite_copy(x, reference)
        return x, new

    def context_references(self, context: Tensor, num_future: int) -> Tensor:
        """The copy mask's references ``(B, num_future, C, H, W)`` of the frames after ``context``
        ``(B, c, C, H, W)`` in [0, 1] with ``copy_from="context"``: the last context frame, or with
        ``copy_velocity`` that frame warped by ``h x`` the context's velocity field at horizon ``h = 1, 2, ...``."""
        last = context[:, -1]
        if self.velocity is None:
            return last[:, None].expand(-1, num_future, -1, -1, -1)
        velocity = self.velocity.of_context(context * 2 - 1)  # (B, 2, H, W), grid units per frame
        return carry_forward(last, velocity, num_future, self.cfg.velocity_pool)

    def references(self, frames: Tensor) -> Tensor:
        """The copy mask's references ``(B, T - c, C, H, W)`` of the frames after the context of clips
        ``(B, T, C, H, W)`` (teacher forcing): the frame before each (``copy_from="previous"``), or
        :meth:`context_references`."""
        c = self.cfg.context_frames
        if self.cfg.copy_from == "previous":
            return frames[:, c - 1:-1]
        return self.context_references(frames[:, :c], frames.shape[1] - c)

    def _stack_coarser(self, zs: list[Tensor], size: tuple[int, int]) -> Tensor | None:
        if not zs:
            return None
        return torch.cat([F.interpolate(z, size=size, mode="nearest") for z in zs], dim=1)

    # -------------------------------------------------------------------------------- training ---
    def teacher_forced(self, frames: Tensor, generator: torch.Generator | None = None,
                       references: Tensor | None = None) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Clips ``(B, c + p, C, H, W)`` -> reconstructions of the ``p`` frames after the context from
        posterior samples ``(B, p, C, H, W)``, the KL ``(B,)`` summed over levels, steps and
        dimensions, and the per-level KL ``(B,)`` list. ``references`` ``(B, p, C, H, W)``: the copy mask's
        (default :meth:`references`; pass them when the caller also needs them)."""
        c = self.cfg.context_frames
        b, t = frames.shape[:2]
        if self.cfg.copy_mask and references is None:
            references = self.references(frames)
        emb = self.embed(frames)
        states = self._initial_states(emb)
        kls = [frames.new_zeros(b) for _ in self.latent_blocks]
        preds = []
        for step in range(c, t):
            zs = []
            for j, blk in enumerate(self.latent_blocks):
                level = self._level_of(blk)
                cur, prev = emb[level][:, step], emb[level][:, step - 1]
                qm, qlv, states["posterior"][j] = self.posteriors[j].step(
                    cur, states["posterior"][j], self._stack_coarser(zs, cur.shape[-2:]))
                pm, plv, states["prior"][j] = self.priors[j].step(prev, states["prior"][j])
                kls[j] = kls[j] + gaussian_kl(qm, qlv, pm, plv).flatten(1).sum(1)
                zs.append(sample_gaussian(qm, qlv, generator))
            frame, states["render"] = self._render_step(emb[-1][:, step - 1], zs, states["render"],
                                                        None if references is None else references[:, step - c])
            preds.append(frame)
        return torch.stack(preds, 1), torch.stack(kls).sum(0), kls

    # ------------------------------------------------------------------------------- sampling ---
    @torch.no_grad()
    def rollout(self, context: Tensor, num_future: int, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral sampling: ``num_future`` frames after ``context`` ``(B, c, C, H, W)``, each step
        drawing every level from its prior given the frames so far (the model's own predictions
        after the context): ``(B, num_future, C, H, W)``."""
        c = self.cfg.context_frames
        if context.shape[1] != c:
            raise ValueError(f"vrnn_hier: this model conditions on {c} context frames (its ConvLSTMs start "
                             f"from them), got {context.shape[1]}")
        emb = self.embed(context)
        states = self._initial_states(emb)
        last = [e[:, -1] for e in emb]
        frames, seen = [], list(context.unbind(1))
        fixed = self.context_references(context, num_future) if self.cfg.copy_from == "context" else None
        for i in range(num_future):
            zs = []
            for j, blk in enumerate(self.latent_blocks):
                pm, plv, states["prior"][j] = self.priors[j].step(last[self._level_of(blk)], states["prior"][j])
                zs.append(sample_gaussian(pm, plv, generator))
            reference = seen[-1] if fixed is None else fixed[:, i]  # the model's own frame before, or fixed
            frame, states["render"] = self._render_step(last[-1], zs, states["render"], reference)
            frames.append(frame)
            seen.append(frame)
            last = [e[:, 0] for e in self.embed(frame[:, None])]
        return torch.stack(frames, 1)


def reconstruction_loss(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    """Per-clip reconstruction loss ``(B,)`` summed over frames and pixels (upstream ``losses.py``)."""
    if kind == "bce":
        per = F.binary_cross_entropy(pred.clamp(1e-7, 1 - 1e-7), target, reduction="none")
    elif kind == "l1":
        per = (pred - target).abs()
    elif kind == "l2":
        per = (pred - target) ** 2
    else:
        raise ValueError(f"reconstruction loss must be l1, l2 or bce, got {kind!r}")
    return per.flatten(1).sum(1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

