"""Video IS with C3D: the chainer npz loader (files in the real layout, random values), protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from benchmark import weights as W
from benchmark.metrics.extractors.c3d import MEAN_SHAPE, C3DProbabilities, check_npz, expected_shapes, load_weights_file
from benchmark.metrics.video_is import VideoInceptionScore
from benchmark.registry import METRICS
from benchmark.utils import sha256_file
from benchmark.video import VideoFormatError


class FixedProbs:
    """A stand-in extractor returning given probabilities (IS math without a network)."""

    name, dim, comparable = "fixed", 4, False

    def __init__(self, probs):
        self.probs, self.i = probs, 0
        self.weights = self.mean_weights = W.random_weights("c3d_ucf101")

    def __call__(self, videos):
        out = self.probs[self.i:self.i + len(videos)]
        self.i += len(videos)
        return out

    def protocol(self):
        return {}


def c3d_npz(path, drop=None, bad_shape=None):
    g = np.random.default_rng(0)
    arrays = {k: (g.standard_normal(s).astype(np.float32) * 0.01 if "fc6" not in k and "fc7" not in k
                  else np.zeros(s, np.float32)) for k, s in expected_shapes().items()}
    if drop:
        del arrays[drop]
        arrays = {k: v for k, v in arrays.items() if k[:3] != "fc7"}
    if bad_shape:
        arrays[bad_shape] = np.zeros(3, np.float32)
    np.savez(path, **arrays)
    return path


def test_registered_and_skipped_by_default():
    from benchmark.pipeline import applicable_metrics

    cls = METRICS.get("is_video")
    assert cls.higher_is_better and cls.requires_weights and cls.kind == "intrinsic"
    assert "is_video" not in applicable_metrics("synthesis")


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory):
    return c3d_npz(tmp_path_factory.mktemp("c3d") / "conv3d_deepnetA_ucf.npz")


def test_npz_in_the_real_layout_loads_and_wrong_ones_are_rejected(npz_file, tmp_path):
    state = load_weights_file(str(npz_file))
    assert state["conv1a.weight"].shape == (64, 3, 3, 3, 3) and state["fc8.bias"].shape == (101,)
    with pytest.raises(VideoFormatError, match="missing"):
        load_weights_file(str(c3d_npz(tmp_path / "a.npz", drop="fc6/W")))  # also drops the big arrays' cost
    views = {k: np.broadcast_to(np.float32(0), s) for k, s in expected_shapes().items()}
    check_npz(views, "views")
    views["conv3b/W"] = np.zeros(3, np.float32)
    with pytest.raises(VideoFormatError, match="wrong shapes"):
        check_npz(views, "views")
    views["extra/W"] = np.zeros(1)
    with pytest.raises(VideoFormatError, match="unexpected"):
        check_npz(views, "views")


def test_pinned_files_load_and_give_probabilities(npz_file, tmp_path, monkeypatch):
    w = npz_file
    mean = tmp_path / "mean2.npz"
    np.savez(mean, mean=np.full(MEAN_SHAPE, 100.0, np.float32))
    spec = yaml.safe_load(open(W.manifest_path()))
    spec["weights"]["c3d_ucf101"]["sha256"] = sha256_file(w)
    spec["weights"]["c3d_mean_clip"]["sha256"] = sha256_file(mean)
    man = tmp_path / "weights.yaml"
    man.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VIDBENCH_WEIGHTS_MANIFEST", str(man))
    ext = C3DProbabilities(weights_path=str(w), mean_path=str(mean))
    assert ext.comparable
    x = ext.preprocess(torch.full((1, 16, 3, 8, 8), 0.5))
    assert x.shape == (1, 3, 16, 112, 112) and torch.allclose(x, torch.full_like(x, 128.0 - 100.0))
    p = ext(torch.rand(2, 17, 3, 16, 16))
    assert p.shape == (2, 101) and torch.allclose(p.sum(1), torch.ones(2, dtype=torch.float64))
    bad = tmp_path / "bad.npz"
    np.savez(bad, mean=np.zeros((3, 16, 112, 112), np.float32))
    with pytest.raises(W.WeightsError, match="does not match the pinned"):
        C3DProbabilities(weights_path=str(w), mean_path=str(bad))


def test_bgr_order_and_too_few_frames():
    ext = C3DProbabilities(weights="random")
    v = torch.zeros(1, 16, 3, 4, 4)
    v[:, :, 0] = 1.0  # pure red
    x = ext.preprocess(v) + 128.0  # random mode's mean is 128
    assert x[0, 2].min() == 256.0 and x[0, 0].max() == 0.0  # red is the last (BGR) channel
    with pytest.raises(VideoFormatError, match="16 frames"):
        ext.preprocess(torch.rand(1, 8, 3, 4, 4))


def test_tgan2_protocol_repeats_of_contiguous_blocks():
    confident = torch.eye(4, dtype=torch.float64).repeat(2, 1)  # 8 samples over 4 classes -> IS 4
    uniform = torch.full((8, 4), 0.25, dtype=torch.float64)    # IS 1
    probs = torch.cat([confident, uniform, confident])         # the third block is past repeats x samples
    m = VideoInceptionScore(samples=8, repeats=2, extractor=FixedProbs(probs))
    for i in range(0, 24, 5):
        m.update(torch.rand(min(5, 24 - i), 16, 3, 4, 4))
    out = m.compute()["is_video"]
    assert out.value == pytest.approx(2.5) and out.extra["std"] == pytest.approx(1.5)
    assert out.extra["repeats"] == 2 and out.extra["protocol_complete"] and out.n == 16
    assert out.extra["comparable"] is False and "not_comparable_reason" in out.extra
    assert m.protocol()["samples_per_repeat"] == 8 and m.protocol()["splits_per_repeat"] == 1


def test_stylegan_v_protocol_uses_ten_splits():
    probs = torch.eye(4, dtype=torch.float64).repeat(10, 1)
    m = VideoInceptionScore(protocol="stylegan_v", extractor=FixedProbs(probs))
    m.update(torch.rand(40, 16, 3, 2, 2))
    out = m.compute()["is_video"]
    assert out.extra["splits"] == 10 and out.extra["protocol"] == "stylegan_v"
    assert m.protocol()["protocol"] == "stylegan_v"
    with pytest.raises(ValueError, match="protocol"):
        VideoInceptionScore(protocol="tgan", extractor=FixedProbs(probs))
