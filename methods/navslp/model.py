"""NAVSLP networks, latent dictionaries and losses (Aich, Gupta, Panda, Hyder, Asif &
Roy-Chowdhury 2020, "Non-Adversarial Video Synthesis with Learned Priors", CVPR 2020;
official code ``abhishekaich27/Navsynth``, PyTorch).

* :class:`LatentDictionary` – the learned priors: static latents ``z^(s)`` (one per training video,
  or one shared by the training set, or one per group such as a Weizmann identity) and transient
  latents ``z^(t)_i`` (one per frame of every training video, or per group such as an action),
  initialised from N(0, I) and kept in the unit ℓ2 ball by ``z / max(1, ||z||)`` after every update
  (§3.3); optionally each video's ``T x D_t`` transient matrix is projected onto rank ρ by its top-ρ
  singular vectors (eq. 7).
* :class:`TransientRNN` – ``R``: a one-layer GRU (500 units) over a video's transient latents with a
  linear read-out to ``D_t`` and a non-affine BatchNorm (``models.py``).
* :func:`make_generator` – ``G``: the DCGAN generator of ``models.py`` (4x4 fractionally strided convs
  512-256-128-64, ReLU, no normalisation, no biases, tanh), on ``[z^(s), R(z^(t))_i]`` per frame.
* :func:`laplacian_l1` – ``L_Lap(v, v') = Σ_l 2^{2l} |L^l(v) − L^l(v')|_1`` (§4.2): the mean absolute
  difference of each pyramid level (which is the paper's 2^{2l} weighting of a sum normalised by
  the full-resolution pixel count), summed over ``l`` band-pass levels and the low-pass residual.
* :func:`triplet_loss` – the triplet condition (§3.2.1) on a video's RNN outputs as the official
  ``triplet_loss.py`` (after TCN): anchors/positives at most 2 frames apart, negatives more than 5,
  the semi-hard negative (the closest one farther than the positive; else the farthest),
  ``max(0, α − d(a, n) + d(a, p))`` with Euclidean ``d``, averaged over (anchor, positive) pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.common import Conv2dDecoder, GRUSequence


def make_generator(dim_static: int, dim_transient: int, channels: int, resolution: tuple[int, int],
                   width: int = 64) -> Conv2dDecoder:
    """``G``: per-frame code ``(N, D_s + D_t)`` -> frame ``(N, C, H, W)`` in [-1, 1]."""
    return Conv2dDecoder(dim_static + dim_transient, channels, tuple(resolution), width, out_activation="tanh",
                         norm=False, out_bias=False)


class TransientRNN(nn.Module):
    """``R``: transient latents ``(B, T, D_t)`` -> correlated transient codes ``(B, T, D_t)``.

    The output is normalised per video over its own ``T`` frames (zero mean, unit biased variance
    per channel, eps 1e-5): exactly what upstream's non-affine ``BatchNorm1d`` computes in training,
    where a batch is one video's frames. The same statistics are used in training *and* sampling
    (no running statistics), so a video is generated the way it was trained, whatever the batch size.
    """

    def __init__(self, dim: int, hidden: int = 500, batchnorm: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.gru = GRUSequence(dim, hidden, output_dim=dim)
        self.batchnorm, self.eps = batchnorm, eps

    def forward(self, z: Tensor) -> Tensor:
        r = self.gru(z)                                  # h_0 = 0 as upstream initHidden
        if not self.batchnorm:
            return r
        # (B, D, T): instance norm = BatchNorm over each video's frames with batch statistics
        return F.instance_norm(r.transpose(1, 2), eps=self.eps).transpose(1, 2)


def project_unit_ball_(z: Tensor) -> Tensor:
    """In place: every vector (last dim) divided by ``max(1, ||z||)`` (§3.3, after GLO)."""
    z.div_(z.norm(dim=-1, keepdim=True).clamp_min(1.0))
    return z


def project_rank_(z: Tensor, rank: int) -> Tensor:
    """In place: each ``(T, D)`` matrix of ``z (N, T, D)`` replaced by its best rank-``rank`` approximation."""
    if rank <= 0 or rank >= min(z.shape[-2:]):
        return z
    u, s, vh = torch.linalg.svd(z, full_matrices=False)
    z.copy_((u[..., :rank] * s[..., None, :rank]) @ vh[..., :rank, :])
    return z


class LatentDictionary(nn.Module):
    """Learned static and transient latents of the training videos.

    Args:
        static_index: ``(N,)`` row of ``static`` for each training video.
        transient_index: ``(N,)`` row of ``transient`` for each training video.
        frames: transient latents per row (frames of a training video).
        generator: for the N(0, I) initialisation.
    """

    def __init__(self, dim_static: int, dim_transient: int, static_index: Tensor, transient_index: Tensor,
                 frames: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        n_s = int(static_index.max()) + 1 if len(static_index) else 0
        n_t = int(transient_index.max()) + 1 if len(transient_index) else 0
        self.static = nn.Parameter(torch.randn(n_s, dim_static, generator=generator))
        self.transient = nn.Parameter(torch.randn(n_t, frames, dim_transient, generator=generator))
        self.register_buffer("static_index", static_index.long().clone())
        self.register_buffer("transient_index", transient_index.long().clone())
        self.project_()

    @classmethod
    def empty(cls, dim_static: int, dim_transient: int, frames: int = 1) -> "LatentDictionary":
        return cls(dim_static, dim_transient, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                   frames)

    @property
    def num_videos(self) -> int:
        return len(self.static_index)

    @property
    def frames(self) -> int:
        return self.transient.shape[1]

    @torch.no_grad()
    def project_(self, rank: int = 0, static_rows: Tensor | None = None, transient_rows: Tensor | None = None) -> None:
        """Project every row (or only ``static_rows`` / ``transient_rows``: the ones just updated, so
        the others stay bitwise unchanged)."""
        if static_rows is None and transient_rows is None:
            project_rank_(self.transient.data, rank)
            project_unit_ball_(self.static.data)
            project_unit_ball_(self.transient.data)
            return
        s = torch.unique(static_rows)
        t = torch.unique(transient_rows)
        zt = self.transient.data[t]
        self.transient.data[t] = project_unit_ball_(project_rank_(zt, rank))
        self.static.data[s] = project_unit_ball_(self.static.data[s])


class RowSGD(torch.optim.Optimizer):
    """SGD with per-row momentum for latent tables ``(rows, ...)``: only the rows named by
    :meth:`set_rows` (the latents of the videos in the batch) are updated and only their momentum
    buffers advance, as if each video had its own optimiser (upstream's one-video steps). Plain
    ``torch.optim.SGD`` on the dense table would move every row with a non-zero buffer at every step.

    ``buf[r] = momentum * buf[r] + grad[r]; p[r] -= lr * buf[r]`` for the rows ``r`` of each parameter
    (``torch.optim.SGD`` with dampening 0 and a zero-initialised buffer, restricted to the rows).

    >>> p = nn.Parameter(torch.ones(3, 2))
    >>> opt = RowSGD([p], lr=1.0, momentum=0.9)
    >>> (p ** 2).sum().backward(); opt.set_rows([torch.tensor([0])]); opt.step()
    >>> p[:, 0].tolist()
    [-1.0, 1.0, 1.0]
    """

    def __init__(self, params, lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum))
        self._rows: list[Tensor] | None = None

    def set_rows(self, rows: list[Tensor]) -> None:
        """Rows to update at the next :meth:`step`, one index tensor per parameter (in order)."""
        self._rows = [torch.unique(r) for r in rows]

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: D102
        if self._rows is None:
            raise RuntimeError("RowSGD: call set_rows() before step() (which latent rows are in the batch)")
        params = [p for g in self.param_groups for p in g["params"]]
        if len(self._rows) != len(params):
            raise ValueError(f"RowSGD: {len(self._rows)} row sets for {len(params)} parameters")
        rows_of = dict(zip(map(id, params), self._rows))
        for group in self.param_groups:
            for p in group["params"]:
                rows = rows_of[id(p)].to(p.device)
                if p.grad is None or not len(rows):
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                b = buf[rows].mul_(group["momentum"]).add_(p.grad[rows])
                buf[rows] = b
                p[rows] = p[rows] - group["lr"] * b
        self._rows = None


def gaussian_kernel(size: int = 5, sigma: float = 2.0) -> Tensor:
    """Normalised 1D Gaussian ``(size,)``; the 2D kernel is its outer product (upstream LapLoss:
    5x5, sigma 2)."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return (g / g.sum()).float()


def _blur_matrix(n: int, kernel: Tensor) -> Tensor:
    """``(n, n)`` matrix of a 1D convolution with replicate padding (so a separable 2D blur of an
    image ``X`` is ``A X A^T`` — two small matmuls, much faster on CPU than a depthwise conv)."""
    r = len(kernel) // 2
    a = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for o in range(-r, r + 1):
            a[i, min(max(i + o, 0), n - 1)] += float(kernel[o + r])
    return a


def _pool_matrix(n: int) -> Tensor:
    """``(n // 2, n)``: 2x average pooling along one axis."""
    p = torch.zeros(n // 2, n, dtype=torch.float64)
    idx = torch.arange(n // 2)
    p[idx, 2 * idx] = p[idx, 2 * idx + 1] = 0.5
    return p


_MATRICES: dict[tuple, tuple[Tensor, Tensor]] = {}


def _level_matrices(n: int, kernel: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    """``(A, P A)`` for a side of ``n`` pixels: the blur and blur-then-pool matrices."""
    key = (n, tuple(kernel.tolist()), like.device, like.dtype)
    if key not in _MATRICES:
        a = _blur_matrix(n, kernel)
        _MATRICES[key] = (a.to(like), (_pool_matrix(n) @ a).to(like))
    return _MATRICES[key]


def laplacian_pyramid(x: Tensor, levels: int, kernel: Tensor | None = None) -> list[Tensor]:
    """``levels`` band-pass images of ``x (..., H, W)`` and the low-pass residual: level ``l`` is
    ``x_l − blur(x_l)`` and ``x_{l+1} = avgpool2(blur(x_l))`` (upstream ``laplacian_pyramid``)."""
    kernel = gaussian_kernel() if kernel is None else kernel
    pyramid = []
    for _ in range(levels):
        (ah, ph), (aw, pw) = _level_matrices(x.shape[-2], kernel, x), _level_matrices(x.shape[-1], kernel, x)
        pyramid.append(x - ah @ x @ aw.T)
        x = ph @ x @ pw.T
    pyramid.append(x)
    return pyramid


def laplacian_l1(x: Tensor, y: Tensor, levels: int, kernel: Tensor | None = None) -> Tensor:
    """Per-image Laplacian-pyramid L1 ``(N,)`` between ``x`` and ``y`` ``(N, C, H, W)``.

    The pyramid is linear, so it is taken once, of ``x − y``.
    """
    return sum(level.abs().flatten(1).mean(1) for level in laplacian_pyramid(x - y, levels, kernel))


def max_pyramid_levels(resolution: tuple[int, int]) -> int:
    """How many band-pass levels fit (the residual keeps at least 1 pixel)."""
    return int(math.floor(math.log2(min(resolution))))


def triplet_loss(r: Tensor, margin: float = 2.0, pos_radius: int = 2, neg_radius: int = 5) -> Tensor:
    """Mean triplet loss of each video's codes ``r (B, T, D)``: ``(B,)`` (0 where no triplet exists)."""
    b, t, _ = r.shape
    d = torch.cdist(r, r)                                            # (B, T, T) Euclidean
    idx = torch.arange(t, device=r.device)
    gap = (idx[:, None] - idx[None, :]).abs()
    pos = (gap <= pos_radius) & (gap > 0)                            # (T, T) anchor i, positive j
    neg = gap > neg_radius                                           # (T, T) anchor i, negative k
    if not pos.any() or not neg.any():
        return r.new_zeros(b)
    d_pos = d[:, :, :, None]                                         # (B, i, j, 1)
    d_neg = d[:, :, None, :]                                         # (B, i, 1, k)
    valid = neg[None, :, None, :]
    inf = torch.finfo(r.dtype).max
    # Semi-hard: the closest negative farther than the positive; if none, the farthest negative.
    farther = valid & (d_neg > d_pos)
    semi = torch.where(farther, d_neg, torch.full_like(d_neg.expand_as(farther), inf)).amin(-1)
    hardest = torch.where(valid, d_neg, torch.full_like(d_neg.expand(b, t, t, t), -inf)).amax(-1)
    chosen = torch.where(farther.any(-1), semi, hardest)             # (B, i, j)
    has_neg = neg.any(-1)[:, None]                                   # anchors with a negative
    mask = (pos & has_neg)[None].to(r.dtype)
    losses = F.relu(margin - chosen + d[:, :, :]) * mask
    return losses.flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)
