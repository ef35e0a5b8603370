"""Graded distortions: identity at level 0, valid videos, strength grows with the level, seeded."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.data.distortions import DISTORTIONS, LEVELS, describe, distort


@pytest.fixture(scope="module")
def clips():
    # a moving bright square on a dark background: every distortion has something to change
    v = torch.full((3, 16, 3, 32, 32), 0.1)
    for t in range(16):
        v[:, t, :, 8:16, t:t + 8] = torch.tensor([0.9, 0.3, 0.2])[:, None, None]
    return v


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_levels_are_valid_videos_and_level_0_is_the_identity(clips, name):
    assert distort(clips, name, 0) is clips
    for level in LEVELS[1:]:
        out = distort(clips, name, level, seed=3)
        assert out.shape == clips.shape and out.dtype == clips.dtype
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        assert torch.equal(out, distort(clips, name, level, seed=3))  # a pure function of the seed
        assert not torch.equal(out, clips)


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_distance_to_the_clean_clips_grows_with_the_level(clips, name):
    """Pixel MSE to the clean clips increases level by level (averaged over 3 seeds for the random ones)."""
    mse = [sum(float((distort(clips, name, lv, seed=s) - clips).square().mean()) for s in range(3))
           for lv in LEVELS]
    assert mse[0] == 0
    assert all(a < b for a, b in zip(mse, mse[1:])), mse


def test_temporal_distortions_only_reorder_frames(clips):
    for name in ("temporal_shuffle", "frozen_frames", "frame_rate"):
        out = distort(clips, name, 4, seed=1)
        frames = {tuple(f.flatten()[:: 97].tolist()) for f in clips[0]}
        assert all(tuple(f.flatten()[:: 97].tolist()) in frames for f in out[0])
    frozen = distort(clips, "frozen_frames", 4)
    assert torch.equal(frozen, clips[:, :1].expand_as(clips))
    held = distort(clips, "frame_rate", 1)  # every 2nd frame, held
    assert torch.equal(held[:, 1], clips[:, 0]) and torch.equal(held[:, 2], clips[:, 2])


def test_errors_and_descriptions(clips):
    with pytest.raises(ValueError, match="valid: gaussian_noise"):
        distort(clips, "pixelate", 1)
    with pytest.raises(ValueError, match="level"):
        distort(clips, "blur", 5)
    assert describe("blur", 2) == {"distortion": "blur", "level": 2, "parameter": "Gaussian sigma in px of a 64-px frame",
                                   "strength": 3.0}
    assert describe("gaussian_noise", 0)["strength"] == 0.0


def test_blur_matches_torchvision(clips):
    tv = pytest.importorskip("torchvision.transforms.functional")
    from benchmark.data.distortions import gaussian_blur

    frames = clips[0]
    for sigma in (0.5, 1.5, 3.0):
        k = 2 * math.ceil(3 * sigma) + 1
        ref = tv.gaussian_blur(frames, [k, k], [sigma, sigma])
        assert torch.allclose(gaussian_blur(frames, sigma), ref, atol=1e-6)
