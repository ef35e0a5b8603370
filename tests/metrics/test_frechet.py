"""Fréchet distance closed forms, streaming/merging of the FVD state, the I3D input checks."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

from benchmark.metrics import frechet_distance
from benchmark.metrics.functional.frechet import feature_moments, frechet_distance_features
from benchmark.metrics.fvd import FrechetFeatureMetric, FrechetVideoDistance
from benchmark.video import VideoFormatError
from benchmark.weights import random_weights


class StubExtractor:
    """Features = the first 8 pixel values of each video (cheap, deterministic)."""

    name, dim, backend = "stub", 8, "stub"

    def __init__(self) -> None:
        self.weights = random_weights("stub")
        self.calls = 0

    def protocol(self):
        return {"network": "stub"}

    def __call__(self, videos):
        self.calls += 1
        return videos.flatten(1)[:, : self.dim].double() * 10


def test_fd_of_identical_sets_is_zero_even_when_n_below_d():
    g = torch.Generator().manual_seed(0)
    for n, d in ((50, 400), (600, 64)):
        x = torch.randn(n, d, generator=g, dtype=torch.float64) * 3 + 1
        mu, s = feature_moments(x)
        assert frechet_distance(mu, s, mu, s) <= 1e-6 * float(torch.trace(s))


def test_equal_covariances_give_squared_mean_distance():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(30, 30, generator=g, dtype=torch.float64)
    s = a @ a.T + torch.eye(30, dtype=torch.float64)
    mu1, mu2 = torch.randn(30, generator=g, dtype=torch.float64), torch.randn(30, generator=g, dtype=torch.float64)
    assert frechet_distance(mu1, s, mu2, s) == pytest.approx(float(((mu1 - mu2) ** 2).sum()), rel=1e-9)


def test_matches_pytorch_fid_on_well_conditioned_inputs():
    fid = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.RandomState(0)
    x, y = rng.randn(2000, 16), rng.randn(1500, 16) * 1.3 + 0.2
    mu1, s1 = x.mean(0), np.cov(x, rowvar=False)
    mu2, s2 = y.mean(0), np.cov(y, rowvar=False)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(fid.calculate_frechet_distance(mu1, s1, mu2, s2),
                                                               rel=1e-8)


def test_unbiased_covariance_and_float64():
    x = torch.tensor([[0.0], [2.0]])
    mu, s = feature_moments(x)
    assert s.dtype == torch.float64 and float(s) == 2.0 and float(mu) == 1.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))


def _videos(n, seed, t=9):
    return torch.rand(n, t, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


def test_streaming_is_batch_split_invariant_and_merges():
    real, fake = _videos(40, 0), _videos(30, 1) * 0.5
    one = FrechetFeatureMetric(extractor=StubExtractor())
    one.update(real, real=True)
    one.update(fake, real=False)
    parts = [FrechetFeatureMetric(extractor=StubExtractor()) for _ in range(3)]
    for i, m in enumerate(parts):
        m.update(real[i::3], real=True)
        m.update(fake[i::3], real=False)
    parts[0].merge_state(parts[1])
    parts[0].merge_state(parts[2])
    direct = frechet_distance_features(StubExtractor()(real), StubExtractor()(fake))
    v1, v2 = one.compute()[""].value, parts[0].compute()[""].value
    assert v1 == pytest.approx(direct, rel=1e-9) and v2 == pytest.approx(direct, rel=1e-9)
    one.reset()
    assert int(one.real_n) == 0


def _dist_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    m = FrechetFeatureMetric(extractor=StubExtractor())
    real, fake = _videos(40, 0), _videos(30, 1) * 0.5
    m.update(real[rank::world], real=True)
    m.update(fake[rank::world], real=False)
    value = m.compute()[""].value  # torchmetrics all-reduces the sums
    if rank == 0:
        torch.save(value, out)
    dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    import torch.multiprocessing as mp

    out = str(tmp_path / "v.pt")
    mp.spawn(_dist_worker, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True)
    single = frechet_distance_features(StubExtractor()(_videos(40, 0)), StubExtractor()(_videos(30, 1) * 0.5))
    assert torch.load(out) == pytest.approx(single, rel=1e-9)


def test_feature_cache_skips_the_network_on_a_second_pass(tmp_path):
    ex = StubExtractor()
    real = _videos(10, 3)
    for _ in range(2):
        m = FrechetFeatureMetric(extractor=ex, cache_dir=tmp_path)
        m.update(real, real=True)
    assert ex.calls == 1 and m.cache.hits == 1


def test_fvd_random_weights_is_labelled_not_comparable_and_checks_frames():
    m = FrechetVideoDistance(weights="random", batch_size=4)
    assert m.comparable is False and m.requires_weights
    with pytest.raises(VideoFormatError, match="at least 9 frames"):
        m.update(torch.rand(2, 8, 3, 16, 16), real=True)
    x = torch.rand(2, 9, 1, 16, 20)  # grayscale, non-square
    m.update(x, real=True)
    m.update(x, real=False)
    v = m.compute()["fvd"]
    assert v.value == pytest.approx(0.0, abs=1e-6)
    assert v.extra["comparable"] is False and v.extra["weights"] == "random"
    assert m.protocol()["features"]["weights"]["mode"] == "random"
