"""Per-frame SSIM (Wang et al. 2004) with a Gaussian window, batched on torch.

Matches ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1.0, channel_axis=...)``: an 11x11 Gaussian window
(σ = 1.5; skimage truncates at 3.5σ, giving radius 5), population (biased) local variances,
``C1 = (K1·L)²``, ``C2 = (K2·L)²``, and the mean SSIM map taken over the "valid" region only
(the 5-pixel border where the window leaves the image is excluded, as skimage crops it). Colour
frames: SSIM per channel, then the mean over channels.

The separable window is applied as two banded matrix products, ``Gᵀ_H · X · G_W`` in float64
(on CPU about 10x faster than ``conv2d`` with a 1-channel float64 kernel, and exact to ~1e-14).
When ``y`` is broadcast against ``x`` (one target frame for k samples, one first frame for a
video's frames), the local means of y and y² are filtered once per y frame and only x, x² and xy
per pair: 3 filtered maps a pair instead of 5, the same numbers. Splitting the band matrices into
blocks to skip their zeros (6x the needed multiplications) was measured too: at most ~15% on
the filtering at 64x64 (small matrix products run less efficiently), not worth it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.metrics.functional._frames import map_frame_pairs


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> Tensor:
    """Normalised 1-D Gaussian ``(size,)`` centred on the middle tap."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    return g / g.sum()


def _band_matrix(n: int, window: Tensor) -> Tensor:
    """``(n, n - k + 1)`` matrix whose column j holds the window at rows j..j+k-1 ("valid" filtering)."""
    k = window.numel()
    out_n = n - k + 1
    band = torch.zeros(n, out_n, dtype=window.dtype, device=window.device)
    rows = torch.arange(out_n, device=window.device)[None, :] + torch.arange(k, device=window.device)[:, None]
    cols = torch.arange(out_n, device=window.device)[None, :].expand(k, out_n)
    band[rows, cols] = window[:, None].expand(k, out_n)
    return band


def _filters(h: int, w: int, window_size: int, sigma: float, gaussian: bool, dtype: torch.dtype,
             device: torch.device) -> tuple[Tensor, Tensor]:
    """``(Gᵀ_H (H', H), G_W (W, W'))``: the window as band matrices for ``Gᵀ_H · X · G_W``."""
    if gaussian:
        g = gaussian_window(window_size, sigma, dtype=dtype, device=device)
    else:
        g = torch.full((window_size,), 1.0 / window_size, dtype=dtype, device=device)
    return _band_matrix(h, g).T, _band_matrix(w, g)


def _ssim_from_moments(mu_x: Tensor, mu_y: Tensor, e_xx: Tensor, e_yy: Tensor, e_xy: Tensor, data_range: float,
                       window_size: int, k1: float, k2: float, sample_covariance: bool) -> Tensor:
    """The SSIM map from the filtered maps (local means of x, y, x², y², xy; broadcastable).

    Overwrites ``e_xx`` and ``e_xy`` (in-place steps: the same operations in the same order as the
    textbook formula, so the same bits, with fewer temporaries).
    """
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x, var_y, cov = e_xx.sub_(mu_xx), e_yy - mu_yy, e_xy.sub_(mu_xy)
    if sample_covariance:  # skimage's default: unbiased local (co)variances, NP / (NP - 1)
        n_px = window_size * window_size
        norm = n_px / (n_px - 1)
        var_x, var_y, cov = var_x.mul_(norm), var_y.mul_(norm), cov.mul_(norm)
    num = mu_xy.mul_(2).add_(c1).mul_(cov.mul_(2).add_(c2))      # (2 μxy + C1)(2 σxy + C2)
    den = mu_xx.add_(mu_yy).add_(c1).mul_(var_x.add_(var_y).add_(c2))  # (μx² + μy² + C1)(σx² + σy² + C2)
    return num.div_(den)


def _check_size(h: int, w: int, window_size: int) -> None:
    if h < window_size or w < window_size:
        raise ValueError(f"SSIM window {window_size}x{window_size} is larger than the frames ({h}x{w}); "
                         f"frames must be at least {window_size} pixels on each side")


