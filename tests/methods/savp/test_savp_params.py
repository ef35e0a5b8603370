"""SAVP networks against the official TF code, variable by variable.

The TF1 code (``alexlee-gk/video_prediction`` at df43be59ed16c322d81fac1355c9b613bb862c10) cannot run
here, so the parameter count of every network is derived below from the trainable variables its
graph creates: each ``tf_variables_*`` function lists the variables (TF scope name -> shape) that
``savp_model.py`` / ``networks.py`` / ``ops.py`` / ``rnn_ops.py`` create for the given hparams, and the
test compares their total with our module's (tolerance 0.5%; the counts are in fact equal).

Facts the derivation uses (file: function):
* ``ops.conv_pool2d`` / ``ops.upsample_conv2d`` / ``ops.conv2d`` / ``ops.dense``: a kernel ``[kh, kw, in, out]``
  (``[in, out]``) and a bias ``[out]``; pooling and bilinear upsampling are folded into the kernel.
* ``layers.fused_instance_norm``: ``beta`` and ``gamma`` per channel.
* ``rnn_ops.BasicConv2DLSTMCell`` with a normaliser: ``kernel [5, 5, in + F, 4F]`` and no bias; one instance
  norm over the 4F gates (``separate_norms`` is False unless the norm is layer norm) and one over the state.
* ``tf.nn.rnn_cell.LSTMCell(nz)`` (``lstm_z``): ``kernel [nz + nz, 4 nz]``, ``bias [4 nz]``.
* ``tile_concat``: the (action, z) vector adds ``A + nz`` input channels to every generator layer and conv-LSTM.
* ``networks.video_sn_discriminator``: conv3d kernels/biases and a dense logit; the spectral-norm ``u``
  vectors are non-trainable and not counted.
"""

from __future__ import annotations

import math

import pytest
import torch

from methods.savp.model import PosteriorEncoder, SAVPGenerator, VideoDiscriminator, layer_specs


