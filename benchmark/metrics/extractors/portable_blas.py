"""Conv3d and Linear whose matrix products run in NumPy's OpenBLAS with its kernels pinned by CPU type, so the
products give the same bytes on Intel and AMD CPUs; the moving-shapes evaluator's training runs on them
(``train-embedded``'s portable kernel path, docs/moving_shapes_evaluator.md).

Why: PyTorch's CPU convolutions and matrix products come from MKL (or oneDNN), which pick their code by CPU
vendor and model; no setting of this PyTorch routes float GEMMs past them, and MKL's reproducible mode computes
differently on Intel and on AMD (measured). NumPy's bundled OpenBLAS (``DYNAMIC_ARCH``) also picks kernels by CPU,
but the environment variable ``OPENBLAS_CORETYPE`` pins them: with ``Haswell`` (AVX2 + FMA), an Intel Xeon
gave the bytes of ``Zen`` (what an AVX2 AMD EPYC picks by itself). The variables must be set before NumPy is
imported (:data:`BLAS_ENV`; ``train-embedded`` trains in a child process for that).

Everything else here is ATen's element-wise and copy work: im2col by strided views, col2im by a fixed-order sum
over the kernel's offsets. The functions take float32 CPU tensors.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: the process environment that pins OpenBLAS's kernels and threads (set before NumPy's import)
BLAS_ENV = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"}
Triple = tuple[int, int, int]


def blas_info() -> dict[str, Any]:
    """What NumPy's BLAS is in this process (threadpoolctl's record: ``internal_api`` e.g. ``openblas``,
    ``version``, ``architecture`` = the kernels' core type, ``num_threads``); ``{}`` if unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    import numpy.linalg  # noqa: F401  (loads the BLAS library, so threadpoolctl can see it)

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")]
    return blas[0] if len(blas) == 1 else {}


def ieee_sqrt(x: Tensor) -> Tensor:
    """Element-wise square root of a float CPU tensor by NumPy: the CPU's IEEE instruction, correctly rounded,
    the same bytes on every x86-64 CPU. ``torch.sqrt`` on contiguous float tensors goes through MKL's vector
    math library in PyTorch's x86 builds, which is not correctly rounded (measured on an AMD EPYC with
    ``MKL_CBWR=COMPATIBLE``: 17 % of 10^8 float32 values differ from IEEE sqrt in the last bit) and picks its
    code by CPU."""
    return torch.from_numpy(np.sqrt(x.detach().contiguous().numpy()))


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a (m, k) @ b (k, n)`` computed by NumPy's BLAS: ``(m, n)`` float32."""
    return torch.from_numpy(np.matmul(a.detach().contiguous().numpy(), b.detach().contiguous().numpy()))


def _columns(x: Tensor, kernel: Triple, stride: Triple, padding: Triple) -> tuple[Tensor, Triple]:
    """im2col of ``x (N, C, T, H, W)``: ``(C * kt * kh * kw, N * To * Ho * Wo)`` and ``(To, Ho, Wo)``."""
    pt, ph, pw = padding
    xp = F.pad(x, (pw, pw, ph, ph, pt, pt))
    patches = xp.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1]).unfold(4, kernel[2], stride[2])
    n, c, to, ho, wo = patches.shape[:5]
    cols = patches.permute(1, 5, 6, 7, 0, 2, 3, 4).reshape(c * kernel[0] * kernel[1] * kernel[2], n * to * ho * wo)
    return cols, (to, ho, wo)


class _Conv3d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, stride: Triple, padding: Triple) -> Tensor:
        kernel = tuple(weight.shape[2:])
        cols, out_size = _columns(x, kernel, stride, padding)
        ctx.save_for_backward(weight, cols)
        ctx.shapes = (tuple(x.shape), kernel, stride, padding, out_size)
        out = matmul(weight.reshape(weight.shape[0], -1), cols)             # (Cout, N * L)
        return out.view(weight.shape[0], x.shape[0], *out_size).transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        weight, cols = ctx.saved_tensors
        (n, c, t, h, w), kernel, stride, padding, (to, ho, wo) = ctx.shapes
        g = grad_out.transpose(0, 1).reshape(weight.shape[0], -1)           # (Cout, N * L)
        grad_w = matmul(g, cols.t()).view_as(weight)
        if not ctx.needs_input_grad[0]:  # a network's input (the first layer): no col2im
            return None, grad_w, None, None
        grad_cols = matmul(weight.reshape(weight.shape[0], -1).t(), g)     # (C * K, N * L)
        grad_cols = grad_cols.view(c, *kernel, n, to, ho, wo)
        pt, ph, pw = padding
        grad_xp = grad_out.new_zeros(n, c, t + 2 * pt, h + 2 * ph, w + 2 * pw)
        st, sh, sw = stride
        for a, b, d in itertools.product(*(range(k) for k in kernel)):     # col2im, one fixed order
            grad_xp[:, :, a:a + st * (to - 1) + 1:st, b:b + sh * (ho - 1) + 1:sh, d:d + sw * (wo - 1) + 1:sw] += \
                grad_cols[:, a, b, d].transpose(0, 1)
        grad_x = grad_xp[:, :, pt:pt + t, ph:ph + h, pw:pw + w]
        return grad_x, grad_w, None, None


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = matmul(x, weight.t())
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        x, weight = ctx.saved_tensors
        grad_bias = grad_out.sum(0) if ctx.has_bias else None
        return matmul(grad_out, weight), matmul(grad_out.t(), x), grad_bias


def conv3d(x: Tensor, weight: Tensor, stride: Triple = (1, 1, 1), padding: Triple = (0, 0, 0)) -> Tensor:
    """``F.conv3d(x, weight, None, stride, padding)`` (no bias, no dilation or groups) with NumPy's BLAS:
    ``x (N, C, T, H, W)``, ``weight (Cout, C, kt, kh, kw)`` -> ``(N, Cout, To, Ho, Wo)``."""
    return _Conv3d.apply(x, weight, tuple(stride), tuple(padding))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear`` for ``x (N, in)`` with NumPy's BLAS: ``(N, out)``."""
    return _Linear.apply(x, weight, bias)


class PortableConv3d(nn.Conv3d):
    """``nn.Conv3d`` (bias-free, no dilation or groups) computed by :func:`conv3d`; the same parameters."""

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is not None or self.groups != 1 or self.dilation != (1, 1, 1) or isinstance(self.padding, str):
            raise ValueError("PortableConv3d: only bias-free convs with int padding, no groups or dilation")
        return conv3d(x, self.weight, self.stride, self.padding)


class PortableLinear(nn.Linear):
    """``nn.Linear`` on ``(N, in)`` computed by :func:`linear`; the same parameters."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


def use_portable_blas(net: nn.Module) -> nn.Module:
    """Make every ``nn.Conv3d`` / ``nn.Linear`` of ``net`` compute with NumPy's BLAS, in place (the modules'
    class changes to :class:`PortableConv3d` / :class:`PortableLinear`; parameters, state_dict and hooks stay)."""
    for module in net.modules():
        if type(module) is nn.Conv3d:
            module.__class__ = PortableConv3d
        elif type(module) is nn.Linear:
            module.__class__ = PortableLinear
    return net


@contextlib.contextmanager
def portable_blas_layers(net: nn.Module) -> Iterator[nn.Module]:
    """:func:`use_portable_blas` for the block; the modules get their own classes back afterwards."""
    classes = {m: type(m) for m in net.modules()}
    use_portable_blas(net)
    try:
        yield net
    finally:
        for module, cls in classes.items():
            module.__class__ = cls
