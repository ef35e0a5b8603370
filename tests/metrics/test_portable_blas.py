"""Conv3d and Linear through NumPy's OpenBLAS with pinned kernels (``benchmark.metrics.extractors.portable_blas``):
the same numbers as PyTorch's layers (forward and both gradients), and the same bytes under two kernel sets
that are one code path (``Haswell`` and ``Zen``), checked in child processes since the pin must precede NumPy's
import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from benchmark.metrics.extractors.portable_blas import (BLAS_ENV, PortableConv3d, PortableLinear, conv3d, ieee_sqrt,
                                                        linear, portable_blas_layers, use_portable_blas)
from benchmark.metrics.extractors.shapes_evaluator import ShapesEvaluatorNet

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kernel,stride,padding", [((3, 3, 3), (2, 2, 2), (1, 1, 1)),   # the evaluator's layers
                                                   ((1, 3, 3), (1, 1, 1), (0, 1, 1)),
                                                   ((3, 3, 3), (1, 2, 2), (1, 1, 1)),
                                                   ((2, 3, 1), (1, 1, 2), (0, 2, 0))])  # uneven, no padding on t
def test_conv3d_matches_torch_forward_and_both_gradients(kernel, stride, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 6, 9, 8, generator=g, requires_grad=True)
    w = torch.randn(5, 4, *kernel, generator=g, requires_grad=True)
    ours = conv3d(x, w, stride, padding)
    ref = F.conv3d(x, w, None, stride, padding)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn(ref.shape, generator=g)
    ours_gx, ours_gw = torch.autograd.grad(ours, (x, w), grad)
    ref_gx, ref_gw = torch.autograd.grad(ref, (x, w), grad)
    torch.testing.assert_close(ours_gx, ref_gx, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours_gw, ref_gw, rtol=1e-5, atol=1e-4)


def test_linear_matches_torch_forward_and_gradients():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 12, generator=g, requires_grad=True)
    w = torch.randn(5, 12, generator=g, requires_grad=True)
    b = torch.randn(5, generator=g, requires_grad=True)
    ours, ref = linear(x, w, b), F.linear(x, w, b)
    torch.testing.assert_close(ours, ref)
    grad = torch.randn(7, 5, generator=g)
    for a, r in zip(torch.autograd.grad(ours, (x, w, b), grad), torch.autograd.grad(ref, (x, w, b), grad)):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_the_evaluator_with_portable_layers_computes_what_it_did():
    """Swapped in place: same parameters and state_dict, the same outputs and loss gradients as before."""
    torch.manual_seed(0)
    net = ShapesEvaluatorNet().train()
    twin = ShapesEvaluatorNet().train()
    twin.load_state_dict(net.state_dict())
    use_portable_blas(twin)
    assert {type(m) for m in twin.modules()} >= {PortableConv3d, PortableLinear}
    assert twin.state_dict().keys() == net.state_dict().keys()
    x = torch.rand(4, 3, 16, 32, 32) * 2 - 1
    (f, logits), (ref_f, ref_logits) = twin(x), net(x)
    torch.testing.assert_close(f, ref_f, rtol=1e-4, atol=1e-4)
    for k in ref_logits:
        torch.testing.assert_close(logits[k], ref_logits[k], rtol=1e-4, atol=1e-4)
    sum(v.square().sum() for v in logits.values()).backward()
    sum(v.square().sum() for v in ref_logits.values()).backward()
    for (name, p), q in zip(twin.named_parameters(), net.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-3, msg=name)
    with pytest.raises(ValueError, match="bias-free"):
        use_portable_blas(torch.nn.Sequential(torch.nn.Conv3d(1, 1, 3)))(torch.rand(1, 1, 3, 3, 3))


def test_portable_layers_for_a_block_give_the_classes_back():
    net = ShapesEvaluatorNet()
    with portable_blas_layers(net):
        assert isinstance(net.trunk[0], PortableConv3d) and isinstance(net.embed, PortableLinear)
    assert type(net.trunk[0]) is torch.nn.Conv3d and type(net.embed) is torch.nn.Linear


def test_ieee_sqrt_is_correctly_rounded():
    """float32 sqrt rounded once from the float64 one (double rounding is exact for sqrt: 53 >= 2 * 24 + 2),
    over wide magnitudes, subnormals, zeros and infinity."""
    import numpy as np

    g = torch.Generator().manual_seed(0)
    x = torch.rand(200_000, generator=g) * torch.exp(torch.randn(200_000, generator=g) * 20)
    x = torch.cat([x, torch.tensor([0.0, 1e-45, 1e-40, 1.0, 4.0, float("inf")])])
    exact = np.sqrt(x.numpy().astype(np.float64)).astype(np.float32)
    assert np.array_equal(ieee_sqrt(x).numpy().view(np.uint32), exact.view(np.uint32))


_CHILD = """
import hashlib, json, sys, torch
from benchmark.metrics.extractors.portable_blas import conv3d, linear
g = torch.Generator().manual_seed(0)
x = torch.randn(2, 3, 8, 16, 16, generator=g, requires_grad=True)
w = torch.randn(16, 3, 3, 3, 3, generator=g, requires_grad=True)
v = torch.randn(10, 16 * 4 * 8 * 8, generator=g, requires_grad=True)
y = linear(conv3d(x, w, (2, 2, 2), (1, 1, 1)).relu().flatten(1), v)
y.square().sum().backward()
h = hashlib.sha256()
for t in (y, x.grad, w.grad, v.grad):
    h.update(t.detach().numpy().tobytes())
print(json.dumps({"sha": h.hexdigest()}))
"""


def _child(coretype: str) -> dict:
    env = {**os.environ, **BLAS_ENV, "OPENBLAS_CORETYPE": coretype, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="the Haswell kernels need AVX2 and FMA")
def test_pinned_kernels_give_the_bytes_of_an_avx2_amd_cpu():
    """With the kernels pinned, a forward and backward pass are bytewise those of OpenBLAS's ``Zen`` kernels (what
    an AVX2 AMD EPYC runs unpinned), whatever this CPU would pick by itself."""
    assert _child(BLAS_ENV["OPENBLAS_CORETYPE"])["sha"] == _child("Zen")["sha"]