def count(build, *args, **kwargs) -> int:
    """Parameters of ``build(*args, **kwargs)``, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        module = build(*args, **kwargs)
    return sum(p.numel() for p in module.parameters())


def _conv(name: str, k: int | tuple, cin: int, cout: int, bias: bool = True) -> dict[str, tuple]:
    ks = (k, k) if isinstance(k, int) else k
    out = {f"{name}/kernel": (*ks, cin, cout)}
    if bias:
        out[f"{name}/bias"] = (cout,)
    return out


def _inorm(name: str, c: int) -> dict[str, tuple]:
    return {f"{name}/InstanceNorm/beta": (c,), f"{name}/InstanceNorm/gamma": (c,)}


def _conv_lstm(name: str, cin: int, f: int) -> dict[str, tuple]:
    return {f"{name}/kernel": (5, 5, cin + f, 4 * f),
            **_inorm(f"{name}/input_transform_forget_output", 4 * f), **_inorm(f"{name}/state", f)}


def tf_variables_generator(C: int, H: int, ngf: int = 32, nz: int = 8, A: int = 0, N: int = 4,
                           k: int = 5) -> dict[str, tuple]:
    """``generator/savp_cell`` (``SAVPCell.call``) for ``transformation='cdna'`` and upstream's defaults
    (prev/first image background, scratch image, dependent mask, ``use_rnn_z``)."""
    E = A + nz
    enc, dec = layer_specs(ngf, H)
    v: dict[str, tuple] = {}
    if nz:
        v.update({"lstm_z/basic_lstm_cell/kernel": (2 * nz, 4 * nz), "lstm_z/basic_lstm_cell/bias": (4 * nz,)})
    outs = []  # channels of each layer's output (layers[i][-1])
    for i, (f, rnn) in enumerate(enc):
        cin = 2 * C if i == 0 else outs[-1]
        v.update(_conv(f"h{i}/conv_pool2d", 5 if i == 0 else 3, cin + E, f))
        v.update(_inorm(f"h{i}", f))
        if rnn:
            v.update(_conv_lstm(f"lstm_h{i}", f + E, f))
        outs.append(f)
    n = len(enc)
    for i, (f, rnn) in enumerate(dec):
        cin = outs[-1] + (0 if i == 0 else outs[n - i - 1])
        v.update(_conv(f"h{n + i}/upsample_conv2d", 3, cin + E, f))
        v.update(_inorm(f"h{n + i}", f))
        if rnn:
            v.update(_conv_lstm(f"lstm_h{n + i}", f + E, f))
        outs.append(f)
    L = 2 * n
    smallest = enc[-1][0] * (H // 2 ** n) ** 2
    v.update({"cdna_kernels/dense/kernel": (smallest, k * k * N), "cdna_kernels/dense/bias": (k * k * N,)})
    v.update(_conv(f"h{L}_scratch/conv2d", 3, ngf, ngf))
    v.update(_inorm(f"h{L}_scratch", ngf))
    v.update(_conv("scratch_image/conv2d", 3, ngf, C))
    M = N + 3  # CDNA images + previous image + first image + scratch image
    v.update(_conv(f"h{L}_masks/conv2d", 3, ngf, ngf))
    v.update(_inorm(f"h{L}_masks", ngf))
    v.update(_conv("masks/conv2d", 3, ngf + M * C, M))
    return v


def tf_variables_encoder(C: int, nz: int, A: int = 0, nef: int = 64, n_layers: int = 3) -> dict[str, tuple]:
    """``generator/encoder`` (``posterior_fn`` -> ``networks.encoder``, ``use_e_rnn=False``)."""
    v: dict[str, tuple] = {}
    cin = 2 * C + A
    for i in range(n_layers):
        cout = nef * min(2 ** i, 4)
        v.update(_conv(f"layer_{i + 1}/conv2d", 4, cin, cout))
        if i:
            v.update(_inorm(f"layer_{i + 1}", cout))
        cin = cout
    for head in ("z_mu", "z_log_sigma_sq"):
        v.update({f"{head}/dense/kernel": (cin, nz), f"{head}/dense/bias": (nz,)})
    return v


def tf_variables_video_discriminator(C: int, H: int, clip: int = 10, ndf: int = 32) -> dict[str, tuple]:
    """``discriminator/video`` (``networks.video_sn_discriminator``): every conv3d pads 1 (VALID after)."""
    spec = [("sn_conv0_0", ndf, 3, (1, 1, 1)), ("sn_conv0_1", 2 * ndf, 4, (1, 2, 2)), ("sn_conv1_0", 2 * ndf, 3, (1, 1, 1)),
            ("sn_conv1_1", 4 * ndf, 4, (1, 2, 2)), ("sn_conv2_0", 4 * ndf, 3, (1, 1, 1)), ("sn_conv2_1", 8 * ndf, 4, (2, 2, 2)),
            ("sn_conv3_0", 8 * ndf, 3, (1, 1, 1))]
    v: dict[str, tuple] = {}
    cin, size = C, [clip, H, H]
    for name, cout, k, s in spec:
        v.update({f"{name}/conv3d/kernel": (k, k, k, cin, cout), f"{name}/bias": (cout,)})
        size = [(n + 2 - k) // st + 1 for n, st in zip(size, s)]
        cin = cout
    v.update({"sn_fc4/dense/kernel": (cin * math.prod(size), 1), "sn_fc4/dense/bias": (1,)})
    return v


def total(variables: dict[str, tuple]) -> int:
    return sum(math.prod(s) for s in variables.values())


# (label, C, H, nz, A): the paper's settings -- KTH (gray, nz 32), BAIR action-free (nz 8),
# BAIR action-conditioned (4-d actions), the deterministic ablation (nz 0).
GENERATORS = [("kth", 1, 64, 32, 0), ("bair_action_free", 3, 64, 8, 0), ("bair", 3, 64, 8, 4),
              ("kth_deterministic", 1, 64, 0, 0), ("bair_128px", 3, 128, 8, 0)]


@pytest.mark.parametrize("label,C,H,nz,A", GENERATORS, ids=[g[0] for g in GENERATORS])
def test_generator_parameters_match_tf_derivation(label, C, H, nz, A):
    derived = total(tf_variables_generator(C, H, nz=nz, A=A))
    ours = count(SAVPGenerator, C, (H, H), ngf=32, nz=nz, action_dim=A)
    assert abs(ours - derived) <= 0.005 * derived, (label, ours, derived)
    assert ours == derived


def test_generator_derivation_figures():
    # The KTH generator, written out (upstream layer: parameters):
    #   lstm_z 8,320 | h0 27,296 | lstm_h0 307,520 | h1 37,056 | lstm_h1 1,024,640 | h2 110,976
    #   lstm_h2 3,687,680 | h3 92,352 | lstm_h3 1,024,640 | h4 46,176 | lstm_h4 307,520 | h5 27,744
    #   cdna_kernels 819,300 | scratch 9,601 | masks 11,776                  -> 7,542,597
    assert total(tf_variables_generator(1, 64, nz=32)) == 7_542_597
    assert total(tf_variables_generator(3, 64, nz=8)) == 6_683_161  # BAIR action-free


@pytest.mark.parametrize("C,nz,A", [(1, 32, 0), (3, 8, 0), (3, 8, 4)])
def test_encoder_parameters_match_tf_derivation(C, nz, A):
    derived = total(tf_variables_encoder(C, nz, A))
    assert count(PosteriorEncoder, C, nz, A) == derived
    if (C, nz, A) == (1, 32, 0):
        assert derived == 675_072


@pytest.mark.parametrize("C,H,clip", [(1, 64, 10), (3, 64, 10), (3, 64, 8)])
def test_video_discriminator_parameters_match_tf_derivation(C, H, clip):
    derived = total(tf_variables_video_discriminator(C, H, clip))
    assert count(VideoDiscriminator, C, clip, (H, H), 32) == derived
    if (C, H, clip) == (1, 64, 10):
        assert derived == 5_142_273  # the 4x8x8x256 -> 1 logit alone is 65,537


def test_spectral_norm_vectors_are_buffers_not_parameters():
    d = VideoDiscriminator(1, 10, (64, 64), 4)
    assert not any("_u" in n or "_v" in n for n, _ in d.named_parameters())
    assert any(n.endswith("_u") for n, _ in d.named_buffers())
