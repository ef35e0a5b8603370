"""SV2P networks (Babaeizadeh et al. 2018, "Stochastic Variational Video Prediction", ICLR, arXiv 1710.11252).

Our PyTorch reading of tensor2tensor (TF1) ``tensor2tensor/models/video/sv2p.py`` (``NextFrameSv2p``:
``bottom_part_tower`` + ``construct_predictive_tower``) and ``tensor2tensor/layers/common_video.py``
(``conv_latent_tower``, ``cdna_transformation``, ``dna_transformation``, ``inject_additional_input``):

* :class:`SV2PPredictor` – the CDNA predictor of Finn et al. 2016 with seven conv-LSTMs (5x5) and
  layer norm: ``5x5/2`` conv -> LSTM 32, LSTM 32 -> ``3x3/2`` conv -> LSTM 64, LSTM 64 -> ``3x3/2`` conv
  -> [action injection] -> [latent concatenated] -> ``1x1`` conv -> LSTM 128 -> up -> LSTM 64 (+skip)
  -> up -> LSTM 32 (+skip) -> up -> heads. Heads: 10 CDNA kernels (dense on the 8x8 LSTM-128 map), a
  scratch image (sigmoid), and 11 masks (softmax) compositing the previous frame, the scratch image
  and the CDNA-transformed previous frames.
* :class:`LatentTower` – the inference network ``q(z | x_{0:T-1})``: all frames stacked on channels,
  three convs (3x3, strides 2, 2, 1, ReLU + layer norm), then ``3x3/2`` convs for the mean and
  ``log var = relu(.) - 5``: one latent map ``(latent_channels, H/8, W/8)`` per video.

Faithful to upstream quirks (see README): the masks are ``num_masks + 1`` but the candidates are the
scratch image plus ``num_masks`` CDNA images, and upstream's ``zip`` pairs only the first ``num_masks``
of them with masks, so the last CDNA kernel is computed but never composited; CDNA pads with zeros.

Layout: frames ``(B, T, C, H, W)`` in [0, 1]. Only ``torch`` and ``methods.common`` are imported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common.conv_rnn import ConvLSTM2dCell
from methods.common.tf_compat import Conv2dSame, layer_norm_tf, variance_scaling_init_
from methods.common.transforms import apply_cdna, apply_dna, composite, init_shift_kernels_, normalize_kernels

LSTM_SIZES = (32, 32, 64, 64, 128, 64, 32)  # upstream lstm_size
CONV_SIZE = 32                              # upstream conv_size[0]
LATENT_SIZES = (32, 64, 64)                 # conv_latent_tower conv_size
MODELS = ("cdna", "dna")


def _narrow(sizes: tuple[int, ...], divisor: int) -> list[int]:
    """Widths divided by ``divisor`` (at least 1), as tensor2tensor's ``tinyify``."""
    return [max(s // divisor, 1) for s in sizes]


class Upsample(nn.Module):
    """``cyclegan_upsample(method="conv2d_transpose")``: 3x3 stride-2 transposed conv + ReLU, then
    upstream's crop ``[1:, 1:]`` of the ``2n + 1`` output, i.e. ``padding=1, output_padding=1``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv(x))


class SV2PPredictor(nn.Module):
    """The SV2P frame predictor, unrolled by :meth:`forward`.

    Args:
        channels: frame channels C.
        resolution: ``(H, W)``, divisible by 8.
        num_masks: CDNA kernels (upstream 10); DNA needs 1.
        latent_channels: channels of the latent map concatenated at 1/8 resolution (0: deterministic).
        action_dim: per-step action size A (0: action-free).
        model: ``"cdna"`` (upstream default) or ``"dna"``.
        kernel_size: CDNA/DNA kernel side (upstream ``dna_kernel_size`` 5).
        relu_shift: kernel normalisation shift (upstream 1e-12).
        width_divisor: divides every width (1 = upstream; the ``cpu`` profile narrows the network).
        cdna_shift_init: ``> 0``: the CDNA kernels start as the identity and whole-pixel shifts
            (:func:`~methods.common.transforms.init_shift_kernels_`, input weights scaled by this);
            0 = upstream's random kernels.
        copy_mask_bias: added to the initial bias of mask 0 (the copied frame), so training starts from a
            mostly copied frame (0 = upstream).
    """

    def __init__(self, channels: int, resolution: tuple[int, int], num_masks: int = 10, latent_channels: int = 1,
                 action_dim: int = 0, model: str = "cdna", kernel_size: int = 5, relu_shift: float = 1e-12,
                 width_divisor: int = 1, cdna_shift_init: float = 0.0, copy_mask_bias: float = 0.0) -> None:
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"sv2p: model must be one of {MODELS}, got {model!r}")
        if model == "dna" and num_masks != 1:
            raise ValueError("sv2p: the DNA model supports only one mask (upstream raises the same)")
        h, w = resolution
        if h % 8 or w % 8:
            raise ValueError(f"sv2p: frames {h}x{w} must be divisible by 8 (three stride-2 stages)")
        self.channels, self.resolution = channels, (h, w)
        self.num_masks, self.latent_channels, self.action_dim = num_masks, latent_channels, action_dim
        self.model, self.kernel_size, self.relu_shift = model, kernel_size, relu_shift
        l0, l1, l2, l3, l4, l5, l6 = _narrow(LSTM_SIZES, width_divisor)
        c0 = _narrow((CONV_SIZE,), width_divisor)[0]

        self.scale1_conv1 = Conv2dSame(channels, c0, 5, stride=2)
        self.layer_norm1 = layer_norm_tf(c0)
        self.state1, self.layer_norm2 = ConvLSTM2dCell(c0, l0), layer_norm_tf(l0)
        self.state2, self.layer_norm3 = ConvLSTM2dCell(l0, l1), layer_norm_tf(l1)
        self.conv2 = Conv2dSame(l1, l1, 3, stride=2)
        self.state3, self.layer_norm4 = ConvLSTM2dCell(l1, l2), layer_norm_tf(l2)
        self.state4, self.layer_norm5 = ConvLSTM2dCell(l2, l3), layer_norm_tf(l3)
        self.conv3 = Conv2dSame(l3, l3, 3, stride=2)
        if action_dim:  # inject_additional_input(mode="multi_additive"), next_frame_base's default
            self.action_mul = nn.Linear(action_dim, l3)
            self.action_add = nn.Linear(action_dim, l3)
        self.conv4 = Conv2dSame(l3 + latent_channels, l3, 1)
        self.state5, self.layer_norm6 = ConvLSTM2dCell(l3, l4), layer_norm_tf(l4)
        self.upsample1 = Upsample(l4)
        self.state6, self.layer_norm7 = ConvLSTM2dCell(l4, l5), layer_norm_tf(l5)
        self.upsample2 = Upsample(l5 + l1)
        self.state7, self.layer_norm8 = ConvLSTM2dCell(l5 + l1, l6), layer_norm_tf(l6)
        self.upsample3 = Upsample(l6 + c0)
        self.layer_norm9 = layer_norm_tf(l6 + c0)
        top = l6 + c0
        # conv2d_transpose with a 1x1 kernel and stride 1 is a 1x1 convolution
        self.convt4 = nn.Conv2d(top, kernel_size ** 2 if model == "dna" else channels, 1)
        if model == "cdna":
            self.cdna_params = nn.Linear(l4 * (h // 8) * (w // 8), kernel_size * kernel_size * num_masks)
        self.convt7 = nn.Conv2d(top, num_masks + 1, 1)
        variance_scaling_init_(self, 1.3)
        if model == "cdna" and cdna_shift_init > 0:
            init_shift_kernels_(self.cdna_params, num_masks, kernel_size, cdna_shift_init)
        with torch.no_grad():
            self.convt7.bias[0] += copy_mask_bias

    def latent_shape(self) -> tuple[int, int, int]:
        return self.latent_channels, self.resolution[0] // 8, self.resolution[1] // 8

    # ---------------------------------------------------------------------------------- one step ---
    def step(self, image: Tensor, latent: Tensor | None, action: Tensor | None,
             state: list | None, background: Tensor | None = None) -> tuple[Tensor, list, dict[str, Tensor]]:
        """``image (B, C, H, W)`` -> ``(next_image, state, aux)``; ``aux``: ``masks``, ``transformed``, ``kernels``.

        ``background (B, C, H, W)``: the image mask 0 copies (default, upstream: ``image`` itself; the cpu
        profile's moving source passes the last context frame carried along a velocity field)."""
        st = list(state) if state is not None else [None] * 7
        enc0 = self.layer_norm1(F.relu(self.scale1_conv1(image)))
        hidden1, st[0] = self.state1(enc0, st[0])
        hidden2, st[1] = self.state2(self.layer_norm2(hidden1), st[1])
        hidden2 = self.layer_norm3(hidden2)
        enc1 = F.relu(self.conv2(hidden2))
        hidden3, st[2] = self.state3(enc1, st[2])
        hidden4, st[3] = self.state4(self.layer_norm4(hidden3), st[3])
        hidden4 = self.layer_norm5(hidden4)
        enc2 = F.relu(self.conv3(hidden4))
        if self.action_dim:
            if action is None:
                raise ValueError("sv2p: the predictor is action-conditioned and needs an action per step")
            enc2 = enc2 * torch.sigmoid(self.action_mul(action))[:, :, None, None] + \
                self.action_add(action)[:, :, None, None]
        if self.latent_channels:
            if latent is None:
                raise ValueError("sv2p: the predictor is stochastic and needs a latent")
            enc2 = torch.cat([enc2, latent], dim=1)
        enc3 = F.relu(self.conv4(enc2))
        hidden5, st[4] = self.state5(enc3, st[4])
        hidden5 = self.layer_norm6(hidden5)
        enc4 = self.upsample1(hidden5)
        hidden6, st[5] = self.state6(enc4, st[5])
        hidden6 = torch.cat([self.layer_norm7(hidden6), enc1], dim=1)
        enc5 = self.upsample2(hidden6)
        hidden7, st[6] = self.state7(enc5, st[6])
        hidden7 = torch.cat([self.layer_norm8(hidden7), enc0], dim=1)
        enc6 = self.layer_norm9(self.upsample3(hidden7))
        enc7 = self.convt4(enc6)

        k = self.kernel_size
        if self.model == "cdna":
            kernels = self.cdna_params(hidden5.flatten(1)).view(-1, self.num_masks, k, k)
            kernels = normalize_kernels(kernels, dims=(2, 3), relu_shift=self.relu_shift)
            candidates = torch.cat([torch.sigmoid(enc7)[:, None], apply_cdna(image, kernels, padding="zeros")], dim=1)
        else:
            b, _, hh, ww = enc7.shape
            kernels = normalize_kernels(enc7.view(b, 1, k, k, hh, ww), dims=(2, 3), relu_shift=self.relu_shift)
            candidates = apply_dna(image, kernels, padding="zeros")
        masks = torch.softmax(self.convt7(enc6), dim=1)[:, :, None]  # (B, num_masks + 1, 1, H, W)
        # mask 0 weighs the previous frame; masks 1.. pair with the candidates in order, and (upstream's
        # zip) a candidate without a mask -- the last CDNA image -- is dropped.
        copied = image if background is None else background
        used = torch.cat([copied[:, None], candidates[:, :self.num_masks]], dim=1)
        out = composite(used, masks)
        return out, st, {"masks": masks, "transformed": used, "kernels": kernels}

    # ---------------------------------------------------------------------------------- unrolled ---
    def forward(self, frames: Tensor, num_steps: int, latent: Tensor | None = None, actions: Tensor | None = None,
                use_truth: Tensor | None = None, backgrounds: Tensor | None = None) -> Tensor:
        """Predictions of frames ``1 .. num_steps`` (``(B, num_steps, C, H, W)``).

        Args:
            frames: ground-truth frames ``(B, T_in, C, H, W)``.
            num_steps: step ``t`` reads frame ``t`` (true or predicted) and predicts frame ``t + 1``.
            latent: ``(B, Lc, H/8, W/8)`` (time-invariant) or ``(B, num_steps, Lc, H/8, W/8)``
                (time-variant); required iff ``latent_channels > 0``.
            actions: ``(B, >= num_steps, A)``.
            use_truth: ``(B, num_steps)`` bool: feed the true frame ``t`` instead of the previous
                prediction. Default: the true frames while they last.
            backgrounds: ``(B, num_steps, C, H, W)``: what mask 0 copies at each step (:meth:`step`);
                default: the frame the step reads.
        """
        b, t_in = frames.shape[:2]
        if use_truth is None:
            use_truth = (torch.arange(num_steps, device=frames.device) < t_in).expand(b, num_steps)
        elif bool(use_truth[:, t_in:].any()):
            raise ValueError(f"sv2p: use_truth asks for true frames beyond the {t_in} given")
        if self.action_dim and (actions is None or actions.shape[1] < num_steps):
            raise ValueError(f"sv2p: the predictor is action-conditioned and needs actions (B, >= {num_steps}, A)")
        state, prev, out = None, None, []
        for t in range(num_steps):
            truth = use_truth[:, t]
            if prev is None or bool(truth.all()):
                image = frames[:, t]
            elif not bool(truth.any()):
                image = prev
            else:
                image = torch.where(truth[:, None, None, None], frames[:, min(t, t_in - 1)], prev)
            z = latent if latent is None or latent.ndim == 4 else latent[:, t]
            bg = None if backgrounds is None else backgrounds[:, t]
            prev, state, _ = self.step(image, z, actions[:, t] if self.action_dim else None, state, bg)
            out.append(prev)
        return torch.stack(out, dim=1)


class LatentTower(nn.Module):
    """``conv_latent_tower``: ``frames (B, T, C, H, W) -> (mean, log_var)`` each ``(B, Lc, H/8, W/8)``."""

    def __init__(self, channels: int, num_frames: int, latent_channels: int = 1, min_logvar: float = -5.0,
                 width_divisor: int = 1) -> None:
        super().__init__()
        s1, s2, s3 = _narrow(LATENT_SIZES, width_divisor)
        self.num_frames, self.min_logvar = num_frames, min_logvar
        self.latent_conv1, self.norm1 = Conv2dSame(channels * num_frames, s1, 3, stride=2), layer_norm_tf(s1)
        self.latent_conv2, self.norm2 = Conv2dSame(s1, s2, 3, stride=2), layer_norm_tf(s2)
        self.latent_conv3, self.norm3 = Conv2dSame(s2, s3, 3, stride=1), layer_norm_tf(s3)
        self.latent_mean = Conv2dSame(s3, latent_channels, 3, stride=2)
        self.latent_std = Conv2dSame(s3, latent_channels, 3, stride=2)
        variance_scaling_init_(self, 1.3)

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        if frames.shape[1] != self.num_frames:
            raise ValueError(f"sv2p: the latent tower reads {self.num_frames} frames, got {frames.shape[1]}")
        x = frames.flatten(1, 2)  # frames stacked on channels, time-major as upstream's concat
        x = self.norm1(F.relu(self.latent_conv1(x)))
        x = self.norm2(F.relu(self.latent_conv2(x)))
        x = self.norm3(F.relu(self.latent_conv3(x)))
        return self.latent_mean(x), F.relu(self.latent_std(x)) + self.min_logvar
