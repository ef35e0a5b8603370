"""DRNet networks (Denton & Birodkar, "Unsupervised Learning of Disentangled Representations from
Video", NeurIPS 2017, arXiv 1705.10915; upstream ``edenton/drnet-py``).

* content encoder ``E_c``: a frame -> ``content_dim`` vector (+ U-Net skips for the ``*_unet``
  content models); upstream ``content_encoder`` of ``dcgan_unet`` (default), ``vgg_unet`` or
  ``dcgan`` (no skips).
* pose encoder ``E_p``: a frame -> ``pose_dim`` vector (tanh, optionally L2-normalised); upstream
  ``pose_encoder`` of ``dcgan`` (default: the DCGAN encoder) or ``resnet`` (a ResNet-18-style
  trunk, :class:`ResNetPoseEncoder`).
* decoder ``D``: ``[h_c, h_p]`` -> frame, with the content encoder's skips for ``*_unet``.
* scene discriminator ``C``: an MLP on a pair of pose vectors -> P(same video).
* pose LSTM (second stage): ``[h_p(t-1), h_c]`` -> ``h_p(t)``, 2 x 256.

Only torch and ``methods.common`` are imported here.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.dcgan import spatial_levels
from methods.common.frame_codecs import (DCGANFrameDecoder, DCGANFrameEncoder, FrameBatchNorm2d, Grouped,
                                         VGGFrameDecoder, VGGFrameEncoder, composite_copy, frames_in, frames_out)
from methods.common.lstm import VectorLSTM
from methods.common.warp import VelocityNet, move_by_velocity

CONTENT_MODELS = ("dcgan_unet", "vgg_unet", "dcgan")
POSE_MODELS = ("dcgan", "resnet")


class _BasicBlock(Grouped):
    """ResNet basic block with conv biases (upstream ``conv3x3`` keeps them)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.bn1 = FrameBatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.bn2 = FrameBatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.ModuleList([nn.Conv2d(c_in, c_out, 1, stride), FrameBatchNorm2d(c_out)])

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x), groups))
        out = self.bn2(self.conv2(out), groups)
        res = x if self.down is None else self.down[1](self.down[0](x), groups)
        return F.relu(out + res)


class ResNetPoseEncoder(nn.Module):
    """Upstream ``resnet_64`` / ``resnet_128`` ``pose_encoder``: 5x5/2 conv (pad 3) + BN + ReLU,
    3x3/2 max pool, stages of two basic blocks (64, 128, 256, 512 at 64x64; a fifth of 1024 at
    128x128), a 3x3 valid conv to ``pose_dim``, BatchNorm and tanh. Returns ``(N, pose_dim)``.

    >>> tuple(ResNetPoseEncoder(1, 10, (64, 64), width=4)(torch.zeros(2, 1, 64, 64)).shape)
    (2, 10)
    """

    def __init__(self, in_channels: int, pose_dim: int, resolution: Sequence[int], width: int = 64,
                 normalize: bool = False) -> None:
        super().__init__()
        stages = {64: 4, 128: 5}.get(int(resolution[0]))
        if stages is None or resolution[0] != resolution[1]:
            raise ValueError(f"ResNetPoseEncoder: upstream has 64x64 and 128x128 variants, got {tuple(resolution)}")
        self.normalize = normalize
        self.conv1 = nn.Conv2d(in_channels, width, 5, 2, 3)
        self.bn1 = FrameBatchNorm2d(width)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layers = nn.ModuleList()
        c_in = width
        for s in range(stages):
            c_out = width * 2 ** s
            self.layers.append(nn.ModuleList([_BasicBlock(c_in, c_out, 1 if s == 0 else 2), _BasicBlock(c_out, c_out)]))
            c_in = c_out
        self.conv_out = nn.Conv2d(c_in, pose_dim, 3)
        self.bn_out = FrameBatchNorm2d(pose_dim)

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x), groups)))
        for stage in self.layers:
            for block in stage:
                x = block(x, groups)
        out = torch.tanh(self.bn_out(self.conv_out(x), groups)).flatten(1)
        return F.normalize(out, p=2, dim=1) if self.normalize else out


