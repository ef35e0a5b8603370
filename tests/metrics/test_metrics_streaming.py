"""Streaming tier: registry entries, keys, streamed == one-shot, split invariance, reset, merge."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.metrics.base import Z95, MetricValue
from benchmark.metrics.fcs import FrameConsistencyScore
from benchmark.metrics.functional import frame_consistency, psnr_frames, reduce_samples, ssim_frames
from benchmark.metrics.psnr import PeakSignalNoiseRatio
from benchmark.metrics.ssim import StructuralSimilarity
from benchmark.registry import METRICS
from benchmark.video import VideoFormatError

B, K, P, C, H, W = 6, 3, 4, 1, 16, 16
PAIRED = {"psnr": PeakSignalNoiseRatio, "ssim": StructuralSimilarity}
FUNCS = {"psnr": psnr_frames, "ssim": ssim_frames}


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(B, P, C, H, W, generator=g)
    noise = torch.linspace(0.02, 0.3, K).view(1, K, 1, 1, 1, 1)
    samples = (target[:, None] + noise * torch.randn(B, K, P, C, H, W, generator=g)).clamp(0, 1)
    return samples, target


def _assert_same(a: dict[str, MetricValue], b: dict[str, MetricValue]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].n == b[key].n
        assert a[key].value == pytest.approx(b[key].value, rel=1e-12, abs=1e-12)
        # CIs come from sum and sum of squares: summation order moves them by a few ulps of the sums
        np.testing.assert_allclose([a[key].ci_low, a[key].ci_high], [b[key].ci_low, b[key].ci_high], rtol=1e-9)
        if a[key].curve is not None:
            np.testing.assert_allclose(a[key].curve, b[key].curve, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(a[key].curve_ci_high, b[key].curve_ci_high, rtol=1e-9)


def test_registry_entries():
    assert {"psnr", "ssim", "fcs"} <= set(METRICS.list())
    for name in ("psnr", "ssim"):
        cls = METRICS.get(name)
        assert cls is PAIRED[name] and cls.kind == "paired" and cls.tasks == ("prediction",)
        assert cls.higher_is_better and not cls.requires_weights
    fcs = METRICS.get("fcs")
    assert fcs is FrameConsistencyScore and fcs.kind == "intrinsic"
    assert fcs.tasks == ("synthesis", "prediction")


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_paired_values_match_functional_reduction(name, batch):
    samples, target = batch
    m = PAIRED[name]()
    m.update(samples, target)
    out = m.compute()
    assert list(out) == [f"{name}_best", f"{name}_mean", f"{name}_worst"]
    scores = FUNCS[name](samples, target[:, None])  # (B, K, P)
    red = reduce_samples(scores)
    for r in ("best", "mean", "worst"):
        mv = out[f"{name}_{r}"]
        per_seq = getattr(red, r).mean(1).numpy()
        half = Z95 * per_seq.std(ddof=1) / math.sqrt(B)
        assert mv.n == B and mv.higher_is_better is True
        assert mv.value == pytest.approx(per_seq.mean(), abs=1e-12)
        assert (mv.ci_low, mv.ci_high) == pytest.approx((per_seq.mean() - half, per_seq.mean() + half), abs=1e-9)
        np.testing.assert_allclose(mv.curve, getattr(red, r).mean(0).numpy(), atol=1e-12)
        assert len(mv.curve_ci_low) == len(mv.curve_ci_high) == P
        assert mv.extra["samples_per_sequence"] == K
    assert out[f"{name}_best"].value > out[f"{name}_mean"].value > out[f"{name}_worst"].value


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_streamed_equals_one_shot_and_split_invariance(name, batch):
    samples, target = batch
    one = PAIRED[name]()
    one.update(samples, target)
    ref = one.compute()
    for splits in ([1, 5], [2, 2, 2], [1] * B):
        m = PAIRED[name]()
        start = 0
        for s in splits:
            m.update(samples[start:start + s], target[start:start + s])
            start += s
        _assert_same(m.compute(), ref)


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_reset_and_merge(name, batch):
    samples, target = batch
    one = PAIRED[name]()
    one.update(samples, target)
    ref = one.compute()

    m = PAIRED[name]()
    m.update(samples[:2] * 0.5, target[:2])
    m.reset()
    assert float(m.n) == 0 and m.best_curve_sum.numel() == 0
    m.update(samples, target)
    _assert_same(m.compute(), ref)

    a, b, empty = PAIRED[name](), PAIRED[name](), PAIRED[name]()
    a.update(samples[:4], target[:4])
    b.update(samples[4:], target[4:])
    a.merge_state(b)
    a.merge_state(empty)  # a rank that saw no data (curves not sized yet)
    _assert_same(a.compute(), ref)
    empty.merge_state(a)  # and the other way round
    _assert_same(empty.compute(), ref)

    # summing raw states (what dist_reduce_fx="sum" does across processes)
    c, d = PAIRED[name](num_frames=P), PAIRED[name](num_frames=P)
    c.update(samples[:3], target[:3])
    d.update(samples[3:], target[3:])
    summed = PAIRED[name](num_frames=P)
    summed.merge_state({k: c.metric_state[k] + d.metric_state[k] for k in c.metric_state})
    _assert_same(summed.compute(), ref)


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_forward_returns_batch_value_and_accumulates(name, batch):
    samples, target = batch
    one = PAIRED[name]()
    one.update(samples, target)
    m = PAIRED[name]()
    first = m(samples[:2], target[:2])  # torchmetrics forward: batch value, state accumulates
    m(samples[2:], target[2:])
    only_first = PAIRED[name]()
    only_first.update(samples[:2], target[:2])
    _assert_same(first, only_first.compute())
    _assert_same(m.compute(), one.compute())


def test_psnr_closed_form_and_single_sequence_ci_is_nan():
    target = torch.full((1, 3, 1, 16, 16), 0.5)
    samples = torch.stack([target + 0.1, target + 0.01], dim=1)  # (1, 2, 3, ...)
    m = PeakSignalNoiseRatio()
    m.update(samples, target)
    out = m.compute()
    assert out["psnr_best"].value == pytest.approx(40.0, abs=1e-3)
    assert out["psnr_worst"].value == pytest.approx(20.0, abs=1e-3)
    assert out["psnr_mean"].value == pytest.approx(30.0, abs=1e-3)
    assert out["psnr_best"].n == 1
    assert math.isnan(out["psnr_best"].ci_low) and math.isnan(out["psnr_best"].ci_high)
    assert all(math.isnan(v) for v in out["psnr_best"].curve_ci_low)


def test_paired_input_errors(batch):
    samples, target = batch
    m = StructuralSimilarity()
    bad = samples.clone()
    bad[1, 0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(VideoFormatError, match="NaN"):
        m.update(bad, target)
    with pytest.raises(VideoFormatError, match="unsqueeze"):
        m.update(samples[:, 0], target)
    with pytest.raises(VideoFormatError, match="do not match"):
        m.update(samples[:, :, :2], target)
    with pytest.raises(VideoFormatError, match=r"\[0, 1\]"):
        m.update(samples * 2, target)
    m.update(samples, target)
    with pytest.raises(VideoFormatError, match="p=2"):
        m.update(samples[:, :, :2], target[:, :2])
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="before any update"):
        PeakSignalNoiseRatio().compute()


def test_protocols_record_the_settings():
    s = StructuralSimilarity().protocol()
    assert (s["window"], s["window_size"], s["sigma"], s["data_range"], s["k1"], s["k2"]) == \
        ("gaussian", 11, 1.5, 1.0, 0.01, 0.03)
    assert "per channel" in s["color"] and "best-per-sequence" in s["sample_selection"]
    svg = StructuralSimilarity(gaussian=False, window_size=7, sample_covariance=True).protocol()
    assert svg["window"] == "uniform" and svg["window_size"] == 7 and svg["covariance"].startswith("sample")
    p = PeakSignalNoiseRatio().protocol()
    assert p["mse_floor"] == 1e-10 and p["max_psnr_db"] == pytest.approx(100.0) and p["data_range"] == 1.0
    f = FrameConsistencyScore().protocol()
    assert f["include_first_frame"] is True and f["ssim"]["window_size"] == 11
    assert FrameConsistencyScore(include_first=False).protocol()["include_first_frame"] is False


def test_fcs_streaming():
    g = torch.Generator().manual_seed(1)
    static = torch.rand(4, 1, 3, 16, 16, generator=g).expand(4, 5, 3, 16, 16)
    m = FrameConsistencyScore()
    m.update(static)
    out = m.compute()
    assert list(out) == ["fcs"]
    assert out["fcs"].value == pytest.approx(1.0, abs=1e-12) and out["fcs"].n == 4
    assert out["fcs"].ci_low == pytest.approx(1.0, abs=1e-6)

    videos = torch.rand(5, 4, 1, 16, 16, generator=g)
    per_video = frame_consistency(videos).numpy()
    one = FrameConsistencyScore()
    one.update(videos)
    ref = one.compute()
    assert ref["fcs"].value == pytest.approx(per_video.mean(), abs=1e-12)
    half = Z95 * per_video.std(ddof=1) / math.sqrt(5)
    assert ref["fcs"].ci_high == pytest.approx(per_video.mean() + half, abs=1e-9)

    a, b = FrameConsistencyScore(), FrameConsistencyScore()
    a.update(videos[:2])
    b.update(videos[2:])
    a.merge_state(b)
    _assert_same(a.compute(), ref)
    a.reset()
    a.update(videos[:1])
    assert math.isnan(a.compute()["fcs"].ci_low)
    with pytest.raises(VideoFormatError):
        a.update(videos[0])  # 4-D
