"""Math tier: functional PSNR / SSIM / FCS / best-of-k against closed forms and skimage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity as sk_ssim

from benchmark.metrics.functional import (PSNR_MSE_FLOOR, frame_consistency, psnr_frames, reduce_samples,
                                          ssim_frames, ssim_maps, ssim_to_first_frame)
from benchmark.metrics.functional._frames import map_frame_pairs

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


def test_ssim_of_k_samples_against_one_target_matches_skimage():
    """The path that filters each target frame once for its k samples, against skimage pair by pair."""
    rng = np.random.default_rng(7)
    target = rng.random((2, 3, 3, 20, 23))  # (B, p, C, H, W)
    noise = np.array([0.02, 0.1, 0.3, 0.6]).reshape(1, 4, 1, 1, 1, 1) * rng.standard_normal((2, 4, 3, 3, 20, 23))
    samples = np.clip(target[:, None] + noise, 0, 1)  # (B, k, p, C, H, W)
    ours = ssim_frames(torch.from_numpy(samples), torch.from_numpy(target)[:, None])
    ref = np.array([[[_sk(samples[b, i, t], target[b, t]) for t in range(3)] for i in range(4)] for b in range(2)])
    assert ours.shape == (2, 4, 3)
    np.testing.assert_allclose(ours.numpy(), ref, atol=TOL, rtol=0)
    assert np.ptp(ref) > 0.3  # the samples really differ


def _plain_ssim(x: torch.Tensor, y: torch.Tensor, **kw) -> torch.Tensor:
    """Every pair on its own: the five maps x, y, x², y², xy filtered per pair (no reuse)."""
    return map_frame_pairs(lambda a, b: ssim_maps(a, b, **kw).flatten(1).mean(1), x, y, grouped=False)


@pytest.mark.parametrize("kw", [{}, dict(gaussian=False, window_size=7, sample_covariance=True, data_range=2.0)])
def test_ssim_reuse_of_target_maps_equals_the_plain_path(kw):
    g = torch.Generator().manual_seed(5)
    target = torch.rand(3, 4, 3, 16, 18, generator=g)
    samples = (target[:, None] + 0.2 * torch.randn(3, 5, 4, 3, 16, 18, generator=g)).clamp(0, 1)
    plain = _plain_ssim(samples, target[:, None], **kw)
    for chunk in (None, 1, 3, 7):  # groups split across calls, and k samples split within a group (chunk < k)
        reused = ssim_frames(samples, target[:, None], chunk=chunk, **kw)
        torch.testing.assert_close(reused, plain, atol=1e-14, rtol=0)
    videos = samples[:, 0]  # FCS: every frame against its video's first frame
    torch.testing.assert_close(ssim_to_first_frame(videos, **kw), _plain_ssim(videos, videos[:, :1], **kw),
                               atol=1e-14, rtol=0)


@pytest.mark.parametrize("channel_reduction", ["pooled", "per_channel"])
def test_psnr_of_k_samples_against_one_target_equals_pair_by_pair(channel_reduction):
    g = torch.Generator().manual_seed(6)
    target = torch.rand(3, 4, 3, 8, 9, generator=g)
    samples = torch.rand(3, 5, 4, 3, 8, 9, generator=g)
    plain = psnr_frames(samples, target[:, None].expand_as(samples).contiguous(), channel_reduction=channel_reduction)
    for chunk in (None, 2, 7):
        reused = psnr_frames(samples, target[:, None], chunk=chunk, channel_reduction=channel_reduction)
        torch.testing.assert_close(reused, plain, atol=1e-12, rtol=0)
    mse = (samples.double() - target[:, None].double()).square()
    mse = mse.flatten(3).mean(3) if channel_reduction == "pooled" else mse.flatten(4).mean(4)
    ref = 10 * torch.log10(1 / mse)
    torch.testing.assert_close(plain, ref if channel_reduction == "pooled" else ref.mean(3), atol=1e-10, rtol=0)


@pytest.mark.parametrize("x_lead,y_lead", [((2, 3, 4), (2, 1, 4)), ((2, 3, 4), (1, 4)), ((2, 3, 4), ()),
                                           ((2, 3, 4), (2, 3, 1)), ((2, 1, 4), (2, 3, 1)), ((2, 3), (2, 3)),
                                           ((), ()), ((0, 3), (0, 1))])
@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_grouped_frame_pairs_equal_the_pairwise_map(x_lead, y_lead, chunk):
    """Grouping every y frame with the x frames it is broadcast against changes nothing but the work."""
    g = torch.Generator().manual_seed(len(x_lead) + len(y_lead))
    x, y = torch.rand(*x_lead, 2, 3, 4, generator=g), torch.rand(*y_lead, 2, 3, 4, generator=g)
    plain = map_frame_pairs(lambda a, b: (a - b).abs().flatten(1).mean(1) + b.flatten(1)[:, 0], x, y, chunk=chunk)
    calls = []

    def grouped_fn(a, b):
        calls.append(tuple(a.shape[:2]))
        assert b.shape[1] == 1
        return (a - b).abs().flatten(2).mean(2) + b.flatten(2)[:, :, 0]

    grouped = map_frame_pairs(grouped_fn, x, y, chunk=chunk, grouped=True)
    assert grouped.shape == plain.shape == torch.broadcast_shapes(x_lead, y_lead)
    assert torch.equal(grouped, plain)
    assert all(g_ * r <= max(chunk or 100, r) for g_, r in calls)  # memory bound: chunk frames (or one group)


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


@pytest.mark.parametrize("data_range,gaussian", [(255.0, True), (255.0, False), (2.0, True), (2.0, False)])
def test_ssim_with_data_range_other_than_one_matches_skimage(data_range, gaussian):
    """C1, C2 scale with the range: 8-bit frames (255), and SVG's [0, 1] floats scored with range 2."""
    rng = np.random.default_rng(int(data_range))
    scale = 255.0 if data_range == 255.0 else 1.0
    x = rng.random((2, 3, 20, 21)) * scale
    y = np.clip(x + 0.1 * scale * rng.standard_normal(x.shape), 0, scale)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False) if gaussian else {}
    ours = ssim_frames(torch.from_numpy(x), torch.from_numpy(y), data_range=data_range,
                       **({} if gaussian else dict(gaussian=False, window_size=7, sample_covariance=True)))
    ref = [sk_ssim(a, b, channel_axis=0, data_range=data_range, **kw) for a, b in zip(x, y)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=TOL, rtol=0)
    one = ssim_frames(torch.from_numpy(x), torch.from_numpy(y), data_range=1.0,
                      **({} if gaussian else dict(gaussian=False, window_size=7, sample_covariance=True)))
    assert (ours - one).abs().max() > 1e-4  # the range really enters


