"""MCS (Aich et al. 2020): closed forms with seeded random VGG16 weights, streaming, merge, and the vgg16 loader."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from benchmark import weights as W
from benchmark.metrics.extractors.vgg import VGG16Relu33, expected_shapes, load_weights_file
from benchmark.metrics.mcs import MotionConsistencyScore
from benchmark.registry import METRICS
from benchmark.utils import sha256_file
from benchmark.video import VideoFormatError


@pytest.fixture(scope="module")
def net():
    return VGG16Relu33(weights="random")


def moving(n=3, t=5, size=16, seed=0):
    """Bright squares moving right by 2 px a frame on a textured background."""
    g = torch.Generator().manual_seed(seed)
    bg = torch.rand(n, 1, 3, size, size, generator=g) * 0.3
    v = bg.repeat(1, t, 1, 1, 1)
    for i in range(n):
        for k in range(t):
            x0 = 1 + 2 * k
            v[i, k, :, 4:9, x0:x0 + 5] = 0.9
    return v


def static(n=3, t=5, size=16, seed=0):
    return moving(n, 1, size, seed).repeat(1, t, 1, 1, 1)


def test_registered_and_skipped_by_default():
    from benchmark.pipeline import applicable_metrics

    cls = METRICS.get("mcs")
    assert cls.kind == "set" and not cls.higher_is_better and cls.requires_weights
    assert "mcs" not in applicable_metrics("synthesis")


def test_identical_sets_give_the_bound_zero_or_minus_inf(net):
    v = moving()
    m = MotionConsistencyScore(network=net)
    m.update(v, real=True)
    m.update(v, real=False)
    out = m.compute()["mcs"]
    assert out.value == 0.0 and out.extra["squared_distance"] == 0.0
    assert out.extra["comparable"] is False and "not_comparable_reason" in out.extra
    literal = MotionConsistencyScore(network=net, offset=0.0)
    literal.update(v, real=True)
    literal.update(v, real=False)
    assert literal.compute()["mcs"].value == -math.inf


def test_static_generated_set_closed_form(net):
    """A static generated set has f̂ = 0, so MCS = log10(1 + ||f||²) with f from the network directly."""
    real, fake = moving(), static()
    m = MotionConsistencyScore(network=net)
    m.update(real, real=True)
    m.update(fake, real=False)
    out = m.compute()["mcs"]
    x = (real.flatten(0, 1) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        phi = net(x).double().flatten(1).view(3, 5, -1)
    f = (phi[:, 1:] - phi[:, :-1]).mean((0, 1))
    assert out.extra["squared_distance"] == pytest.approx(float(f.square().sum()), rel=1e-9)
    assert out.value == pytest.approx(math.log10(1 + float(f.square().sum())), rel=1e-9)
    assert out.value > 0


@pytest.mark.parametrize("difference,magnitude", [("features", "signed"), ("features", "abs"), ("pixels", "abs")])
def test_ordering_static_is_worse_than_similar_motion(net, difference, magnitude):
    real = moving(seed=0)
    scores = {}
    for name, fake in {"same_motion": moving(seed=1), "static": static(seed=1)}.items():
        m = MotionConsistencyScore(network=net, magnitude=magnitude, difference=difference)
        m.update(real, real=True)
        m.update(fake, real=False)
        scores[name] = m.compute()["mcs"].value
    assert scores["same_motion"] < scores["static"]


@pytest.mark.parametrize("averaging", ["pairs", "videos"])
def test_batch_split_invariance_and_merge(net, averaging):
    real, fake = moving(n=4, seed=2), static(n=4, seed=3)
    one = MotionConsistencyScore(network=net, averaging=averaging)
    one.update(real, real=True)
    one.update(fake, real=False)
    split = MotionConsistencyScore(network=net, averaging=averaging)
    for i in range(4):
        split.update(real[i:i + 1], real=True)
        split.update(fake[i:i + 1], real=False)
    a, b = MotionConsistencyScore(network=net, averaging=averaging), MotionConsistencyScore(network=net, averaging=averaging)
    a.update(real[:1], real=True)
    a.update(fake, real=False)
    b.update(real[1:], real=True)  # b has seen no fake: its fake sums are still unsized
    b.merge_state(a)
    want = one.compute()["mcs"].value
    assert split.compute()["mcs"].value == pytest.approx(want, rel=1e-10)
    assert b.compute()["mcs"].value == pytest.approx(want, rel=1e-10)


def test_averaging_orders_differ_only_with_unequal_lengths(net):
    real, fake = moving(n=2, t=5), static(n=2, t=5)
    vals = {}
    for averaging in ("pairs", "videos"):
        m = MotionConsistencyScore(network=net, averaging=averaging)
        m.update(real[:1], real=True)
        m.update(real[1:, :3], real=True)
        m.update(fake[:1], real=False)  # the same lengths on both sides (5 and 3)
        m.update(fake[1:, :3], real=False)
        vals[averaging] = m.compute()["mcs"].extra["squared_distance"]
    assert vals["pairs"] != pytest.approx(vals["videos"])


def test_protocol_records_every_open_choice(net):
    p = MotionConsistencyScore(network=net, resolution=32, pooling="spatial_mean", normalize="none").protocol()
    f = p["features"]
    assert (f["difference"], f["magnitude"], f["normalize"], f["resolution"], f["pooling"]) == (
        "features", "signed", "none", 32, "spatial_mean")
    assert p["averaging"] == "pairs" and p["offset"] == 1.0 and "relu3_3" in f["layer"]


def test_fixed_resolution_sizes_states_up_front(net):
    m = MotionConsistencyScore(network=net, resolution=24)
    assert m.real_pair_sum.numel() == 256 * 6 * 6
    m.update(moving(n=1, size=16), real=True)
    m.update(moving(n=1, size=20), real=False)  # different sizes, same feature length
    assert math.isfinite(m.compute()["mcs"].value)


def test_rejects_bad_options_and_single_frames(net):
    with pytest.raises(ValueError, match="difference"):
        MotionConsistencyScore(network=net, difference="flow")
    m = MotionConsistencyScore(network=net)
    with pytest.raises(VideoFormatError, match="2 frames"):
        m.update(torch.rand(1, 1, 3, 8, 8), real=True)


# ------------------------------------------------------------------------------ the vgg16 loader ---

def vgg16_file(path, drop=None, bad_shape=None):
    """A file in torchvision's vgg16 layout: random conv1_1..conv3_3; the layers MCS does not use
    (conv4+, the 120M-parameter classifier) as stride-0 views of one value (right keys and shapes,
    a few bytes on disk)."""
    g = torch.Generator().manual_seed(5)
    state = {}
    for k, shape in expected_shapes().items():
        if k.startswith("features.") and int(k.split(".")[1]) < 16:
            state[k] = torch.randn(shape, generator=g) * 0.05
        else:
            state[k] = torch.zeros(1).expand(shape)
    if drop:
        del state[drop]
    if bad_shape:
        state[bad_shape] = torch.zeros(3)
    torch.save(state, path)
    return path


def test_loader_accepts_the_real_layout_and_rejects_wrong_keys_and_shapes(tmp_path):
    good = vgg16_file(tmp_path / "vgg16.pth")
    feats = load_weights_file(str(good))
    assert sorted(feats) == sorted(f"{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14) for p in ("weight", "bias"))
    with pytest.raises(VideoFormatError, match="missing"):
        load_weights_file(str(vgg16_file(tmp_path / "a.pth", drop="classifier.6.bias")))
    with pytest.raises(VideoFormatError, match="wrong shapes"):
        load_weights_file(str(vgg16_file(tmp_path / "b.pth", bad_shape="features.14.weight")))


def test_pinned_hash_is_checked(tmp_path, monkeypatch):
    good = vgg16_file(tmp_path / "vgg16-397923af.pth")
    with pytest.raises(W.WeightsError, match="prefix 397923af"):  # the repo pin: torch.hub prefix
        VGG16Relu33(weights_path=str(good))
    spec = yaml.safe_load(open(W.manifest_path()))
    spec["weights"]["vgg16_imagenet"]["sha256"] = sha256_file(good)
    man = tmp_path / "weights.yaml"
    man.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VIDBENCH_WEIGHTS_MANIFEST", str(man))
    net = VGG16Relu33(weights_path=str(good))
    assert net.weights.comparable and net.weights.verified
    state = torch.load(good, weights_only=True)
    reference = VGG16Relu33(weights_path=str(good), fused=False)  # torchvision's layers, as loaded
    assert torch.equal(reference.features[14].weight, state["features.14.weight"])
    m = MotionConsistencyScore(network=net)
    v = moving(n=2)
    m.update(v, real=True)
    m.update(v, real=False)
    out = m.compute()["mcs"]
    assert out.extra["comparable"] is True and "not_comparable_reason" not in out.extra


def test_mcs_refuses_real_and_fake_clips_of_different_lengths():
    d = 256
    m = MotionConsistencyScore(network=VGG16Relu33(weights="random"), pooling="spatial_mean")
    m.update_sums(torch.zeros(3, d, dtype=torch.float64), frames=16, real=True)
    m.update_sums(torch.zeros(3, d, dtype=torch.float64), frames=8, real=False)
    with pytest.raises(VideoFormatError, match=r"16\.\.16 frames and generated clips 8\.\.8"):
        m.compute()
    m.reset()
    m.update_sums(torch.zeros(3, d, dtype=torch.float64), frames=16, real=True)
    m.update_sums(torch.ones(3, d, dtype=torch.float64), frames=16, real=False)
    assert m.compute()["mcs"].extra["n_fake"] == 3
