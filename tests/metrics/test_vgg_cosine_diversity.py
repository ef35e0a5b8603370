"""SAVP's metrics: VGG cosine similarity (paired, best/mean/worst of k) and the diversity of samples.

Closed forms on the pure functions, the streaming classes on a fake feature network whose outputs
are known (so every number is checkable by hand), and the real VGG16 trunk with random weights for
the plumbing and the "not comparable" label.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.metrics.diversity import PixelDiversity, VGGCosineDiversity
from benchmark.metrics.functional.cosine import channel_cosine_similarity, layered_cosine_similarity, mean_pairwise
from benchmark.metrics.vgg_cosine import VGGCosineSimilarity, imagenet_input
from benchmark.registry import METRICS
from benchmark.weights import random_weights


class FakeBlocks(torch.nn.Module):
    """Two 'layers': the normalised input itself and its square -- closed forms by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = random_weights("vgg16_imagenet")

    def forward(self, x):
        return [x, x.square()]

    def protocol(self):
        return {"network": "fake", "weights": self.weights.record()}


def test_channel_cosine_closed_forms():
    a = torch.zeros(1, 2, 3, 3)
    a[:, 0] = 1.0
    b = torch.zeros(1, 2, 3, 3)
    b[:, 0], b[:, 1] = 1.0, 1.0
    assert channel_cosine_similarity(a, a).item() == pytest.approx(1.0)
    assert channel_cosine_similarity(a, -a).item() == pytest.approx(-1.0)
    assert channel_cosine_similarity(a, b).item() == pytest.approx(1 / math.sqrt(2), abs=1e-7)
    orth = torch.zeros(1, 2, 3, 3)
    orth[:, 1] = 5.0
    assert channel_cosine_similarity(a, orth).item() == pytest.approx(0.0)
    # half the positions identical, half orthogonal -> mean over positions 0.5
    half = a.clone()
    half[..., :, :1] = orth[..., :, :1]
    assert channel_cosine_similarity(a, half).item() == pytest.approx(2 / 3)  # 6 of 9 positions agree
    # all-zero maps (dead ReLUs) give 0, not NaN (the 1e-10 of the reference)
    assert channel_cosine_similarity(torch.zeros(1, 4, 2, 2), a[:, :, :2, :2].repeat(1, 2, 1, 1)).item() == 0.0


def test_layered_cosine_averages_layers():
    a = torch.ones(2, 3, 4, 4)
    sims = layered_cosine_similarity([a, a], [a, -a])
    assert sims.dtype == torch.float64 and torch.allclose(sims, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError):
        layered_cosine_similarity([a], [a, a])


def test_mean_pairwise_closed_form():
    s = torch.tensor([0.0, 1.0, 3.0, 7.0]).view(1, 4, 1, 1)  # 4 samples, 1 frame
    l1 = lambda x, y: (x - y).abs().flatten(1).mean(1)  # noqa: E731
    pairs = [1, 3, 7, 2, 6, 4]
    assert mean_pairwise(s, l1).item() == pytest.approx(sum(pairs) / 6)
    assert torch.equal(mean_pairwise(s[:, :1], l1), torch.zeros(1, 1, dtype=torch.float64))


def _vgg_cos(**kw):
    return VGGCosineSimilarity(network=FakeBlocks(), batch_size=9, **kw)  # chunks of several frames


def test_vgg_cosine_identical_frames_score_one_and_best_is_selected():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 3, 8, 8)
    other = torch.rand(2, 3, 3, 8, 8)
    samples = torch.stack([other, target], dim=1)  # sample 1 is the ground truth
    m = _vgg_cos()
    m.update(samples, target)
    out = m.compute()
    assert out["vgg_cosine_best"].value == pytest.approx(1.0, abs=1e-6)
    assert out["vgg_cosine_best"].curve == pytest.approx([1.0] * 3, abs=1e-6)
    # the mean over samples is the mean of 1 and the score of `other`, computed by hand
    x, y = imagenet_input(other.flatten(0, 1)), imagenet_input(target.flatten(0, 1))
    hand = layered_cosine_similarity([x, x.square()], [y, y.square()]).mean().item()
    assert out["vgg_cosine_worst"].value == pytest.approx(hand, abs=1e-6)
    assert out["vgg_cosine_mean"].value == pytest.approx((1 + hand) / 2, abs=1e-6)
    assert out["vgg_cosine_best"].extra["comparable"] is False


def test_vgg_cosine_streams_like_one_shot_and_handles_gray():
    torch.manual_seed(1)
    target = torch.rand(4, 2, 1, 8, 8)
    samples = torch.rand(4, 3, 2, 1, 8, 8)
    one = _vgg_cos()
    one.update(samples, target)
    two = _vgg_cos()
    two.update(samples[:1], target[:1])
    two.update(samples[1:], target[1:])
    for key, v in one.compute().items():
        assert two.compute()[key].value == pytest.approx(v.value, abs=1e-12)
        assert two.compute()[key].curve == pytest.approx(v.curve, abs=1e-12)


