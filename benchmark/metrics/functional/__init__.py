"""Pure metric math on torch tensors (no state, no registry); the streaming classes call these.

>>> import torch
>>> from benchmark.metrics.functional import psnr_frames, ssim_frames
>>> x = torch.rand(2, 3, 1, 16, 16)
>>> psnr_frames(x, x).shape, ssim_frames(x, x).shape
(torch.Size([2, 3]), torch.Size([2, 3]))
"""

from benchmark.metrics.functional.fcs import frame_consistency, ssim_to_first_frame
from benchmark.metrics.functional.psnr import PSNR_MSE_FLOOR, psnr_frames
from benchmark.metrics.functional.ssim import gaussian_window, ssim_frames, ssim_maps
from benchmark.metrics.functional.stochastic import SampleReduction, reduce_samples

__all__ = [
    "PSNR_MSE_FLOOR", "SampleReduction", "frame_consistency", "gaussian_window", "psnr_frames",
    "reduce_samples", "ssim_frames", "ssim_maps", "ssim_to_first_frame",
]
