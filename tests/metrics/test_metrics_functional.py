"""Math tier: functional PSNR / SSIM / FCS / best-of-k against closed forms and skimage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity as sk_ssim

from benchmark.metrics.functional import (PSNR_MSE_FLOOR, frame_consistency, psnr_frames, reduce_samples,
                                          ssim_frames, ssim_to_first_frame)

TOL = 1e-6  # the spec asks for 1e-4; the implementation agrees with skimage to ~1e-15


def _sk(x: np.ndarray, y: np.ndarray, **kw) -> float:
    """skimage reference on one (C, H, W) frame pair, channels on axis 0."""
    defaults = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    defaults.update(kw)
    if x.shape[0] == 1:
        return sk_ssim(x[0], y[0], **defaults)
    return sk_ssim(x, y, channel_axis=0, **defaults)


def _structured(c: int, h: int, w: int) -> np.ndarray:
    """Gradients, a bright rectangle and a disc: edges and flat areas, values in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([(xx + yy * (i + 1)) % 1.0 for i in range(c)])
    img[:, h // 4: h // 2, w // 5: w // 2] = 0.9
    img[:, ((yy * max(h, w) - 0.7 * h) ** 2 + (xx * max(h, w) - 0.6 * w) ** 2) < (min(h, w) / 5) ** 2] = 0.1
    return img


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("kind", ["random", "structured"])
def test_ssim_matches_skimage(c, kind):
    rng = np.random.default_rng(c + len(kind))
    h, w = 24, 29  # non-square, not a multiple of the window
    xs, ys = [], []
    for i in range(3):
        x = rng.random((c, h, w)) if kind == "random" else _structured(c, h, w)
        noise = 0.05 * (i + 1) * rng.standard_normal((c, h, w))
        xs.append(x)
        ys.append(np.clip(x + noise, 0, 1) if i < 2 else np.clip(0.7 * x + 0.2, 0, 1))  # contrast change
    x, y = np.stack(xs), np.stack(ys)
    ours = ssim_frames(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    ref = np.array([_sk(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
                    for a, b in zip(x, y)])
    assert ours.dtype == torch.float64 and ours.shape == (3,)
    np.testing.assert_allclose(ours.numpy(), ref, atol=TOL, rtol=0)
    assert ref.min() < 0.95  # the pairs are really different


def test_ssim_uniform_window_matches_skimage_default():
    """SVG's evaluation setting: skimage's default 7x7 uniform window, sample covariance."""
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 20, 20))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    ours = ssim_frames(torch.from_numpy(x), torch.from_numpy(y), gaussian=False, window_size=7,
                       sample_covariance=True)
    ref = [sk_ssim(a, b, channel_axis=0, data_range=1.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=TOL, rtol=0)
    assert not torch.allclose(ours, ssim_frames(torch.from_numpy(x), torch.from_numpy(y)))


def test_ssim_identity_symmetry_broadcast_and_chunking():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 4, 3, 16, 16, generator=g)
    samples = (target[:, None] + 0.1 * torch.randn(2, 5, 4, 3, 16, 16, generator=g)).clamp(0, 1)
    assert torch.allclose(ssim_frames(target, target), torch.ones(2, 4, dtype=torch.float64), atol=1e-12)
    broadcast = ssim_frames(samples, target[:, None])
    explicit = ssim_frames(samples, target[:, None].expand_as(samples).contiguous())
    one_at_a_time = ssim_frames(samples, target[:, None], chunk=1)
    assert broadcast.shape == (2, 5, 4)
    assert torch.equal(broadcast, explicit)
    assert torch.allclose(broadcast, one_at_a_time, atol=1e-14, rtol=0)
    assert torch.allclose(broadcast, ssim_frames(target[:, None], samples), atol=1e-14)  # symmetric


def test_ssim_rejects_frames_smaller_than_window():
    x = torch.rand(1, 1, 10, 30)
    with pytest.raises(ValueError, match="larger than the frames"):
        ssim_frames(x, x)


def test_psnr_closed_form():
    x = torch.full((2, 3, 1, 8, 8), 0.25)
    for d in (0.5, 0.1, 1 / 255):
        assert torch.allclose(psnr_frames(x, x + d), torch.full((2, 3), -20 * math.log10(d), dtype=torch.float64),
                              atol=1e-4)
    # general random case vs the textbook formula, colour frames (MSE over C, H, W)
    g = torch.Generator().manual_seed(3)
    a, b = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    mse = ((a.double() - b.double()) ** 2).mean((1, 2, 3))
    assert torch.allclose(psnr_frames(a, b), 10 * torch.log10(1 / mse), atol=1e-10)
    # one differing pixel in a 3x8x8 frame: MSE = d²/192
    c = a.clone()
    c[0, 1, 2, 3] += 0.5
    assert math.isclose(float(psnr_frames(a[:1], c[:1])), 10 * math.log10(192 / 0.25), rel_tol=1e-6)


def test_psnr_identical_frames_hit_the_floor():
    x = torch.rand(3, 2, 1, 8, 8)
    expected = 10 * math.log10(1 / PSNR_MSE_FLOOR)
    out = psnr_frames(x, x)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, torch.full_like(out, expected))
    assert expected == pytest.approx(100.0)


