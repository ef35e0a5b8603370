"""LPIPS (AlexNet, v0.1): zero on identical frames, ordering, parity with the lpips package, best-of-k,
and the weight loaders (files in the real layouts, built here)."""

from __future__ import annotations

import warnings

import pytest
import torch
import yaml

from benchmark import weights as W
from benchmark.metrics.lpips import (LearnedPerceptualSimilarity, alexnet_expected_shapes, load_alexnet_trunk,
                                     load_linear_layers)
from benchmark.registry import METRICS
from benchmark.utils import sha256_file
from benchmark.video import VideoFormatError


@pytest.fixture(scope="module")
def metric():
    return LearnedPerceptualSimilarity(weights="random")


def target(b=2, p=3, c=3, size=32, seed=0):
    return torch.rand(b, p, c, size, size, generator=torch.Generator().manual_seed(seed))


def noisy(x, sigma, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def alexnet_file(path, drop=None, bad_shape=None):
    """torchvision's alexnet layout: random convs, the classifier as stride-0 views (few bytes)."""
    g = torch.Generator().manual_seed(7)
    state = {k: (torch.randn(s, generator=g) * 0.05 if k.startswith("features.") else torch.zeros(1).expand(s))
             for k, s in alexnet_expected_shapes().items()}
    if drop:
        del state[drop]
    if bad_shape:
        state[bad_shape] = torch.zeros(2)
    torch.save(state, path)
    return path


@pytest.fixture()
def pinned_alexnet(tmp_path, monkeypatch):
    f = alexnet_file(tmp_path / "alexnet-owt-7be5be79.pth")
    spec = yaml.safe_load(open(W.manifest_path()))
    spec["weights"]["alexnet_imagenet"]["sha256"] = sha256_file(f)
    man = tmp_path / "weights.yaml"
    man.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VIDBENCH_WEIGHTS_MANIFEST", str(man))
    return f


def test_registered_lower_is_better_and_skipped_by_default():
    from benchmark.pipeline import applicable_metrics

    cls = METRICS.get("lpips")
    assert cls.kind == "paired" and not cls.higher_is_better and cls.requires_weights
    assert "lpips" not in applicable_metrics("prediction")


def test_identical_frames_score_zero(metric):
    metric.reset()
    t = target()
    metric.update(t[:, None], t)
    out = metric.compute()
    assert out["lpips_best"].value == 0.0 and out["lpips_worst"].value == 0.0
    assert out["lpips_best"].extra["comparable"] is False and "not_comparable_reason" in out["lpips_best"].extra


def test_more_noise_scores_higher(metric):
    t = target()
    s = torch.stack([noisy(t, sigma) for sigma in (0.02, 0.1, 0.3)], 1)
    scores = metric.frame_scores(s, t[:, None]).mean((0, 2))
    assert scores[0] < scores[1] < scores[2]


def test_best_of_k_picks_the_lowest(metric):
    metric.reset()
    t = target(b=3, seed=4)
    s = torch.stack([noisy(t, 0.3, seed=2), noisy(t, 0.03, seed=3), noisy(t, 0.1, seed=5)], 1)
    per = metric.frame_scores(s, t[:, None])  # (B, k, p)
    metric.update(s, t)
    out = metric.compute()
    assert out["lpips_best"].value == pytest.approx(float(per[:, 1].mean()), rel=1e-9)
    assert out["lpips_worst"].value == pytest.approx(float(per[:, 0].mean()), rel=1e-9)
    assert out["lpips_best"].curve == pytest.approx(per[:, 1].mean(0).tolist(), rel=1e-9)
    assert out["lpips_mean"].value == pytest.approx(float(per.mean()), rel=1e-9)


def test_grayscale_frames(metric):
    t = target(c=1)
    assert metric.frame_scores(noisy(t, 0.1)[:, None], t[:, None]).shape == (2, 1, 3)


def test_agrees_with_the_lpips_package_on_the_same_weights(pinned_alexnet):
    import lpips
    import torchvision

    m = LearnedPerceptualSimilarity(weights_path=str(pinned_alexnet))
    assert m.comparable and m.trunk_weights.verified and m.linear_weights.verified
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
    tv = torchvision.models.alexnet(weights=None)
    tv.load_state_dict(torch.load(pinned_alexnet, map_location="cpu", weights_only=True))
    for name, sl in ref.net.named_children():
        for idx, mod in sl.named_children():
            mod.load_state_dict(tv.features[int(idx)].state_dict())
    t = target(b=2, p=2)
    s = torch.stack([noisy(t, 0.1), noisy(t, 0.2, seed=9)], 1)
    ours = m.frame_scores(s, t[:, None])
    with torch.no_grad():
        want = torch.stack([ref(s[:, j].flatten(0, 1) * 2 - 1, t.flatten(0, 1) * 2 - 1).flatten()
                            for j in range(2)], 1).view(2, 2, 2).permute(0, 2, 1).double()  # (B, p, k) -> (B, k, p)
    assert torch.allclose(ours, want, rtol=1e-5, atol=1e-7)
    assert ours.min() > 0


def test_linear_layers_come_from_the_wheel_with_the_pinned_hash(tmp_path):
    spec = W.get_spec("lpips_alex_v0.1")
    path = W.default_path(spec)
    assert sha256_file(path) == spec.sha256
    assert sorted(load_linear_layers(str(path))) == [f"lin{i}.model.1.weight" for i in range(5)]
    bad = tmp_path / "alex.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["lin0.model.1.weight"] = state["lin0.model.1.weight"] * 2
    torch.save(state, bad)
    with pytest.raises(W.WeightsError, match="does not match the pinned"):
        LearnedPerceptualSimilarity(weights="random", linear_path=str(bad))


def test_alexnet_loader_rejects_wrong_keys_shapes_and_hash(tmp_path):
    good = alexnet_file(tmp_path / "good.pth")
    assert sorted(load_alexnet_trunk(str(good))) == sorted(
        f"net.slice{s}.{i}.{p}" for s, i in zip(range(1, 6), (0, 3, 6, 8, 10)) for p in ("weight", "bias"))
    with pytest.raises(VideoFormatError, match="missing"):
        load_alexnet_trunk(str(alexnet_file(tmp_path / "a.pth", drop="features.10.bias")))
    with pytest.raises(VideoFormatError, match="wrong shapes"):
        load_alexnet_trunk(str(alexnet_file(tmp_path / "b.pth", bad_shape="features.3.weight")))
    with pytest.raises(W.WeightsError, match="prefix 7be5be79"):  # the repo pin (torch.hub prefix)
        LearnedPerceptualSimilarity(weights_path=str(good))
