"""KTH on a small copy in the real layout: zips of real AVIs + 00sequences.txt in the real format."""

from __future__ import annotations

import json
import numpy as np
import pytest

from benchmark.data.kth import KTH, parse_sequences
from benchmark.data.real import CorruptInputError
from benchmark.registry import DATASETS
from benchmark.utils import UserError
from tests.data_builders import build_kth, level

PERSONS = (1, 2, 13, 17, 21, 22)


@pytest.fixture(scope="module")
def kth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("kth")
    ranges = build_kth(root / "raw" / "kth", persons=PERSONS)
    return root, ranges


@pytest.fixture(scope="module")
def svg(kth_root):
    ds = DATASETS.build("kth", root=kth_root[0], split="svg")
    ds.prepare()
    return ds


def _levels(clip: np.ndarray) -> np.ndarray:
    return clip[:, 0].reshape(len(clip), -1).mean(1)


def test_parse_sequences_real_format():
    text = ("Training:   person11, person12\nValidation: person19\nTest:       person22, person02\n\n"
            "person01_boxing_d1\t\tframes\t1-95, 96-185, 186-245, 246-360\n"
            "person01_boxing_d4\t\tframes\t1-100, 90-200, 246-370\n"
            "person13_handclapping_d3\t\t*missing*\n")
    s = parse_sequences(text)
    assert s.split == {"train": (11, 12), "val": (19,), "test": (22, 2)}
    assert s.ranges["person01_boxing_d1"] == [(1, 95), (96, 185), (186, 245), (246, 360)]
    assert s.ranges["person01_boxing_d4"] == [(1, 100), (90, 200), (246, 370)]  # overlap kept, file order
    assert s.missing == ["person13_handclapping_d3"] and s.num_subsequences == 7
    with pytest.raises(UserError, match="bad range"):
        parse_sequences("person01_boxing_d1  frames 20-10\n")


def test_counts_missing_and_truncated(svg, kth_root):
    _, ranges = kth_root
    store = svg.store
    assert len({s["video"] for s in store.segments}) == len(PERSONS) * 6 * 2 - 1 == 71
    assert "person13_handclapping_d3" not in {s["video"] for s in store.segments}
    excluded = {e["item"]: e for e in svg.excluded()}
    assert excluded["person13_handclapping_d3"]["reason"].startswith("marked *missing*")
    assert "person01_boxing_d3[5-57]" in excluded and excluded["person01_boxing_d3[5-57]"]["decoded"] == 45
    assert len(store.segments) == sum(len(r) for r in ranges.values()) - 1 == 212
    assert "person01_boxing_d3[5-57]" in svg.identity()["excluded"]


def test_frame_ranges_are_one_based_inclusive(svg):
    segs = {(s["video"], tuple(s["range"])): s for s in svg.store.segments}
    for rng in ((1, 10), (11, 25), (5, 45)):
        seg = segs[("person02_running_d1", rng)]
        assert seg["length"] == rng[1] - rng[0] + 1
        frames = svg.store.frames[seg["start"]:seg["start"] + seg["length"]]
        want = np.array([level(i) for i in range(rng[0] - 1, rng[1])])
        assert np.abs(_levels(frames) - want).max() < 4  # frame a (1-based) is source frame a-1


def test_preprocessing_gray_64_and_shapes(svg):
    tr = svg.load_split("train")
    assert tr.videos.dtype == np.uint8 and tr.videos.shape[1:] == (20, 1, 64, 64)
    # every 20-frame window of every train segment, none crossing a segment
    segs = [s for s in svg.store.segments if s["person"] <= 20]
    assert len(tr) == sum(max(0, s["length"] - 20 + 1) for s in segs)
    assert {m["person"] for m in tr.meta} == {1, 2, 13, 17}
    clip = tr.videos[5]
    assert np.all(np.diff(_levels(clip)) > 0)  # consecutive source frames, in order


def test_named_splits(kth_root, svg):
    root = kth_root[0]
    persons = lambda ds, s: {ds.store.segments[i]["person"] for i in ds.split_segments(s)}  # noqa: E731
    assert persons(svg, "train") == {1, 2, 13, 17} and persons(svg, "test") == {21, 22}
    savp = KTH(root, split="savp")
    assert savp.splits == ("train", "val", "test") and savp.store.path == svg.store.path  # one store
    assert persons(savp, "test") == {17, 21, 22}
    val_videos = {savp.store.segments[i]["video"] for i in savp.split_segments("val")}
    train_videos = {savp.store.segments[i]["video"] for i in savp.split_segments("train")}
    assert len(val_videos) == round(0.05 * 35) and not val_videos & train_videos
    assert persons(savp, "val") | persons(savp, "train") == {1, 2, 13}
    official = KTH(root, split="official")
    assert persons(official, "train") == {13, 17} and persons(official, "val") == {1, 21}
    assert persons(official, "test") == {2, 22}
    with pytest.raises(UserError, match="unknown split scheme"):
        KTH(root, split="nope")