def test_best_of_k_is_per_sequence_not_per_timestep():
    # sequence 0: sample 0 averages 3.0, sample 1 averages 2.5, but sample 1 wins timestep 0
    # sequence 1: sample 1 averages best
    scores = torch.tensor([[[1.0, 5.0], [3.0, 2.0], [0.0, 0.0]],
                           [[1.0, 1.0], [2.0, 2.0], [4.0, -3.0]]])
    r = reduce_samples(scores, higher_is_better=True)
    assert r.best_index.tolist() == [0, 1] and r.worst_index.tolist() == [2, 2]
    assert torch.equal(r.best, torch.tensor([[1.0, 5.0], [2.0, 2.0]]))
    assert not torch.equal(r.best[0], scores[0].max(0).values)  # per-timestep max would be [3, 5]
    assert torch.equal(r.worst, torch.tensor([[0.0, 0.0], [4.0, -3.0]]))
    assert torch.allclose(r.mean, scores.mean(1))
    # lower is better (e.g. LPIPS): the roles swap
    low = reduce_samples(scores, higher_is_better=False)
    assert low.best_index.tolist() == [2, 2] and low.worst_index.tolist() == [0, 1]
    # ties go to the lowest index
    tie = reduce_samples(torch.tensor([[[1.0, 2.0], [2.0, 1.0]]]))
    assert tie.best_index.tolist() == [0] and tie.worst_index.tolist() == [0]
    with pytest.raises(ValueError):
        reduce_samples(torch.zeros(2, 3))


def test_fcs_static_video_is_one_and_matches_definition():
    g = torch.Generator().manual_seed(0)
    static = torch.rand(2, 1, 3, 16, 16, generator=g).expand(2, 6, 3, 16, 16)
    assert torch.allclose(frame_consistency(static), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(frame_consistency(static, include_first=False), torch.ones(2, dtype=torch.float64))

    videos = torch.rand(3, 5, 1, 16, 16, generator=g)
    per_frame = np.array([[_sk(v[t].double().numpy(), v[0].double().numpy()) for t in range(5)]
                          for v in videos])
    np.testing.assert_allclose(ssim_to_first_frame(videos).numpy(), per_frame, atol=TOL)
    np.testing.assert_allclose(frame_consistency(videos).numpy(), per_frame.mean(1), atol=TOL)
    np.testing.assert_allclose(frame_consistency(videos, include_first=False).numpy(), per_frame[:, 1:].mean(1),
                               atol=TOL)
    assert (frame_consistency(videos) > frame_consistency(videos, include_first=False)).all()
    with pytest.raises(ValueError):
        frame_consistency(videos[:, :1], include_first=False)