class DCGANPoseEncoder(DCGANFrameEncoder):
    """Upstream ``dcgan_*`` ``pose_encoder``: the DCGAN frame encoder without skips (optionally
    L2-normalised). Returns ``(N, pose_dim)``."""

    def __init__(self, in_channels: int, pose_dim: int, resolution: Sequence[int], width: int = 64,
                 normalize: bool = False) -> None:
        super().__init__(in_channels, pose_dim, resolution, width)
        self.normalize = normalize

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:  # type: ignore[override]
        h, _ = super().forward(x, groups)
        return F.normalize(h, p=2, dim=1) if self.normalize else h


class SceneDiscriminator(nn.Module):
    """Upstream ``classifiers.scene_discriminator``: ``[h_p1, h_p2]`` -> Linear(2P, nf) ReLU
    Linear(nf, nf) ReLU Linear(nf, 1) sigmoid; trained (as upstream) to output 1 for pairs shuffled
    across videos and 0 for pairs from one video."""

    def __init__(self, pose_dim: int, width: int = 100) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.Linear(2 * pose_dim, width), nn.ReLU(True), nn.Linear(width, width),
                                  nn.ReLU(True), nn.Linear(width, 1), nn.Sigmoid())

    def forward(self, pose1: Tensor, pose2: Tensor) -> Tensor:
        return self.main(torch.cat([pose1, pose2], dim=1))


