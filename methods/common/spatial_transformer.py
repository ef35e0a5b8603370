"""Scale-and-translate spatial transformers (Jaderberg et al. 2015) for object-centric models.

A pose ``(s, x, y)`` is the affine map ``[[s, 0, x], [0, s, y]]`` from the normalised coordinates
of the full image (``[-1, 1]²``) to those of an object window, as in Attend-Infer-Repeat and DDPAE
(Hsieh et al. 2018, ``jthsieh/DDPAE-video-prediction`` ``utils/DDPAE_utils.py``): a window of side
``object_size`` lands in the image at scale ``1/s`` centred at ``(-x/s, -y/s)``.

* :func:`place_objects` draws object windows into image-sized canvases (zero outside the window).
* :func:`crop_objects` reads object windows out of images with the inverse pose.
* :func:`window_centres` gives where each window sits, in ``[0, 1]`` image coordinates.

>>> import torch
>>> obj = torch.ones(1, 1, 8, 8)
>>> canvas = place_objects(obj, torch.tensor([[2.0, 0.0, 0.0]]), (16, 16))
>>> round(float(canvas.sum()))  # an 8x8 window at scale 1/2 of a 16x16 image: 8x8 pixels
64
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pose_to_affine(pose: Tensor) -> Tensor:
    """``(N, 3)`` poses ``(s, x, y)`` -> ``(N, 2, 3)`` affine matrices ``[[s, 0, x], [0, s, y]]``."""
    s, x, y = pose.unbind(-1)
    zero = torch.zeros_like(s)
    return torch.stack([torch.stack([s, zero, x], -1), torch.stack([zero, s, y], -1)], -2)


def invert_pose(pose: Tensor) -> Tensor:
    """``(s, x, y)`` -> ``(1/s, -x/s, -y/s)``: the pose of the inverse map."""
    s = pose[..., :1]
    return torch.cat([torch.ones_like(s), -pose[..., 1:]], -1) / s


def place_objects(objects: Tensor, pose: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Objects ``(N, C, h, w)`` at poses ``(N, 3)`` -> canvases ``(N, C, H, W)`` (zeros outside)."""
    n, c = objects.shape[:2]
    grid = F.affine_grid(pose_to_affine(pose), [n, c, *image_size], align_corners=False)
    return F.grid_sample(objects, grid, align_corners=False)


def crop_objects(images: Tensor, pose: Tensor, object_size: tuple[int, int]) -> Tensor:
    """Images ``(N, C, H, W)`` and poses ``(N, 3)`` -> object windows ``(N, C, h, w)``."""
    n, c = images.shape[:2]
    grid = F.affine_grid(pose_to_affine(invert_pose(pose)), [n, c, *object_size], align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


def window_centres(pose: Tensor) -> Tensor:
    """``(..., 3)`` poses -> ``(..., 2)`` window centres ``(u, v)`` in ``[0, 1]`` image coordinates
    (``u`` along the width, ``v`` along the height)."""
    s = pose[..., :1]
    return (1 - pose[..., 1:] / s) / 2
