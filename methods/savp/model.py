"""SAVP networks (Lee et al. 2018, "Stochastic Adversarial Video Prediction", arXiv 1804.01523).

Our PyTorch reading of ``alexlee-gk/video_prediction`` (TF1), ``video_prediction/models/savp_model.py``
(``SAVPCell``, ``posterior_fn``, ``discriminator_given_video_fn``), ``models/networks.py`` (``encoder``,
``video_sn_discriminator``), ``ops.py`` and ``rnn_ops.py``:

* :class:`SAVPGenerator` – one step per frame: a conv encoder-decoder (``conv_pool2d`` down,
  ``upsample_conv2d`` up, instance norm, ReLU) with conv-LSTMs at the inner scales and U-Net skips;
  the latent (through an LSTM, ``use_rnn_z``) and the action are tiled and concatenated to every
  layer's input (``where_add="all"``, ``use_tile_concat``). Heads: CDNA kernels from the smallest
  layer (or DNA kernels), a scratch image, and masks (conditioned on the candidate images,
  ``dependent_mask``) that composite the transformed previous frame, the previous frame and the
  first frame (``prev_image_background``, ``first_image_background``) and the scratch image.
* :class:`PosteriorEncoder` – ``networks.encoder`` on consecutive frame pairs: three 4x4 stride-2
  convs (leaky ReLU 0.2, instance norm after the first), global average pooling, dense heads for
  ``mu`` and ``log sigma^2`` (clipped to [-10, 10]).
* :class:`VideoDiscriminator` – ``video_sn_discriminator``: seven spectrally normalised 3D convs
  (leaky ReLU 0.1) and a spectrally normalised dense logit; its conv outputs are the features of
  the feature-matching (cosine distance) losses.

Layout: frames ``(B, T, C, H, W)`` in [0, 1]; per-step tensors ``(B, C, H, W)``. Only ``torch`` and
``methods.common`` are imported.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from methods.common.conv_rnn import ConvLSTM2dCell, tile_concat
from methods.common.tf_compat import LSTMCellTF, bilinear_kernel, instance_norm_tf, trunc_normal_init_
from methods.common.transforms import apply_cdna, apply_dna, composite, identity_kernel, normalize_kernels

TRANSFORMATIONS = ("cdna", "dna")


def layer_specs(ngf: int, size: int) -> tuple[list[tuple[int, bool]], list[tuple[int, bool]]]:
    """``(encoder, decoder)`` layer specs ``[(channels, has_conv_lstm), ...]`` for a frame side ``size``
    (``SAVPCell.__init__``: more scales for larger frames).

    >>> layer_specs(32, 64)
    ([(32, True), (64, True), (128, True)], [(64, True), (32, True), (32, False)])
    """
    if size >= 256:
        return ([(ngf, False), (2 * ngf, False), (4 * ngf, True), (8 * ngf, True), (8 * ngf, True)],
                [(8 * ngf, True), (4 * ngf, True), (2 * ngf, False), (ngf, False), (ngf, False)])
    if size >= 128:
        return ([(ngf, False), (2 * ngf, True), (4 * ngf, True), (8 * ngf, True)],
                [(8 * ngf, True), (4 * ngf, True), (2 * ngf, False), (ngf, False)])
    if size >= 64:
        return [(ngf, True), (2 * ngf, True), (4 * ngf, True)], [(2 * ngf, True), (ngf, True), (ngf, False)]
    if size >= 32:
        return [(ngf, True), (2 * ngf, True)], [(ngf, True), (ngf, False)]
    raise ValueError(f"savp: frames of side {size} are too small (the generator needs at least 32)")


class ConvPool2d(nn.Module):
    """``ops.conv_pool2d``: a ``k x k`` convolution (zero ``SAME`` padding) then 2x2 average pooling
    (upstream folds both into one strided convolution with the pooled kernel; the output is equal)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(self.conv(x), 2)