def test_protocols_and_fixed_test_set(kth_root, svg):
    p = svg.protocol("prediction", "train")
    assert (p.context_frames, p.future_frames, p.resolution, p.channels, p.split) == (10, 10, (64, 64), 1, "train")
    t = svg.protocol("prediction", "test")
    assert (t.context_frames, t.future_frames, t.split) == (10, 30, "test")
    assert svg.protocol("synthesis", "train").num_frames == 16
    assert KTH(kth_root[0], test_future=40).protocol("prediction").future_frames == 40
    assert KTH(kth_root[0], split="openstl").protocol("prediction").future_frames == 20
    c = svg.clips(t)
    assert c.videos.shape[1:] == (40, 1, 64, 64) and {m["person"] for m in c.meta} == {21, 22}
    fixed = KTH(kth_root[0], fixed_test=True, fixed_test_clips=50)
    assert fixed.protocol("prediction").num_videos == 50
    a, b = fixed.clips(fixed.protocol("prediction")), fixed.clips(fixed.protocol("prediction"))
    assert a.videos.shape == (50, 40, 1, 64, 64) and a.content_hash == b.content_hash
    assert [m["offset"] for m in a.meta] == [m["offset"] for m in b.meta]
    assert KTH(kth_root[0], fixed_test=True).protocol("prediction").num_videos == 1000
    assert fixed.identity()["fixed_test_seed"] == 42


def test_cache_keyed_by_parameters(kth_root, svg):
    root = kth_root[0]
    assert KTH(root).prepare() == svg.store.path  # reused, not rebuilt
    big = KTH(root, split="openstl", actions=["boxing"])
    assert big.store.path != svg.store.path and big.store.frames.shape[1:] == (1, 128, 128)
    assert KTH(root, crop="center", actions=["boxing"]).store_key() != KTH(root, actions=["boxing"]).store_key()


def test_corrupt_video_is_named_and_never_half_written(tmp_path):
    build_kth(tmp_path / "raw" / "kth", persons=(1, 21), scenarios=(1,), actions=None,
              corrupt="person21_walking_d1", missing=None, truncated=None)
    with pytest.raises(CorruptInputError, match="person21_walking_d1"):
        KTH(tmp_path, actions=["walking"]).prepare()
    assert not (tmp_path / "kth").exists() or not any((tmp_path / "kth").iterdir())
    ds = KTH(tmp_path, actions=["walking"], on_corrupt="skip")
    ds.prepare()
    assert [e["item"] for e in ds.excluded()] == ["person21_walking_d1"]
    assert {s["video"] for s in ds.store.segments} == {"person01_walking_d1"}
    (tmp_path / "raw" / "kth" / "running.zip").unlink()
    with pytest.raises(UserError, match="running.zip: missing"):
        KTH(tmp_path).prepare()


def test_cli_info_prepare_verify(kth_root, svg, capsys):
    from benchmark.cli import main

    root = str(kth_root[0])
    assert main(["data", "prepare", "kth", "--data-root", root, "-o", "split=savp"]) == 0
    assert capsys.readouterr().out.strip() == str(svg.store.path)
    assert main(["data", "verify", "kth", "--data-root", root]) == 0  # unverified pins only warn
    assert "WARNING" in (v := capsys.readouterr().out) and "does not match the pinned sha1" in v
    assert main(["data", "info", "kth", "--data-root", root, "--json", "--split", "test"]) == 0
    out = capsys.readouterr()
    info = json.loads(out.out)["split_info"]["test"]
    assert info["num_videos"] == 2 * 6 * 2 and info["frame_shape"] == [1, 64, 64]
    assert info["protocol_clips"]["prediction/test:prediction-10to30"] == info["num_clips"]
    assert json.loads(out.out)["identity"]["split"] == "svg"


def test_action_and_identity_labels(svg):
    tr = svg.load_split("train")
    labels = svg.clip_labels(tr)
    assert set(labels) == {"action", "identity"}
    specs = svg.label_specs()
    for n in (0, len(tr) // 2, len(tr) - 1):  # index back to the clip's own action and person
        assert specs["action"].classes[labels["action"][n]] == tr.meta[n]["action"]
        assert specs["identity"].classes[labels["identity"][n]] == tr.meta[n]["person"]
    assert len(specs["action"].classes) == 6 and len(specs["identity"].classes) == 25
    assert sorted({int(i) + 1 for i in labels["identity"]}) == [1, 2, 13, 17]  # persons 1-25 -> 0-24
