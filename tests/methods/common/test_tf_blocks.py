"""The TF-semantics building blocks shared by SAVP and SV2P: CDNA/DNA transformations, SAME padding,
symmetric padding, bilinear upsampling, conv_pool / upsample_conv as upstream folds them, conv-LSTMs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from methods.common.conv_rnn import ConvLSTM2dCell, tile_concat
from methods.common.tf_compat import (Conv2dSame, LSTMCellTF, bilinear_kernel, bilinear_upsample2x, pad_symmetric,
                                      same_padding)
from methods.common.transforms import apply_cdna, apply_dna, composite, identity_kernel, normalize_kernels


def test_identity_kernels_leave_images_unchanged():
    img = torch.rand(3, 2, 9, 7)
    ident = identity_kernel(5, 5).expand(3, 2, 5, 5)
    for padding in ("symmetric", "zeros"):
        out = apply_cdna(img, ident, padding=padding)
        assert out.shape == (3, 2, 2, 9, 7)
        assert torch.allclose(out, img[:, None].expand_as(out), atol=1e-6)
    dna_ident = identity_kernel(3, 3).view(1, 1, 3, 3, 1, 1).expand(3, 1, 3, 3, 9, 7)
    assert torch.allclose(apply_dna(img, dna_ident)[:, 0], img, atol=1e-6)
    assert identity_kernel(4, 4).sum() == 1 and identity_kernel(4, 4)[1:3, 1:3].eq(0.25).all()


def test_cdna_shift_is_a_cross_correlation_per_sample():
    img = torch.arange(2 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5)
    k = torch.zeros(2, 1, 3, 3)
    k[0, 0, 1, 2] = 1.0  # sample 0: out(y, x) = in(y, x + 1)
    k[1, 0, 0, 1] = 1.0  # sample 1: out(y, x) = in(y - 1, x)
    out = apply_cdna(img, k, padding="zeros")[:, 0, 0]
    assert torch.equal(out[0, :, :4], img[0, 0, :, 1:]) and out[0, :, 4].eq(0).all()
    assert torch.equal(out[1, 1:], img[1, 0, :4]) and out[1, 0].eq(0).all()
    # symmetric padding repeats the edge pixel where zero padding has zeros
    sym = apply_cdna(img, k, padding="symmetric")[:, 0, 0]
    assert torch.equal(sym[0, :, 4], img[0, 0, :, 4]) and torch.equal(sym[1, 0], img[1, 0, 0])


def test_dna_applies_one_kernel_per_pixel():
    img = torch.rand(1, 3, 4, 4)
    k = torch.zeros(1, 1, 3, 3, 4, 4)
    k[0, 0, 1, 1] = 1.0          # identity everywhere ...
    k[0, 0, 1, 1, 2, 2] = 0.0
    k[0, 0, 1, 2, 2, 2] = 1.0    # ... except pixel (2, 2), which reads (2, 3)
    out = apply_dna(img, k)[0, 0]
    expected = img[0].clone()
    expected[:, 2, 2] = img[0, :, 2, 3]
    assert torch.allclose(out, expected)


def test_kernel_normalisation_is_positive_and_sums_to_one():
    k = torch.randn(4, 3, 5, 5)
    k[0] = -1.0  # all negative: every tap becomes the shift, the kernel uniform
    n = normalize_kernels(k, dims=(2, 3))
    assert (n > 0).all()
    assert torch.allclose(n.sum((2, 3)), torch.ones(4, 3))
    assert torch.allclose(n[0], torch.full_like(n[0], 1 / 25))
    pos = torch.rand(2, 1, 3, 3) + 0.1
    assert torch.allclose(normalize_kernels(pos, dims=(2, 3)), pos / pos.sum((2, 3), keepdim=True))


def test_composite_is_the_masked_sum():
    imgs, masks = torch.rand(2, 4, 3, 5, 5), torch.softmax(torch.rand(2, 4, 1, 5, 5), dim=1)
    assert torch.allclose(composite(imgs, masks), (imgs * masks).sum(1))
    assert torch.allclose(composite(imgs[:, :1].expand(-1, 4, -1, -1, -1), masks), imgs[:, 0], atol=1e-6)


def test_symmetric_padding_matches_numpy_and_tf_same_padding():
    x = torch.rand(1, 2, 5, 6)
    ref = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 1), (1, 3)), mode="symmetric")
    assert np.array_equal(pad_symmetric(x, 2, 1, 1, 3).numpy(), ref)
    assert [same_padding(64, k, s) for k, s in ((5, 2), (3, 2), (4, 2), (5, 1), (1, 1))] == \
        [(1, 2), (0, 1), (1, 1), (2, 2), (0, 0)]
    conv = Conv2dSame(2, 3, 5, stride=2)
    top, bottom = same_padding(5, 5, 2)  # odd height: (2, 2); even width 6: (1, 2)
    manual = F.conv2d(F.pad(x, (1, 2, top, bottom)), conv.weight, conv.bias, stride=2)
    assert torch.allclose(conv(x), manual)


def test_bilinear_upsampling_matches_interpolate_inside_the_border():
    x = torch.rand(2, 3, 6, 6)
    up = bilinear_upsample2x(x)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)
    assert bilinear_kernel(2).sum() == pytest.approx(4.0)  # 4 output pixels per input pixel


def test_savp_conv_pool_and_upsample_conv_equal_upstream_folded_kernels():
    from methods.savp.model import ConvPool2d, UpsampleConv2d

    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    cp = ConvPool2d(3, 4, 5)
    # upstream: the kernel average-pooled 2x2 (FULL, stride 1) -> 6x6, strided conv with TF SAME padding
    k = cp.conv.weight
    kp = F.avg_pool2d(F.pad(k, (1, 1, 1, 1)), 2, stride=1)
    top, bottom = same_padding(8, 6, 2)
    folded = F.conv2d(F.pad(x, (top, bottom, top, bottom)), kp, cp.conv.bias, stride=2)
    assert torch.allclose(cp(x), folded, atol=1e-5)
    uc = UpsampleConv2d(3, 4)
    # upstream (docstring of ops.upsample_conv2d): upsample VALID, conv FULL, crop at (2, 2)
    up_valid = F.conv_transpose2d(x, bilinear_kernel(2).expand(3, 1, 4, 4), stride=2, groups=3)
    full = F.conv2d(up_valid, uc.conv.weight, uc.conv.bias, padding=2)
    assert torch.allclose(uc(x), full[..., 2:18, 2:18], atol=1e-5)


def test_conv_lstm_gates_as_tf():
    torch.manual_seed(0)
    cell = ConvLSTM2dCell(2, 3, kernel_size=3)
    x, c0, h0 = torch.rand(1, 2, 4, 4), torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    h, (c, h_again) = cell(x, (c0, h0))
    z = F.conv2d(torch.cat([x, h0], 1), cell.gates.weight, cell.gates.bias, padding=1)
    i, j, f, o = z.chunk(4, 1)
    c_ref = c0 * torch.sigmoid(f + 1.0) + torch.sigmoid(i) * torch.tanh(j)
    assert torch.allclose(c, c_ref, atol=1e-6) and torch.allclose(h, torch.tanh(c_ref) * torch.sigmoid(o), atol=1e-6)
    assert h is h_again
    normed = ConvLSTM2dCell(2, 3, kernel_size=3, norm="instance")
    assert normed.gates.bias is None
    _, (c_n, _) = normed(x)
    assert torch.allclose(c_n.mean((2, 3)), torch.zeros(1, 3), atol=1e-5)  # the state is instance-normalised
    assert tile_concat(x, torch.ones(1, 5)).shape == (1, 7, 4, 4) and tile_concat(x, None) is x


def test_lstm_cell_tf_forget_bias_and_single_bias():
    cell = LSTMCellTF(3, 2)
    with torch.no_grad():
        cell.linear.weight.zero_()
    c0 = torch.ones(1, 2)
    _, (h, c) = cell(torch.rand(1, 3), (torch.zeros(1, 2), c0))
    # all pre-activations 0: c = sigmoid(0 + 1) * 1 + sigmoid(0) * tanh(0)
    assert torch.allclose(c, torch.sigmoid(torch.tensor(1.0)).expand(1, 2))
    assert sum(p.numel() for p in cell.parameters()) == (3 + 2) * 8 + 8