class DRNet(nn.Module):
    """Content encoder, pose encoder, decoder, scene discriminator and the pose LSTM, named as
    upstream saves them (``netEC``, ``netEP``, ``netD``, ``netC``; ``lstm``)."""

    def __init__(self, cfg) -> None:  # cfg: methods.drnet.config.DRNetConfig (model.py is torch-only)
        super().__init__()
        self.cfg = cfg
        res, nc, w = tuple(cfg.model_resolution or cfg.resolution), cfg.net_channels, cfg.width
        n_out = nc + int(cfg.copy_mask)  # + the copy mask's map (cpu profile)
        spatial_levels(res)  # a clear error for sizes the conv stacks cannot take
        if cfg.content_model == "vgg_unet":
            self.content_encoder = VGGFrameEncoder(nc, cfg.content_dim, res, w)
            self.decoder = VGGFrameDecoder(cfg.content_dim + cfg.pose_dim, n_out, res, w, skip=True)
        elif cfg.content_model in ("dcgan_unet", "dcgan"):
            self.content_encoder = DCGANFrameEncoder(nc, cfg.content_dim, res, w)
            self.decoder = DCGANFrameDecoder(cfg.content_dim + cfg.pose_dim, n_out, res, w,
                                             skip=cfg.content_model == "dcgan_unet")
        else:
            raise ValueError(f"drnet: content_model must be one of {CONTENT_MODELS}, got {cfg.content_model!r}")
        if cfg.pose_model == "dcgan":
            self.pose_encoder = DCGANPoseEncoder(nc, cfg.pose_dim, res, w, cfg.normalize)
        elif cfg.pose_model == "resnet":
            self.pose_encoder = ResNetPoseEncoder(nc, cfg.pose_dim, res, w, cfg.normalize)
        else:
            raise ValueError(f"drnet: pose_model must be one of {POSE_MODELS}, got {cfg.pose_model!r}")
        self.scene_discriminator = SceneDiscriminator(cfg.pose_dim, cfg.sd_width)
        self.lstm = VectorLSTM(cfg.pose_dim + cfg.content_dim, cfg.rnn_size, cfg.pose_dim, cfg.rnn_layers,
                               normalize=cfg.normalize)
        # not upstream (cpu profile): moves the copy mask's content frame to the decoded frame's time
        self.velocity = VelocityNet(nc, cfg.max_velocity) if getattr(cfg, "copy_velocity", False) else None

    @property
    def unet(self) -> bool:
        return self.cfg.content_model.endswith("unet")

    def networks(self) -> dict[str, nn.Module]:
        return {"netEC": self.content_encoder, "netEP": self.pose_encoder, "netD": self.decoder,
                "netC": self.scene_discriminator, "lstm": self.lstm}

    def adapt(self, x: Tensor) -> Tensor:
        """Data frames -> the networks' channels and resolution (:func:`frames_in`)."""
        return frames_in(x, self.cfg.net_channels, self.cfg.model_resolution)

    def unadapt(self, y: Tensor) -> Tensor:
        return frames_out(y, self.cfg.channels, self.cfg.resolution)

    def content(self, x: Tensor, groups: int = 1) -> tuple[Tensor, list[Tensor]]:
        """``(h_c (N, content_dim), skips)`` (skips empty for the plain ``dcgan`` content model)."""
        h, skips = self.content_encoder(x, groups)
        return h, (skips if self.unet else [])

    def content_velocity(self, previous: Tensor, content_frame: Tensor) -> Tensor:
        """With ``copy_velocity``: the field ``(N, 2, H, W)`` the velocity net reads off ``previous`` and
        ``content_frame`` (the frame before it and it, ``(N, C, H, W)`` each)."""
        return self.velocity.smoothed_field(torch.stack([previous, content_frame], 1), self.cfg.velocity_pool)

    def moved_content_frame(self, previous: Tensor, content_frame: Tensor, horizons: Tensor) -> Tensor:
        """With ``copy_velocity``: ``content_frame (N, C, H, W)`` carried ``horizons (N,)`` steps (any sign) along
        :meth:`content_velocity`."""
        return move_by_velocity(content_frame, self.content_velocity(previous, content_frame), horizons)

    def decode(self, content: Tensor, skips: list[Tensor], pose: Tensor, groups: int = 1,
               content_frame: Tensor | None = None) -> Tensor:
        """The frame of ``pose`` with ``content``; with ``cfg.copy_mask`` (cpu profile) the decoder's
        mask composites its drawing over ``content_frame`` (the content encoder's input)."""
        out = self.decoder(torch.cat([content, pose], dim=1), skips if self.unet else None, groups)
        if self.cfg.copy_mask:
            out = composite_copy(out, content_frame)
        return out

    # ------------------------------------------------------------------------ stage 1 losses ---
    def disentangle_losses(self, x_c1: Tensor, x_c2: Tensor, x_p1: Tensor, x_p2: Tensor,
                           copy_source: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Upstream ``train``: ``sim + rec + sd_weight * sd`` on four frames of each clip.

        ``sim = MSE(E_c(x_c1), E_c(x_c2).detach())``, ``rec = MSE(D(E_c(x_c1), E_p(x_p1)), x_p1)``,
        ``sd = BCE(C(E_p(x_p1), E_p(x_p2).detach()), 1/2)``: the pose encoder is trained to make the
        scene discriminator maximally uncertain. All four frames are ``(B, C, H, W)`` at the
        networks' channels and resolution (:meth:`adapt`). ``copy_source`` (``copy_velocity``, cpu profile): the
        frame the copy mask copies instead of ``x_c1`` (``x_c1`` moved to ``x_p1``'s time).
        """
        h_c1, skips = self.content(x_c1)
        with torch.no_grad():
            h_c2 = self.content(x_c2)[0]  # its skips freed at once, not held through the rest of the step
        h_p1 = self.pose_encoder(x_p1)
        with torch.no_grad():  # upstream's .detach() of a graph-building call: the same numbers
            h_p2 = self.pose_encoder(x_p2)
        sim = F.mse_loss(h_c1, h_c2)
        recon = F.l1_loss if self.cfg.recon_loss == "l1" else F.mse_loss
        source = x_c1 if copy_source is None else copy_source
        rec = recon(self.decode(h_c1, skips, h_p1, content_frame=source), x_p1)
        out = self.scene_discriminator(h_p1, h_p2)
        sd = F.binary_cross_entropy(out, torch.full_like(out, 0.5))
        return sim + rec + self.cfg.sd_weight * sd, {"sim": sim.detach(), "rec": rec.detach(), "sd": sd.detach()}

    def discriminator_loss(self, x1: Tensor, x2: Tensor, perm: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Upstream ``train_scene_discriminator``: poses of two frames of each clip (detached); the
        first half of the batch is paired across clips by ``perm`` (a permutation of ``range(B // 2)``)
        and labelled 1, the second half stays paired within each clip and is labelled 0.

        (Upstream's labels: 1 for the *shuffled* half, 0 for same-video pairs; its pose-encoder
        target 1/2 is symmetric, so the naming does not change what is learnt.)
        """
        with torch.no_grad():
            h1, h2 = self.pose_encoder(x1), self.pose_encoder(x2)
        half = x1.shape[0] // 2
        h2 = torch.cat([h2[:half][perm], h2[half:]])
        target = torch.cat([torch.ones(half, 1), torch.zeros(x1.shape[0] - half, 1)]).to(h1)
        out = self.scene_discriminator(h1, h2)
        bce = F.binary_cross_entropy(out, target)
        acc = (torch.cat([out[:half] > 0.5, out[half:] <= 0.5])).float().mean()
        return bce, {"acc": acc.detach()}

    # ------------------------------------------------------------------------ stage 2 losses ---
    def lstm_loss(self, x: Tensor, context: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Upstream ``train_lstm.py`` ``train``: with the encoders frozen, ``h_c`` of the last
        context frame and ``h_p`` of every frame, ``sum_{t=1}^{T-1} MSE(lstm([h_p(t-1), h_c]), h_p(t))``.
        ``x (B, T, C, H, W)``."""
        x = self.adapt(x)
        b, t = x.shape[:2]
        with torch.no_grad():
            h_c, _ = self.content(x[:, context - 1])
            flat = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
            h_p = self.pose_encoder(flat, groups=t).view(t, b, -1).transpose(0, 1)
        inp = torch.cat([h_p[:, :-1], h_c[:, None].expand(b, t - 1, h_c.shape[1])], dim=-1)
        pred, _ = self.lstm(inp)
        mse = F.mse_loss(pred, h_p[:, 1:]) * (t - 1)
        return mse, {"mse": mse.detach()}

    # ---------------------------------------------------------------------------- generation ---
    @torch.no_grad()
    def rollout(self, context: Tensor, num_future: int) -> Tensor:
        """``num_future`` frames after ``context (B, c, C, H, W)`` (upstream ``plot_gen``): content
        (and skips) of the last context frame, the LSTM warmed up on the context poses, then fed
        its own pose predictions; each predicted pose is decoded with the fixed content."""
        context = self.adapt(context)
        b, c = context.shape[:2]
        h_c, skips = self.content(context[:, -1])
        flat = context.transpose(0, 1).reshape(c * b, *context.shape[2:])
        h_p = self.pose_encoder(flat).view(c, b, -1).transpose(0, 1)
        state = None
        if c > 1:
            _, state = self.lstm(torch.cat([h_p[:, :-1], h_c[:, None].expand(b, c - 1, h_c.shape[1])], -1))
        pose = h_p[:, -1]
        frames = []
        last = context[:, -1]
        field = None
        if self.velocity is not None:  # cpu profile: the copied frame moves on with the context's velocity
            field = self.content_velocity(context[:, -2] if c > 1 else last, last)  # one frame: no motion
        for h in range(1, num_future + 1):
            pose, state = self.lstm(torch.cat([pose, h_c], dim=-1), state)
            source = last if field is None else move_by_velocity(last, field, last.new_full((b,), float(h)))
            frames.append(self.decode(h_c, skips, pose, content_frame=source))
        return self.unadapt(torch.stack(frames, dim=1))