def test_pixel_diversity_closed_form_and_k1():
    s = torch.zeros(2, 3, 2, 1, 4, 4)
    s[:, 1], s[:, 2] = 0.25, 1.0  # pairwise |differences|: 0.25, 1.0, 0.75
    m = PixelDiversity()
    m.update(s, torch.zeros(2, 2, 1, 4, 4))
    v = m.compute()["diversity_l1"]
    assert v.value == pytest.approx(2.0 / 3) and v.curve == pytest.approx([2.0 / 3] * 2) and v.n == 2
    assert v.extra["pairs_per_sequence"] == 3
    single = PixelDiversity()
    single.update(s[:, :1], torch.zeros(2, 2, 1, 4, 4))
    assert single.compute()["diversity_l1"].value == 0.0


def test_vgg_diversity_is_zero_for_identical_samples_and_matches_hand_value():
    torch.manual_seed(2)
    a, b = torch.rand(1, 1, 3, 8, 8), torch.rand(1, 1, 3, 8, 8)
    m = VGGCosineDiversity(network=FakeBlocks())
    m.update(torch.stack([a, a], dim=1), a)
    assert m.compute()["diversity"].value == pytest.approx(0.0, abs=1e-6)
    m = VGGCosineDiversity(network=FakeBlocks())
    m.update(torch.stack([a, b], dim=1), a)
    x, y = imagenet_input(a[:, 0]), imagenet_input(b[:, 0])
    hand = 1 - layered_cosine_similarity([x, x.square()], [y, y.square()]).item()
    assert m.compute()["diversity"].value == pytest.approx(hand, abs=1e-6)


def test_registered_with_protocols_and_random_vgg_is_not_comparable():
    for name, weights in (("vgg_cosine", True), ("diversity", True), ("diversity_l1", False)):
        cls = METRICS.get(name)
        assert cls.kind == "paired" and cls.tasks == ("prediction",) and cls.requires_weights is weights
    m = METRICS.build("vgg_cosine", weights="random")
    target = torch.rand(1, 2, 3, 32, 32)
    m.update(torch.stack([target, torch.rand_like(target)], dim=1), target)
    out = m.compute()
    assert out["vgg_cosine_best"].value == pytest.approx(1.0, abs=1e-5)
    assert out["vgg_cosine_worst"].value < 0.99
    assert out["vgg_cosine_best"].extra["not_comparable_reason"]
    proto = m.protocol()
    assert "relu5_3" in proto["layers"] and proto["comparable"] is False


def test_fast_pairwise_paths_equal_the_pair_loop():
    from benchmark.metrics.functional.cosine import mean_pairwise_l1, pairwise_cosine_similarity

    torch.manual_seed(3)
    s = torch.rand(2, 5, 3, 1, 6, 6)
    l1 = lambda x, y: (x.double() - y.double()).abs().flatten(1).mean(1)  # noqa: E731
    assert torch.allclose(mean_pairwise_l1(s), mean_pairwise(s, l1))
    f = torch.rand(3, 4, 2, 3, 3)
    g = pairwise_cosine_similarity(f)
    assert torch.allclose(g[:, 2, 3], channel_cosine_similarity(f[:, 2], f[:, 3]).double())
    assert torch.allclose(torch.diagonal(g, dim1=1, dim2=2), torch.ones(3, 4, dtype=torch.float64))
    m = VGGCosineDiversity(network=FakeBlocks(), batch_size=7)  # chunks of 2 frames x 3 samples
    samples = torch.rand(2, 3, 2, 3, 8, 8)
    pair_loop = mean_pairwise(samples, m.distance)
    assert torch.allclose(m.pairwise_curve(samples), pair_loop, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5, 8, 10, 11])
def test_sorting_network_orders_like_sort_and_l1_diversity_equals_the_pair_loop(k):
    """k <= SORTING_NETWORK_MAX_K orders the samples with min/max compare-exchanges, above it with sort:
    both give sort's values exactly (ties included), and the diversity the pair loop's."""
    from benchmark.metrics.functional.cosine import _sorted_samples, mean_pairwise_l1

    g = torch.Generator().manual_seed(k)
    x = torch.randint(0, 4, (3, k, 50), generator=g).float() / 3  # many ties
    assert torch.equal(_sorted_samples(x), x.sort(dim=1).values)
    s = torch.rand(2, k, 3, 1, 5, 5, generator=g)
    l1 = lambda a, b: (a.double() - b.double()).abs().flatten(1).mean(1)  # noqa: E731
    torch.testing.assert_close(mean_pairwise_l1(s), mean_pairwise(s, l1), atol=1e-14, rtol=0)
