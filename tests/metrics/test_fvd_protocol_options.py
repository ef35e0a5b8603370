"""FVD's protocol options for papers that compute it their own way (Walker et al. 2021): frames
downscaled before the extractor, k-fold splits of the generated videos, reconstructions as the
real side (FVD*). The feature network is a stub; the I3D path with test weights is covered by the
FVD tests of the extractor."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.metrics.functional.frechet import frechet_distance_features
from benchmark.metrics.fvd import FrechetVideoDistance
from benchmark.weights import random_weights


class Stub:
    """Features: the mean colour of the top and bottom half of the video (6 numbers)."""

    name, dim, backend = "stub", 6, "stub"

    def __init__(self) -> None:
        self.weights = random_weights("stub")
        self.seen: list[tuple[int, ...]] = []

    def protocol(self):
        return {"network": "stub"}

    def __call__(self, videos):
        self.seen.append(tuple(videos.shape))
        halves = F.adaptive_avg_pool2d(videos.mean(dim=1), (2, 1))          # (N, 3, 2, 1)
        return (halves.flatten(1) ** 2).double() * 10


def _videos(n, seed, size=16):
    return torch.rand(n, 9, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_folds_score_each_fold_against_all_real_videos():
    real, fake = _videos(20, 0), _videos(12, 1) ** 2
    m = FrechetVideoDistance(extractor=Stub(), folds=2)
    m.update(real, real=True)
    m.update(fake[:5], real=False)     # fold assignment follows arrival order across updates
    m.update(fake[5:], real=False)
    out = m.compute()["fvd"]
    ex = Stub()
    per_fold = [frechet_distance_features(ex(real), ex(fake[k::2])) for k in range(2)]
    assert out.extra["fold_values"] == pytest.approx(per_fold, rel=1e-6)
    assert out.value == pytest.approx(sum(per_fold) / 2, rel=1e-6)
    assert out.extra["fold_std"] == pytest.approx(abs(per_fold[0] - per_fold[1]) / math.sqrt(2), rel=1e-6)
    assert out.extra["pooled"] == pytest.approx(frechet_distance_features(ex(real), ex(fake)), rel=1e-6)
    assert out.extra["fold_n"] == [6, 6]
    assert m.protocol()["folds"] == 2


def test_folds_merge_across_instances():
    real, fake = _videos(20, 0), _videos(12, 1) ** 2
    one = FrechetVideoDistance(extractor=Stub(), folds=3)
    one.update(real, real=True)
    one.update(fake, real=False)
    assert one.compute()["fvd"].extra["fold_n"] == [4, 4, 4]
    with pytest.raises(RuntimeError, match="at least 2"):
        few = FrechetVideoDistance(extractor=Stub(), folds=3)
        few.update(real, real=True)
        few.update(fake[:5], real=False)
        few.compute()
    with pytest.raises(ValueError, match="folds"):
        FrechetVideoDistance(extractor=Stub(), folds=0)


def test_downscale_resizes_frames_before_the_extractor():
    ex = Stub()
    m = FrechetVideoDistance(extractor=ex, downscale=8)
    big = _videos(4, 2, size=32)
    m.update(big, real=True)
    assert ex.seen[-1][-2:] == (8, 8)
    small = F.interpolate(big.flatten(0, 1), size=(8, 8), mode="area").view(4, 9, 3, 8, 8)
    assert torch.allclose(m.real_sum, Stub()(small).sum(0))
    assert "8x8" in m.protocol()["downscale"]
    assert FrechetVideoDistance(extractor=Stub()).protocol()["downscale"] is None


def test_reference_is_recorded_and_checked():
    m = FrechetVideoDistance(extractor=Stub(), reference="reconstructions")
    assert "reconstructions" in m.protocol()["reference"]
    with pytest.raises(ValueError, match="reference"):
        FrechetVideoDistance(extractor=Stub(), reference="samples")


@pytest.mark.slow  # the I3D forward at 224x224 takes ~10-40 s on 2 cores
def test_random_i3d_weights_with_the_paper_options_stay_not_comparable():
    m = FrechetVideoDistance(weights="random", batch_size=4, downscale=16, folds=2)
    x = torch.rand(4, 9, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    m.update(x, real=True)
    m.update(x.flip(-1), real=False)
    out = m.compute()["fvd"]
    assert out.extra["comparable"] is False and len(out.extra["fold_values"]) == 2
