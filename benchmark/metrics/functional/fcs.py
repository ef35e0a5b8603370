"""Frame Consistency Score (Aich et al. 2020), per video.

The paper (Sec. 4.2): "We keep the first frame of the generated video as reference and compute the
averaged structural similarity measure for all frames. The FCS is then given by the average of this
measure over all videos." The authors published no code, so two choices are ours and recorded in
every protocol:

* **Frame 1 counts.** "averaged ... for all frames" is read literally: the mean runs over all T
  frames, including frame 1 against itself (SSIM exactly 1). ``include_first=False`` gives the
  mean over frames 2..T instead; the two differ by ``(1 − FCS')/T``, so compare only like with like.
* **SSIM settings** are those of :func:`~benchmark.metrics.functional.ssim.ssim_frames` (11x11
  Gaussian window, σ = 1.5, data range 1, K1 = 0.01, K2 = 0.03, per channel then averaged).
"""

from __future__ import annotations

from torch import Tensor

from benchmark.metrics.functional.ssim import ssim_frames


def ssim_to_first_frame(videos: Tensor, **ssim_kwargs) -> Tensor:
    """SSIM of every frame against its video's first frame.

    Args:
        videos: ``(N, T, C, H, W)`` float in [0, 1].
        **ssim_kwargs: forwarded to :func:`ssim_frames` (window, sigma, data range, ...).

    Returns:
        float64 ``(N, T)``; column 0 is 1 (frame 1 against itself).
    """
    if videos.ndim != 5:
        raise ValueError(f"expected videos (N, T, C, H, W), got shape {tuple(videos.shape)}")
    return ssim_frames(videos, videos[:, :1], **ssim_kwargs)


def frame_consistency(videos: Tensor, include_first: bool = True, **ssim_kwargs) -> Tensor:
    """Per-video FCS: the mean over frames of SSIM(frame t, frame 1).

    Args:
        videos: ``(N, T, C, H, W)`` float in [0, 1].
        include_first: average over all T frames, counting frame 1 vs itself (the paper's wording;
            default), or over frames 2..T only (needs T >= 2).
        **ssim_kwargs: forwarded to :func:`ssim_frames`.

    Returns:
        float64 ``(N,)``. The dataset-level FCS is its mean.

    >>> import torch
    >>> static = torch.rand(1, 1, 3, 16, 16).expand(2, 5, 3, 16, 16)
    >>> frame_consistency(static)
    tensor([1., 1.], dtype=torch.float64)
    """
    if videos.ndim != 5:
        raise ValueError(f"expected videos (N, T, C, H, W), got shape {tuple(videos.shape)}")
    if not include_first and videos.shape[1] < 2:
        raise ValueError(f"FCS without frame 1 needs at least 2 frames, got T={videos.shape[1]}")
    rest = ssim_frames(videos[:, 1:], videos[:, :1], **ssim_kwargs)  # (N, T-1)
    if include_first:
        return (1.0 + rest.sum(1)) / videos.shape[1]
    return rest.mean(1)
