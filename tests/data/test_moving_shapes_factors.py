"""Per-clip factor labels of moving-shapes (what the embedded evaluator learns)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.moving_shapes import BACKGROUND_NAMES, MovingShapesConfig, derived_labels, generate_split, object_velocities, trajectory_with_velocity
from benchmark.data.moving_shapes_factors import FACTORS, FACTOR_INDEX, clip_factor_labels, factor_label_arrays


def _split(**kw):
    cfg = MovingShapesConfig(split_sizes={"train": 1, "val": 1, "test": 24}, **kw)
    return cfg, *generate_split(cfg, "test")


def test_replayed_velocities_reproduce_the_stored_trajectory():
    cfg, _, meta = _split()
    for m in meta:
        for obj in m["objects"]:
            r = obj["size"]
            xs, vx, _ = trajectory_with_velocity(obj["x0"], obj["vx"], r, cfg.size - 1 - r, cfg.num_frames)
            assert np.allclose(xs.round(3), obj["xs"])
            vxs, vys = object_velocities(obj, cfg.size, cfg.num_frames)
            assert np.array_equal(vxs, vx)
            # the velocity carries each frame to the next, except where it bounces
            step = np.diff(np.asarray(obj["ys"]))
            same = np.isclose(step, vys[:-1], atol=2e-3)
            assert same.mean() > 0.5 and np.all(np.abs(np.abs(vys) - abs(obj["vy"])) < 1e-12)


def test_labels_agree_with_the_metadata():
    cfg, _, meta = _split()
    labels = factor_label_arrays(meta, cfg.size, [0] * len(meta), cfg.num_frames)
    assert set(labels) == {f.name for f in FACTORS}
    for i, m in enumerate(meta):
        d = derived_labels(m)
        objects = m["objects"]
        assert BACKGROUND_NAMES[labels["background"][i]] == d["background_name"]
        assert labels["count"][i] == len(objects) - 1
        shapes = FACTOR_INDEX["shapes"].classes[labels["shapes"][i]].split("+")
        assert sorted(shapes) == sorted({o["shape"] for o in objects})  # the set, in class order
        if len(objects) == 1:
            assert FACTOR_INDEX["directions"].classes[labels["directions"][i]] == d["direction"]
        for f in FACTORS:
            assert 0 <= labels[f.name][i] < f.num_classes
    # the frequent classes occur in 24 clips, singletons and pairs
    assert len(set(labels["count"])) == 2 and len(set(labels["directions"])) >= 5


def test_class_lists():
    assert [f.num_classes for f in FACTORS] == [4, 2, 6, 21, 6, 10, 6]
    assert FACTOR_INDEX["colours"].classes[:7] == ("red", "green", "blue", "yellow", "magenta", "cyan", "red+green")
    same = {"background": [20, 20, 30], "objects": [
        {"shape": "square", "color": [230, 60, 60], "size": 6, "x0": 20.0, "y0": 20.0, "vx": 1.0, "vy": 0.1},
        {"shape": "square", "color": [60, 200, 80], "size": 10, "x0": 40.0, "y0": 40.0, "vx": -2.0, "vy": 0.1}]}
    lab = clip_factor_labels(same, 64)
    named = {f.name: f.classes[lab[f.name]] for f in FACTORS}
    assert named == {"background": "dark-blue", "count": "2", "shapes": "square", "colours": "red+green",
                     "sizes": "small+large", "directions": "right+left", "speeds": "slow+medium"}
    with pytest.raises(ValueError, match="at most 2"):
        clip_factor_labels({**same, "objects": same["objects"] * 2}, 64)


def test_direction_follows_bounces_and_sizes_scale_with_the_canvas():
    cfg, _, meta = _split()
    bounced = [m for m in meta if m["objects"][-1]["bounces"] > 0]
    assert bounced
    changed = 0
    for m in bounced:
        first = clip_factor_labels(m, cfg.size, 0, cfg.num_frames)["directions"]
        later = {clip_factor_labels(m, cfg.size, s, cfg.num_frames)["directions"] for s in range(cfg.num_frames)}
        changed += len(later - {first}) > 0
    assert changed > 0
    obj = {"shape": "circle", "color": [230, 60, 60], "size": 10, "x0": 30.0, "y0": 30.0, "vx": 2.5, "vy": 0.0}
    half = {**obj, "size": 5, "x0": 15.0, "y0": 15.0, "vx": 1.25}
    bg = {"background": [20, 20, 30]}
    big = clip_factor_labels({**bg, "objects": [obj]}, 64)
    small = clip_factor_labels({**bg, "objects": [half]}, 32)
    assert (big["sizes"], big["speeds"], big["directions"]) == (small["sizes"], small["speeds"], small["directions"]) == (2, 2, 0)