class UpsampleConv2d(nn.Module):
    """``ops.upsample_conv2d`` (3x3): bilinear 2x upsampling then a 3x3 convolution, computed as
    upstream's folded kernel does: the full transposed bilinear map (one ramp pixel beyond each
    border) convolved without padding, so border outputs equal upstream's exactly."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=0)
        self.register_buffer("bilinear", bilinear_kernel(2)[None, None], persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        up = F.conv_transpose2d(x, self.bilinear.expand(c, 1, 4, 4), stride=2, groups=c)  # (2H + 2, 2W + 2)
        return self.conv(up)


class SAVPGenerator(nn.Module):
    """The SAVP frame predictor (``SAVPCell``), unrolled by :meth:`forward`.

    Args:
        channels: frame channels C.
        resolution: ``(H, W)``, divisible by ``2 ** len(encoder layers)``.
        ngf: base width (upstream 32).
        nz: latent size (0: deterministic, no latent input).
        action_dim: per-step action size A (0: action-free).
        kernel_size: CDNA/DNA kernel side (upstream 5).
        num_transformed_images: CDNA kernels / DNA kernel sets (upstream 4).
        transformation: ``"cdna"`` (upstream default) or ``"dna"``.
        prev_image_background, first_image_background, generate_scratch_image, dependent_mask,
        use_rnn_z: upstream's switches (all True by default).
    """

    def __init__(self, channels: int, resolution: tuple[int, int], ngf: int = 32, nz: int = 8, action_dim: int = 0,
                 kernel_size: int = 5, num_transformed_images: int = 4, transformation: str = "cdna",
                 prev_image_background: bool = True, first_image_background: bool = True,
                 generate_scratch_image: bool = True, dependent_mask: bool = True, use_rnn_z: bool = True) -> None:
        super().__init__()
        if transformation not in TRANSFORMATIONS:
            raise ValueError(f"savp: transformation must be one of {TRANSFORMATIONS}, got {transformation!r}")
        h, w = resolution
        enc_specs, dec_specs = layer_specs(ngf, min(h, w))
        stride = 2 ** len(enc_specs)
        if h % stride or w % stride:
            raise ValueError(f"savp: frames {h}x{w} must be divisible by the total stride {stride}")
        self.channels, self.resolution, self.nz, self.action_dim = channels, (h, w), nz, action_dim
        self.kernel_size, self.num_transformed = kernel_size, num_transformed_images
        self.transformation = transformation
        self.prev_bg, self.first_bg, self.scratch = prev_image_background, first_image_background, generate_scratch_image
        self.dependent_mask = dependent_mask
        self.rnn_z = LSTMCellTF(nz, nz) if (nz and use_rnn_z) else None
        extra = action_dim + nz  # channels of the tiled (action, z) vector added to every layer

        self.enc_convs, self.enc_norms, self.enc_rnns = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        in_ch = 2 * channels  # [current image, first image]
        for i, (out, rnn) in enumerate(enc_specs):
            self.enc_convs.append(ConvPool2d(in_ch + extra, out, 5 if i == 0 else 3))
            self.enc_norms.append(instance_norm_tf(out))
            self.enc_rnns.append(ConvLSTM2dCell(out + extra, out, 5, norm="instance") if rnn else nn.Identity())
            in_ch = out
        self.dec_convs, self.dec_norms, self.dec_rnns = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        n_enc = len(enc_specs)
        for i, (out, rnn) in enumerate(dec_specs):
            skip = 0 if i == 0 else enc_specs[n_enc - i - 1][0]
            self.dec_convs.append(UpsampleConv2d(in_ch + skip + extra, out))
            self.dec_norms.append(instance_norm_tf(out))
            self.dec_rnns.append(ConvLSTM2dCell(out + extra, out, 5, norm="instance") if rnn else nn.Identity())
            in_ch = out
        self.enc_specs, self.dec_specs = enc_specs, dec_specs
        last = dec_specs[-1][0]

        k2 = kernel_size * kernel_size * num_transformed_images
        if num_transformed_images:
            if transformation == "cdna":
                small = enc_specs[-1][0] * (h // stride) * (w // stride)
                self.cdna_kernels = nn.Linear(small, k2)
            else:
                self.dna_hidden = nn.Sequential(nn.Conv2d(last, ngf, 3, padding=1), instance_norm_tf(ngf), nn.ReLU())
                self.dna_kernels = nn.Conv2d(ngf, k2, 3, padding=1)
            self.register_buffer("identity", identity_kernel(kernel_size, kernel_size), persistent=False)
        if generate_scratch_image:
            self.scratch_hidden = nn.Sequential(nn.Conv2d(last, ngf, 3, padding=1), instance_norm_tf(ngf), nn.ReLU())
            self.scratch_image = nn.Conv2d(ngf, channels, 3, padding=1)
        self.num_masks = num_transformed_images + int(prev_image_background) + int(first_image_background) + \
            int(generate_scratch_image)
        if self.num_masks < 1:
            raise ValueError("savp: no image to composite (enable a transformation, a background or the scratch image)")
        if self.num_masks > 1:
            self.mask_hidden = nn.Sequential(nn.Conv2d(last, ngf, 3, padding=1), instance_norm_tf(ngf), nn.ReLU())
            self.masks = nn.Conv2d(ngf + (self.num_masks * channels if dependent_mask else 0), self.num_masks, 3,
                                   padding=1)
        trunc_normal_init_(self)

    # ---------------------------------------------------------------------------------- one step ---
    def step(self, image: Tensor, first_image: Tensor, z: Tensor | None, action: Tensor | None,
             state: dict | None, background: Tensor | None = None) -> tuple[Tensor, dict, dict[str, Tensor]]:
        """Predict the next frame from ``image (B, C, H, W)``; ``background (B, C, H, W)`` replaces ``image`` as
        the previous-image candidate (not upstream: the cpu profiles' moving copy source; default ``image``).

        Returns ``(next_image, new_state, aux)``; ``aux`` holds ``masks (B, M, 1, H, W)``,
        ``transformed (B, M, C, H, W)`` and the normalised ``kernels``.
        """
        state = state or {}
        extras = []
        if action is not None:
            extras.append(action)
        new_state: dict = {}
        if z is not None:
            if self.rnn_z is not None:
                z, new_state["rnn_z"] = self.rnn_z(z, state.get("rnn_z"))
            extras.append(z)
        sa_z = torch.cat(extras, dim=1) if extras else None
        rnn_states = list(state.get("conv_rnn", [None] * len(self.enc_rnns) * 2))
        new_rnn, r = [], 0
        layers: list[Tensor] = []  # the output of every scale (after its conv-LSTM if any)
        h = torch.cat([image, first_image], dim=1)
        for i, (conv, norm, rnn) in enumerate(zip(self.enc_convs, self.enc_norms, self.enc_rnns)):
            h = F.relu(norm(conv(tile_concat(h if i == 0 else layers[-1], sa_z))))
            if isinstance(rnn, ConvLSTM2dCell):
                h, st = rnn(tile_concat(h, sa_z), rnn_states[r])
                new_rnn.append(st)
                r += 1
            layers.append(h)
        n_enc = len(layers)
        for i, (conv, norm, rnn) in enumerate(zip(self.dec_convs, self.dec_norms, self.dec_rnns)):
            h = layers[-1] if i == 0 else torch.cat([layers[-1], layers[n_enc - i - 1]], dim=1)
            h = F.relu(norm(conv(tile_concat(h, sa_z))))
            if isinstance(rnn, ConvLSTM2dCell):
                h, st = rnn(tile_concat(h, sa_z), rnn_states[r])
                new_rnn.append(st)
                r += 1
            layers.append(h)
        new_state["conv_rnn"] = new_rnn
        top = layers[-1]

        aux: dict[str, Tensor] = {}
        candidates = []
        if self.num_transformed:
            k = self.kernel_size
            if self.transformation == "cdna":
                kernels = self.cdna_kernels(layers[n_enc - 1].flatten(1)).view(-1, self.num_transformed, k, k)
                kernels = normalize_kernels(kernels + self.identity, dims=(2, 3))
                candidates.append(apply_cdna(image, kernels, padding="symmetric"))
            else:
                b, _, hh, ww = top.shape
                kernels = self.dna_kernels(self.dna_hidden(top)).view(b, k, k, self.num_transformed, hh, ww)
                kernels = kernels.permute(0, 3, 1, 2, 4, 5) + self.identity[None, None, :, :, None, None]
                kernels = normalize_kernels(kernels, dims=(2, 3))
                candidates.append(apply_dna(image, kernels, padding="symmetric"))
            aux["kernels"] = kernels
        if self.prev_bg:
            candidates.append((image if background is None else background)[:, None])
        if self.first_bg:
            candidates.append(first_image[:, None])
        if self.scratch:
            candidates.append(torch.sigmoid(self.scratch_image(self.scratch_hidden(top)))[:, None])
        transformed = torch.cat(candidates, dim=1)  # (B, M, C, H, W)
        if self.num_masks > 1:
            hm = self.mask_hidden(top)
            if self.dependent_mask:
                hm = torch.cat([hm, transformed.flatten(1, 2)], dim=1)
            masks = torch.softmax(self.masks(hm), dim=1)[:, :, None]
        else:
            masks = transformed.new_ones(transformed.shape[0], 1, 1, *transformed.shape[-2:])
        aux.update(masks=masks, transformed=transformed)
        return composite(transformed, masks), new_state, aux

    # ---------------------------------------------------------------------------------- unrolled ---
    def forward(self, frames: Tensor, num_steps: int, zs: Tensor | None = None, actions: Tensor | None = None,
                use_truth: Tensor | None = None, backgrounds: Tensor | None = None) -> Tensor:
        """Predictions of frames ``1 .. num_steps`` (``(B, num_steps, C, H, W)``).

        Args:
            frames: ground-truth frames ``(B, T_in, C, H, W)``; frame 0 is also the first-frame source.
            num_steps: steps to unroll; step ``t`` reads frame ``t`` and predicts frame ``t + 1``.
            zs: latents ``(B, num_steps, nz)`` (required iff ``nz > 0``).
            actions: ``(B, >= num_steps, A)``; action ``t`` acts between frames ``t`` and ``t + 1``.
            use_truth: ``(B, num_steps)`` bool: feed the true frame ``t`` (else the previous
                prediction). Default: the true frames while they last (``t < T_in``).
            backgrounds: ``(B, num_steps, C, H, W)``: the previous-image candidate of each step (:meth:`step`).
        """
        b, t_in = frames.shape[:2]
        if (zs is None) != (self.nz == 0):
            raise ValueError(f"savp: the generator has nz={self.nz}; zs must be {'given' if self.nz else 'None'}")
        if self.action_dim and (actions is None or actions.shape[1] < num_steps):
            raise ValueError(f"savp: the generator is action-conditioned (A={self.action_dim}) and needs "
                             f"actions (B, >= {num_steps}, A)")
        if use_truth is None:
            use_truth = (torch.arange(num_steps, device=frames.device) < t_in).expand(b, num_steps)
        elif bool(use_truth[:, t_in:].any()):
            raise ValueError(f"savp: use_truth asks for true frames beyond the {t_in} given")
        first = frames[:, 0]
        state, prev, out = None, None, []
        for t in range(num_steps):
            if prev is None:
                image = frames[:, t]
            else:
                truth = use_truth[:, t]
                if bool(truth.all()):
                    image = frames[:, t]
                elif not bool(truth.any()):
                    image = prev
                else:
                    image = torch.where(truth[:, None, None, None], frames[:, min(t, t_in - 1)], prev)
            prev, state, _ = self.step(image, first, None if zs is None else zs[:, t],
                                       None if not self.action_dim else actions[:, t], state,
                                       None if backgrounds is None else backgrounds[:, t])
            out.append(prev)
        return torch.stack(out, dim=1)


class PosteriorEncoder(nn.Module):
    """``posterior_fn``: ``q(z_t | x_t, x_{t+1})`` for every consecutive pair.

    ``forward(frames (B, T, C, H, W), actions (B, >= T-1, A) | None) -> (mu, log_sigma_sq)`` each
    ``(B, T - 1, nz)``; ``log_sigma_sq`` is clipped to [-10, 10] as upstream.
    """

    def __init__(self, channels: int, nz: int, action_dim: int = 0, nef: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        self.action_dim = action_dim
        layers: list[nn.Module] = []
        in_ch = 2 * channels + action_dim
        for i in range(n_layers):
            out = nef * min(2 ** i, 4)
            layers.append(nn.Conv2d(in_ch, out, 4, stride=2, padding=1))
            if i > 0:
                layers.append(instance_norm_tf(out))
            layers.append(nn.LeakyReLU(0.2))
            in_ch = out
        self.net = nn.Sequential(*layers)
        self.mu = nn.Linear(in_ch, nz)
        self.log_sigma_sq = nn.Linear(in_ch, nz)
        trunc_normal_init_(self)

    def forward(self, frames: Tensor, actions: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, t = frames.shape[:2]
        pairs = torch.cat([frames[:, :-1], frames[:, 1:]], dim=2).flatten(0, 1)
        if self.action_dim:
            if actions is None:
                raise ValueError("savp: the encoder is action-conditioned and needs actions")
            pairs = tile_concat(pairs, actions[:, :t - 1].flatten(0, 1))
        h = self.net(pairs).mean(dim=(2, 3))
        mu = self.mu(h).view(b, t - 1, -1)
        return mu, self.log_sigma_sq(h).clamp(-10, 10).view(b, t - 1, -1)


class VideoDiscriminator(nn.Module):
    """``video_sn_discriminator``: ``clip (B, L, C, H, W) -> (features [7 maps], logits (B, 1))``."""

    def __init__(self, channels: int, clip_length: int, resolution: tuple[int, int], ndf: int = 32) -> None:
        super().__init__()
        spec = [(ndf, 3, 1), (2 * ndf, 4, (1, 2, 2)), (2 * ndf, 3, 1), (4 * ndf, 4, (1, 2, 2)), (4 * ndf, 3, 1),
                (8 * ndf, 4, 2), (8 * ndf, 3, 1)]
        self.convs = nn.ModuleList()
        in_ch, size = channels, [clip_length, *resolution]
        for out, k, s in spec:
            s3 = (s, s, s) if isinstance(s, int) else s
            self.convs.append(spectral_norm(nn.Conv3d(in_ch, out, k, stride=s3, padding=1)))
            size = [(n + 2 - k) // st + 1 for n, st in zip(size, s3)]
            in_ch = out
        if min(size) < 1:
            raise ValueError(f"savp: clips of {clip_length} frames of {resolution} are too small for the discriminator")
        self.fc = spectral_norm(nn.Linear(in_ch * math.prod(size), 1))
        trunc_normal_init_(self)

    def forward(self, clip: Tensor) -> tuple[list[Tensor], Tensor]:
        h = clip.transpose(1, 2)  # (B, C, L, H, W)
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            features.append(h)
        return features, self.fc(h.flatten(1))
