"""SV2P networks against tensor2tensor's TF code, variable by variable.

tensor2tensor (``tensorflow/tensor2tensor`` at bafdc1b67730430d38d6ab802cbd51f9d053ba2e) cannot run here, so
the parameter count of each network is derived from the trainable variables that
``models/video/sv2p.py`` (``NextFrameSv2p.bottom_part_tower`` / ``construct_predictive_tower``, not small or
tiny mode, no reward head) and ``layers/common_video.py`` (``conv_latent_tower``, ``cdna_transformation``,
``inject_additional_input``) create, listed as TF scope -> shape; the test compares their total with our
modules' (tolerance 0.5%; the counts are in fact equal).

Facts the derivation uses:
* ``tf.layers.conv2d`` / ``conv2d_transpose`` / ``dense``: kernel and bias.
* ``tf.contrib.rnn.ConvLSTMCell`` (``conv_lstm_2d``, 5x5): ``kernel [5, 5, in + F, 4F]`` and ``bias [4F]``.
* ``tf.contrib.layers.layer_norm``: ``beta`` and ``gamma`` over the last (channel) axis.
* ``lstm_size = [32, 32, 64, 64, 128, 64, 32]``, ``conv_size = [32]``; the latent map (1 channel at 1/8
  resolution) is concatenated before ``conv4``; ``cdna_params`` is dense on the flattened 8x8x128 map;
  the masks are ``num_masks + 1`` (1x1 conv); ``action_injection="multi_additive"`` adds two dense layers.
"""

from __future__ import annotations

import math

import pytest
import torch

from methods.sv2p.model import LatentTower, SV2PPredictor


def count(build, *args, **kwargs) -> int:
    with torch.device("meta"):
        module = build(*args, **kwargs)
    return sum(p.numel() for p in module.parameters())


def _conv(name: str, k: int, cin: int, cout: int) -> dict[str, tuple]:
    return {f"{name}/kernel": (k, k, cin, cout), f"{name}/bias": (cout,)}


def _ln(name: str, c: int) -> dict[str, tuple]:
    return {f"{name}/beta": (c,), f"{name}/gamma": (c,)}


def _lstm(name: str, cin: int, f: int) -> dict[str, tuple]:
    return {f"{name}/conv_lstm_cell/kernel": (5, 5, cin + f, 4 * f), f"{name}/conv_lstm_cell/bias": (4 * f,)}


def tf_variables_predictor(C: int, H: int, num_masks: int = 10, latent: int = 1, A: int = 0) -> dict[str, tuple]:
    """``next_frame_sv2p/body/main`` for ``model_options="CDNA"``."""
    l = [32, 32, 64, 64, 128, 64, 32]
    v: dict[str, tuple] = {}
    v.update(_conv("scale1_conv1", 5, C, 32)); v.update(_ln("layer_norm1", 32))
    v.update(_lstm("state1", 32, l[0])); v.update(_ln("layer_norm2", l[0]))
    v.update(_lstm("state2", l[0], l[1])); v.update(_ln("layer_norm3", l[1]))
    v.update(_conv("conv2", 3, l[1], l[1]))
    v.update(_lstm("state3", l[1], l[2])); v.update(_ln("layer_norm4", l[2]))
    v.update(_lstm("state4", l[2], l[3])); v.update(_ln("layer_norm5", l[3]))
    v.update(_conv("conv3", 3, l[3], l[3]))
    if A:  # inject_additional_input(mode="multi_additive"): dense layers on the action
        v.update({"action_enc_mul/kernel": (A, l[3]), "action_enc_mul/bias": (l[3],),
                  "action_enc_add/kernel": (A, l[3]), "action_enc_add/bias": (l[3],)})
    v.update(_conv("conv4", 1, l[3] + latent, l[3]))
    v.update(_lstm("state5", l[3], l[4])); v.update(_ln("layer_norm6", l[4]))
    v.update(_conv("upsample1/upconv/conv2d_transpose", 3, l[4], l[4]))
    v.update(_lstm("state6", l[4], l[5])); v.update(_ln("layer_norm7", l[5]))
    v.update(_conv("upsample2/upconv/conv2d_transpose", 3, l[5] + l[1], l[5] + l[1]))
    v.update(_lstm("state7", l[5] + l[1], l[6])); v.update(_ln("layer_norm8", l[6]))
    top = l[6] + 32
    v.update(_conv("upsample3/upconv/conv2d_transpose", 3, top, top)); v.update(_ln("layer_norm9", top))
    v.update(_conv("convt4", 1, top, C))
    v.update({"cdna_params/kernel": (l[4] * (H // 8) ** 2, 25 * num_masks), "cdna_params/bias": (25 * num_masks,)})
    v.update(_conv("convt7", 1, top, num_masks + 1))
    return v


def tf_variables_latent_tower(C: int, T: int, latent: int = 1) -> dict[str, tuple]:
    """``latent`` scope of ``conv_latent_tower`` on ``T`` frames stacked on channels."""
    v: dict[str, tuple] = {}
    v.update(_conv("latent_conv1", 3, T * C, 32)); v.update(_ln("LayerNorm", 32))
    v.update(_conv("latent_conv2", 3, 32, 64)); v.update(_ln("LayerNorm_1", 64))
    v.update(_conv("latent_conv3", 3, 64, 64)); v.update(_ln("LayerNorm_2", 64))
    v.update(_conv("latent_mean", 3, 64, latent)); v.update(_conv("latent_std", 3, 64, latent))
    return v


def total(variables: dict[str, tuple]) -> int:
    return sum(math.prod(s) for s in variables.values())


@pytest.mark.parametrize("label,C,A,latent", [("kth", 1, 0, 1), ("bair_action_free", 3, 0, 1),
                                              ("bair_action_conditioned", 3, 4, 1), ("deterministic", 3, 0, 0)])
def test_predictor_parameters_match_tf_derivation(label, C, A, latent):
    derived = total(tf_variables_predictor(C, 64, latent=latent, A=A))
    ours = count(SV2PPredictor, C, (64, 64), num_masks=10, latent_channels=latent, action_dim=A)
    assert abs(ours - derived) <= 0.005 * derived, (label, ours, derived)
    assert ours == derived


def test_predictor_derivation_figure():
    # BAIR (RGB): the seven conv-LSTMs hold 5.94M of 8.31M parameters; cdna_params (8192 -> 250) 2.05M.
    assert total(tf_variables_predictor(3, 64)) == 8_311_432
    assert total(tf_variables_predictor(1, 64)) == 8_309_702  # KTH (gray)


@pytest.mark.parametrize("C,T", [(1, 20), (3, 12)])
def test_latent_tower_parameters_match_tf_derivation(C, T):
    derived = total(tf_variables_latent_tower(C, T))
    assert count(LatentTower, C, T, 1) == derived
    if (C, T) == (3, 12):
        assert derived == 67_298
