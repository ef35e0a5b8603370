"""The embedded dataset: determinism, disjoint splits, factors, protocols, cache keying."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.moving_shapes import MovingShapes, MovingShapesConfig, generate_split, render_video
from benchmark.registry import DATASETS
from benchmark.utils import sha256_array
from tests.conftest import SMALL_SPLITS


def test_registered_with_both_tasks():
    ds = DATASETS.build("moving-shapes", root="/nonexistent")
    assert ds.tasks() == ["synthesis", "prediction"]
    p = ds.protocol("prediction", "train")
    assert (p.context_frames, p.future_frames, p.resolution, p.channels) == (5, 10, (64, 64), 3)
    t = ds.protocol("prediction", "test")
    assert (t.context_frames, t.future_frames) == (5, 15)
    assert ds.protocol("synthesis").future_frames == 16


def test_deterministic_from_seed():
    cfg = MovingShapesConfig(split_sizes={"train": 5, "val": 1, "test": 1})
    a, ma = generate_split(cfg, "train")
    b, mb = generate_split(cfg, "train")
    assert np.array_equal(a, b) and ma == mb
    c, _ = generate_split(MovingShapesConfig(split_sizes={"train": 5, "val": 1, "test": 1}, seed=1), "train")
    assert not np.array_equal(a, c)


def test_splits_never_share_a_video(small_dataset):
    hashes = {s: {sha256_array(np.asarray(v)) for v in small_dataset.load_split(s).videos}
              for s in ("train", "val", "test")}
    assert all(len(hashes[s]) == SMALL_SPLITS[s] for s in hashes)  # no duplicates within a split
    assert not hashes["train"] & hashes["test"]
    assert not hashes["train"] & hashes["val"]
    assert not hashes["val"] & hashes["test"]


def test_forced_collision_is_redrawn():
    cfg = MovingShapesConfig(split_sizes={"train": 3, "val": 1, "test": 1})
    videos, meta = generate_split(cfg, "train")
    again, meta2 = generate_split(cfg, "train", exclude={meta[0]["sha256"]})
    assert meta2[0]["sha256"] != meta[0]["sha256"]
    assert np.array_equal(again[1:], videos[1:])


def test_factors_reproduce_the_pixels(small_dataset):
    """Oracle check: re-rendering from the exposed factors gives the stored video exactly."""
    split = small_dataset.load_split("test")
    for i in range(3):
        f = split.meta[i]
        assert np.array_equal(render_video(f, 64, 20), split.videos[i])
        for obj in f["objects"]:
            assert obj["shape"] in ("circle", "square", "triangle")
            # motion stays inside the canvas and speed is constant in magnitude
            xs, ys = np.array(obj["xs"]), np.array(obj["ys"])
            assert xs.min() >= obj["size"] - 1e-6 and xs.max() <= 63 - obj["size"] + 1e-6
            steps = np.abs(np.diff(xs))
            assert np.allclose(steps[steps > 0].max(), abs(obj["vx"]), atol=1e-2) or obj["bounces"] > 0


def test_background_is_static(small_dataset):
    """Pixels never covered by an object keep the background colour in every frame."""
    v = np.asarray(small_dataset.load_split("train").videos[0])  # (T, 3, H, W)
    bg = np.array(small_dataset.load_split("train").meta[0]["background"], np.uint8)
    static = (v == v[:1]).all(axis=(0, 1))
    assert static.mean() > 0.5
    assert (v[0][:, static] == bg[:, None]).all()


def test_cache_keyed_by_parameters(tmp_path):
    a = MovingShapes(root=tmp_path, split_sizes={"train": 2, "val": 1, "test": 1})
    b = MovingShapes(root=tmp_path, split_sizes={"train": 3, "val": 1, "test": 1})
    assert a.cache_dir != b.cache_dir
    d = a.prepare()
    stamp = (d / "index.json").stat().st_mtime_ns
    assert MovingShapes(root=tmp_path, split_sizes={"train": 2, "val": 1, "test": 1}).prepare() == d
    assert (d / "index.json").stat().st_mtime_ns == stamp  # reused, not regenerated


def test_clips_follow_protocol(small_dataset):
    p = small_dataset.protocol("prediction", "test")
    clips = small_dataset.clips(p)
    assert clips.videos.shape == (SMALL_SPLITS["test"], 20, 3, 64, 64)
    assert clips.videos.dtype == np.uint8
    with pytest.raises(ValueError, match="asks for"):
        small_dataset.clips(p.replace(num_videos=1000))


def test_identity_and_action_labels_come_from_the_factors(small_dataset):
    from benchmark.data.moving_shapes import BACKGROUNDS, DIRECTIONS

    data = small_dataset.load_split("train")
    labels = small_dataset.clip_labels(data)
    assert set(labels) == {"identity", "action"} and labels["identity"].dtype == np.int64
    for n, m in enumerate(data.meta):
        assert BACKGROUNDS[labels["identity"][n]] == tuple(m["background"])
        vx, vy = m["objects"][0]["vx"], m["objects"][0]["vy"]
        expected = ("right" if vx > 0 else "left") if abs(vx) >= abs(vy) else ("down" if vy > 0 else "up")
        assert DIRECTIONS[labels["action"][n]] == expected
    with pytest.raises(ValueError, match="has no label 'camera'; its labels: action, identity"):
        small_dataset.clip_labels(data, ["camera"])


def test_label_spec_rejects_unknown_values():
    from benchmark.data.base import LabelSpec

    spec = LabelSpec("action", ("run", "walk"))
    assert spec.encode([{"action": "walk"}, {"action": "run"}], "toy").tolist() == [1, 0]
    with pytest.raises(ValueError, match="clip 1 has action='jump', not one of the 2 classes"):
        spec.encode([{"action": "run"}, {"action": "jump"}], "toy")
    with pytest.raises(ValueError, match="clip 0 has no 'action'"):
        spec.encode([{}], "toy")