@pytest.mark.parametrize("data_range", [255.0, 2.0])
def test_psnr_with_data_range_other_than_one_matches_skimage(data_range):
    from skimage.metrics import peak_signal_noise_ratio as sk_psnr

    rng = np.random.default_rng(3)
    x = rng.random((3, 2, 9, 11)) * data_range
    y = np.clip(x + 0.05 * data_range * rng.standard_normal(x.shape), 0, data_range)
    ours = psnr_frames(torch.from_numpy(x), torch.from_numpy(y), data_range=data_range)
    ref = [sk_psnr(a, b, data_range=data_range) for a, b in zip(x, y)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-9, rtol=0)


def test_named_presets_reproduce_svg_and_savp_conventions():
    """SVG: skimage's per-channel compare_ssim defaults (7x7 uniform, sample covariance, range 2 on
    [0, 1] floats) and the mean of per-channel PSNRs; SAVP: Gaussian SSIM, PSNR of the pooled MSE."""
    from skimage.metrics import peak_signal_noise_ratio as sk_psnr

    from benchmark.metrics.psnr import PeakSignalNoiseRatio
    from benchmark.metrics.ssim import StructuralSimilarity

    rng = np.random.default_rng(4)
    target = rng.random((2, 3, 3, 16, 16))  # (B, p, C, H, W), colour
    target[:, :, 0] *= 0.2  # channels of different contrast: per-channel and pooled PSNR differ
    sample = np.clip(target + rng.standard_normal(target.shape) * np.array([0.02, 0.1, 0.3])[:, None, None], 0, 1)
    values = {}
    for preset in ("svg", "savp", "srvp"):
        s, p = StructuralSimilarity(preset=preset), PeakSignalNoiseRatio(preset=preset)
        for m in (s, p):
            m.update(torch.from_numpy(sample)[:, None], torch.from_numpy(target))
        values[preset] = (s.compute()["ssim_mean"].value, p.compute()["psnr_mean"].value)
        assert s.protocol()["preset"] == preset == p.protocol()["preset"]
    frames = list(zip(sample.reshape(-1, 3, 16, 16), target.reshape(-1, 3, 16, 16)))
    svg_ssim = np.mean([np.mean([sk_ssim(a[c], b[c], data_range=2.0) for c in range(3)]) for a, b in frames])
    svg_psnr = np.mean([np.mean([sk_psnr(b[c], a[c], data_range=1.0) for c in range(3)]) for a, b in frames])
    savp_psnr = np.mean([sk_psnr(b, a, data_range=1.0) for a, b in frames])
    savp_ssim = np.mean([_sk(a, b) for a, b in frames])
    assert values["svg"] == pytest.approx((svg_ssim, svg_psnr), rel=1e-9)
    assert values["savp"] == pytest.approx((savp_ssim, savp_psnr), rel=1e-9)
    assert values["srvp"] == pytest.approx((savp_ssim, svg_psnr), rel=1e-9)
    assert abs(svg_psnr - savp_psnr) > 0.5 and abs(svg_ssim - savp_ssim) > 1e-3  # the conventions matter
    assert StructuralSimilarity(preset="svg").protocol()["data_range"] == 2.0
    assert PeakSignalNoiseRatio(preset="svg").protocol()["channel_reduction"] == "per_channel"
    with pytest.raises(ValueError, match="preset"):
        StructuralSimilarity(preset="sv2p")