def ssim_maps(x: Tensor, y: Tensor, data_range: float = 1.0, window_size: int = 11, sigma: float = 1.5,
              k1: float = 0.01, k2: float = 0.03, gaussian: bool = True,
              sample_covariance: bool = False) -> Tensor:
    """SSIM maps over the valid region for frame stacks (computed in the dtype of ``x``).

    Args:
        x: frames ``(M, C, H, W)``.
        y: frames ``(M, C, H, W)``.
        data_range, window_size, sigma, k1, k2, gaussian, sample_covariance: see :func:`ssim_frames`.

    Returns:
        ``(M, C, H - window_size + 1, W - window_size + 1)``.
    """
    m, c, h, w = x.shape
    _check_size(h, w, window_size)
    g_h, g_w = _filters(h, w, window_size, sigma, gaussian, x.dtype, x.device)
    # filter the five maps x, y, x², y², xy at once: (5, M, C, H, W) -> (5, M, C, H', W')
    stack = torch.stack([x, y, x * x, y * y, x * y])
    return _ssim_from_moments(*(g_h @ stack @ g_w), data_range, window_size, k1, k2, sample_covariance)


def ssim_frames(x: Tensor, y: Tensor, data_range: float = 1.0, window_size: int = 11, sigma: float = 1.5,
                k1: float = 0.01, k2: float = 0.03, gaussian: bool = True, sample_covariance: bool = False,
                chunk: int | None = None) -> Tensor:
    """Mean SSIM of every frame pair (per channel, then averaged over channels), in float64.

    Args:
        x: frames ``(..., C, H, W)``, float in [0, data_range]; H, W >= ``window_size``.
        y: frames ``(..., C, H, W)``; leading dims broadcast against ``x``.
        data_range: dynamic range L of the pixel values (1 for [0, 1] frames).
        window_size: side of the Gaussian window (11).
        sigma: standard deviation of the Gaussian window (1.5).
        k1: luminance constant, ``C1 = (k1·L)²``.
        k2: contrast constant, ``C2 = (k2·L)²``.
        gaussian: Gaussian window (default); ``False`` gives a uniform ``window_size``² box, as
            skimage's default 7x7 window that SVG's evaluation used (then also pass
            ``window_size=7, sample_covariance=True`` to reproduce it).
        sample_covariance: unbiased local (co)variances (skimage's default); ``False`` (default)
            uses population ones, as ``use_sample_covariance=False``.
        chunk: frames processed at once (bounds memory only; default from the frame size).

    Returns:
        float64 tensor with the broadcast leading shape ``(...)``.

    >>> import torch
    >>> x = torch.rand(2, 4, 3, 16, 16)
    >>> ssim_frames(x, x).shape, bool(torch.allclose(ssim_frames(x, x), torch.ones(2, 4, dtype=torch.float64)))
    (torch.Size([2, 4]), True)
    """

    if x.ndim < 3 or y.ndim < 3:
        raise ValueError(f"expected frames (..., C, H, W), got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    h, w = x.shape[-2:]
    _check_size(h, w, window_size)
    g_h, g_w = _filters(h, w, window_size, sigma, gaussian, torch.float64, x.device)

    def fn(a: Tensor, b: Tensor) -> Tensor:
        # a (G, R, C, H, W): the x frames that share the y frame b (G, 1, C, H, W). The local means of y
        # and y² are filtered once per y frame (k samples against one target: 3 maps a pair, not 5)
        mu_y, e_yy = g_h @ torch.stack([b, b * b]) @ g_w
        maps = torch.empty((3, *a.shape), dtype=a.dtype, device=a.device)  # x, x², xy without temporaries
        maps[0] = a
        torch.mul(a, a, out=maps[1])
        torch.mul(a, b, out=maps[2])
        mu_x, e_xx, e_xy = g_h @ maps @ g_w
        maps = _ssim_from_moments(mu_x, mu_y, e_xx, e_yy, e_xy, data_range, window_size, k1, k2, sample_covariance)
        return maps.flatten(2).mean(2)

    return map_frame_pairs(fn, x, y, chunk=chunk, grouped=True)
