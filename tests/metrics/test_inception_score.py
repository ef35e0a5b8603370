"""IS closed forms, streaming/split invariance, and the FID Inception's structure/loader."""

from __future__ import annotations

import pytest
import torch

from benchmark.metrics.functional.inception_score import inception_score
from benchmark.metrics.inception_score import FrameInceptionScore, InceptionScoreBase
from benchmark.weights import WeightsError


class _Probs(InceptionScoreBase):
    name = "is_test"


def test_uniform_predictions_give_one_and_confident_give_k():
    assert inception_score(torch.full((100, 7), 1 / 7), splits=10)[0] == pytest.approx(1.0, abs=1e-12)
    for k in (2, 5, 101):
        p = torch.eye(k).repeat(4, 1)
        assert inception_score(p, splits=1)[0] == pytest.approx(k, rel=1e-12)


def test_streaming_matches_one_shot_and_merges():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(60, 9, generator=g) * 3, 1).double()
    one = _Probs(num_classes=9, splits=1)
    one.update_probs(p)
    parts = [_Probs(num_classes=9, splits=1) for _ in range(3)]
    for i, m in enumerate(parts):
        m.update_probs(p[i::3])
    parts[0].merge_state(parts[1])
    parts[0].merge_state(parts[2])
    ref = inception_score(p, splits=1)[0]
    assert one.compute()["is_test"].value == pytest.approx(ref, rel=1e-12)
    assert parts[0].compute()["is_test"].value == pytest.approx(ref, rel=1e-12)


def test_frame_is_with_random_weights_is_not_comparable(monkeypatch, tmp_path):
    pytest.importorskip("pytorch_fid")
    m = FrameInceptionScore(weights="random", splits=2)
    m.update(torch.rand(1, 2, 1, 20, 24))
    v = m.compute()["is_frame"]
    assert v.value >= 1.0 - 1e-9 and v.extra["comparable"] is False
    monkeypatch.setenv("VIDBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="6726825d"):
        FrameInceptionScore()


def test_inception_loader_accepts_the_real_layout(tmp_path, monkeypatch):
    pytest.importorskip("pytorch_fid")
    from benchmark.metrics.extractors.inception import InceptionFrameFeatures, build_fid_inception

    state = build_fid_inception().state_dict()
    assert state["fc.weight"].shape == (1008, 2048)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    # the pin is a torch.hub prefix, which this random file cannot match: a clear mismatch error
    with pytest.raises(WeightsError, match="6726825d"):
        InceptionFrameFeatures(weights_path=str(path))
