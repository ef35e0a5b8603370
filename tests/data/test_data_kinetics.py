"""Kinetics-600 subset: CVDF annotation CSVs + a local folder of clips named as the CSV implies."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.kinetics import Kinetics600, read_annotations
from benchmark.registry import DATASETS
from benchmark.utils import UserError
from tests.data_builders import build_kinetics, level


@pytest.fixture(scope="module")
def k600(tmp_path_factory):
    root = tmp_path_factory.mktemp("k600")
    rows = build_kinetics(root / "raw" / "kinetics600", per_label=2, frames=20, missing={"tr01-xY_1"})
    return root, rows


def test_subset_missing_clips_and_fvd64(k600):
    root, rows = k600
    ds = DATASETS.build("kinetics600", root=root, classes=["abseiling", "juggling balls"], strict_inputs=False)
    segs = ds.store.segments
    assert {s["label"] for s in segs} == {"abseiling", "juggling balls"}
    assert len([s for s in segs if s["split"] == "train"]) == 3 and len([s for s in segs if s["split"] == "val"]) == 4
    assert [e["item"] for e in ds.excluded()] == ["tr01-xY_1_000010_000020"]  # listed, not downloaded
    p = ds.protocol("prediction", "test")
    assert (p.context_frames, p.future_frames, p.resolution, p.split) == (5, 11, (64, 64), "val")
    clips = ds.clips(p)
    assert clips.videos.shape == (4, 16, 3, 64, 64) and clips.meta[0]["time_end"] - clips.meta[0]["time_start"] == 10
    g = clips.videos[0][:, 1].mean((1, 2))
    assert np.abs(g - [level(i) for i in range(16)]).max() < 6 and clips.videos[0][:, 0].mean() > 180


def test_p003_protocol_counts_and_errors(k600, tmp_path):
    root, _ = k600
    ds = Kinetics600(root, protocol="p003", num_classes=1, max_per_class=1, max_frames=16, strict_inputs=False)
    p = ds.protocol("prediction", "train")
    assert (p.context_frames, p.future_frames, p.resolution) == (4, 12, (256, 256))
    assert [s["video"] for s in ds.store.segments] == ["tr00-xY_0_000000_000010", "va00-xY_0_000000_000010"]
    assert ds.store.frames.shape[1:] == (3, 256, 256) and ds.store.segments[0]["length"] == 16
    with pytest.raises(UserError, match="unknown classes"):
        Kinetics600(root, classes=["nope"], strict_inputs=False).prepare()
    with pytest.raises(UserError, match="no clip folder"):
        Kinetics600(root, videos_dir=str(tmp_path / "none"), strict_inputs=False).prepare()
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="none of the"):
        Kinetics600(root, videos_dir=str(tmp_path / "empty"), strict_inputs=False).prepare()
    text = 'label,youtube_id,time_start,time_end,split\n"tying knot (not on a tie), x",abc,1,11,train\n'
    assert read_annotations(text, "t")[0]["stem"] == "abc_000001_000011"


def test_action_labels_of_the_subset(k600):
    root, _ = k600
    ds = DATASETS.build("kinetics600", root=root, classes=["abseiling", "juggling balls"], strict_inputs=False)
    assert ds.label_specs()["action"].classes == ("abseiling", "juggling balls")
    clips = ds.clips(ds.protocol("prediction", "test"))
    got = ds.clip_labels(clips)["action"]
    assert [("abseiling", "juggling balls")[i] for i in got] == [m["label"] for m in clips.meta]
