"""Pixel-transformation layers of the CDNA / DNA family (Finn, Goodfellow & Levine 2016, "Unsupervised
Learning for Physical Interaction through Video Prediction", NeurIPS), as SV2P and SAVP use them.

* CDNA: ``N`` normalised ``k x k`` kernels per sample, each convolved with every channel of the source
  image -> ``N`` transformed images (:func:`apply_cdna`).
* DNA: one normalised ``k x k`` kernel per pixel (:func:`apply_dna`).
* :func:`normalize_kernels`: ``relu(k - shift) + shift`` then divide by the sum over the kernel taps,
  so every kernel is positive and sums to 1 (all three codes, ``RELU_SHIFT = 1e-12``).
* :func:`composite`: the masked sum ``Σ_m mask_m · image_m`` of transformed / background images.

Padding of the source image differs between the codes: SAVP pads ``"SYMMETRIC"`` (``apply_cdna_kernels``
in ``savp_model.py``), tensor2tensor's SV2P convolves with ``"SAME"`` zero padding. Both are offered.

Every call runs inside ``torch.profiler.record_function("transforms/<name>")`` so profiles can
attribute time to the transformation layers (``benchmarks/savp_sv2p_perf.py``).

Images are ``(B, C, H, W)``; transformed stacks ``(B, N, C, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.profiler import record_function

from methods.common.tf_compat import pad_symmetric, same_padding

RELU_SHIFT = 1e-12
PADDINGS = ("symmetric", "zeros")


def identity_kernel(height: int, width: int) -> Tensor:
    """A ``(height, width)`` kernel that leaves an image unchanged (1 at the centre; for an even size the
    central 2 taps share it), as SAVP's ``identity_kernel``.

    >>> identity_kernel(3, 3).tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    k = torch.zeros(height, width)

    def centre(n: int) -> slice:
        return slice(n // 2 - 1, n // 2 + 1) if n % 2 == 0 else slice(n // 2, n // 2 + 1)

    k[centre(height), centre(width)] = 1.0
    return k / k.sum()


def shift_kernels(count: int, size: int) -> Tensor:
    """``count`` one-hot ``(size, size)`` kernels: the identity, then whole-pixel shifts ordered by
    length (the 8 one-pixel neighbours first), as many as are asked for (``(count, size, size)``).

    Used to *initialise* CDNA kernels so that training starts from "copy or move by a pixel" instead of
    from random blurs (an option of the ``cpu`` profiles; the papers start from random kernels).

    >>> k = shift_kernels(3, 3)
    >>> [tuple(int(i) for i in (kk == 1).nonzero()[0]) for kk in k]
    [(1, 1), (0, 1), (1, 0)]
    """
    c = size // 2
    offsets = sorted(((dy, dx) for dy in range(-c, c + 1) for dx in range(-c, c + 1)),
                     key=lambda o: (o[0] ** 2 + o[1] ** 2, o))
    if count > len(offsets):
        raise ValueError(f"shift_kernels: a {size}x{size} kernel has only {len(offsets)} whole-pixel shifts, "
                         f"{count} asked for")
    kernels = torch.zeros(count, size, size)
    for i, (dy, dx) in enumerate(offsets[:count]):
        kernels[i, c + dy, c + dx] = 1.0
    return kernels


def init_shift_kernels_(head: torch.nn.Linear, count: int, size: int, weight_gain: float) -> None:
    """Initialise a CDNA kernel head (``Linear -> (count * size * size)``) to emit
    :func:`shift_kernels` plus a small input-dependent part: bias = the one-hot kernels, weight scaled
    by ``weight_gain`` (so the normalised kernels start close to the shifts and can still learn)."""
    with torch.no_grad():
        head.weight.mul_(weight_gain)
        head.bias.copy_(shift_kernels(count, size).flatten())


def normalize_kernels(kernels: Tensor, dims: tuple[int, ...], relu_shift: float = RELU_SHIFT) -> Tensor:
    """``relu(k - shift) + shift``, then divided by the sum over ``dims``: positive, summing to 1.

    >>> k = normalize_kernels(torch.tensor([[[-1.0, 1.0], [3.0, 0.0]]]), dims=(1, 2))
    >>> [round(v, 6) for v in k.flatten().tolist()]
    [0.0, 0.25, 0.75, 0.0]
    """
    kernels = F.relu(kernels - relu_shift) + relu_shift
    return kernels / kernels.sum(dim=dims, keepdim=True)


def _pad(image: Tensor, kh: int, kw: int, padding: str) -> Tensor:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    top, bottom = same_padding(image.shape[-2], kh)
    left, right = same_padding(image.shape[-1], kw)
    if padding == "symmetric":
        return pad_symmetric(image, top, bottom, left, right)
    return F.pad(image, (left, right, top, bottom))


def apply_cdna(image: Tensor, kernels: Tensor, padding: str = "symmetric") -> Tensor:
    """Convolve ``image (B, C, H, W)`` with each sample's ``kernels (B, N, kh, kw)``: ``(B, N, C, H, W)``.

    The same kernel acts on every channel (TF ``depthwise_conv2d`` with batch and channels swapped);
    cross-correlation as TF (no kernel flip).

    >>> img = torch.arange(16.).view(1, 1, 4, 4)
    >>> shift = torch.zeros(1, 1, 3, 3); shift[0, 0, 1, 2] = 1   # out(y, x) = in(y, x + 1)
    >>> apply_cdna(img, shift, padding="zeros")[0, 0, 0, 0].tolist()
    [1.0, 2.0, 3.0, 0.0]
    """
    with record_function("transforms/cdna"):
        b, c, h, w = image.shape
        kb, n, kh, kw = kernels.shape
        if kb != b:
            raise ValueError(f"apply_cdna: {kb} kernel sets for {b} images")
        padded = _pad(image, kh, kw, padding).reshape(1, b * c, h + kh - 1, w + kw - 1)
        weight = kernels[:, None].expand(b, c, n, kh, kw).reshape(b * c * n, 1, kh, kw)
        out = F.conv2d(padded, weight, groups=b * c)  # (1, B*C*N, H, W)
        return out.view(b, c, n, h, w).transpose(1, 2)


def apply_dna(image: Tensor, kernels: Tensor, padding: str = "symmetric") -> Tensor:
    """Per-pixel kernels ``(B, N, kh, kw, H, W)`` applied to ``image (B, C, H, W)``: ``(B, N, C, H, W)``.

    >>> img = torch.rand(2, 3, 5, 5)
    >>> ident = identity_kernel(3, 3).view(1, 1, 3, 3, 1, 1).expand(2, 1, 3, 3, 5, 5)
    >>> torch.allclose(apply_dna(img, ident)[:, 0], img)
    True
    """
    with record_function("transforms/dna"):
        b, c, h, w = image.shape
        kb, n, kh, kw = kernels.shape[:4]
        if kb != b or kernels.shape[4:] != (h, w):
            raise ValueError(f"apply_dna: kernels {tuple(kernels.shape)} do not fit images {tuple(image.shape)}")
        patches = F.unfold(_pad(image, kh, kw, padding), (kh, kw)).view(b, c, kh * kw, h, w)
        return torch.einsum("bckhw,bnkhw->bnchw", patches, kernels.reshape(b, n, kh * kw, h, w))


def composite(images: Tensor, masks: Tensor) -> Tensor:
    """``Σ_m masks[:, m] · images[:, m]``: ``images (B, M, C, H, W)``, ``masks (B, M, 1, H, W)`` -> ``(B, C, H, W)``."""
    with record_function("transforms/composite"):
        return (images * masks).sum(dim=1)
