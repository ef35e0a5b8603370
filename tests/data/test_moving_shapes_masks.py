"""``moving_shapes.object_masks``: the generator's per-object masks, for oracle checks."""

from __future__ import annotations

import numpy as np

from benchmark.data.moving_shapes import MovingShapesConfig, object_masks, render_video, sample_factors


def _two_object_factors(n: int = 40):
    cfg = MovingShapesConfig()
    out = []
    for i in range(400):
        f = sample_factors(np.random.default_rng([7, i]), cfg)
        if len(f["objects"]) == 2:
            out.append(f)
        if len(out) == n:
            break
    return out


def test_visible_masks_are_the_pixels_of_each_object():
    for f in _two_object_factors():
        video = render_video(f, 64, 20).transpose(0, 2, 3, 1)  # (T, H, W, 3)
        masks = object_masks(f, 64, 20)
        assert masks.shape == (2, 20, 64, 64) and masks.dtype == bool
        assert not (masks[0] & masks[1]).any()  # visible masks are disjoint
        for obj, m in zip(f["objects"], masks):
            assert m.any() and (video[m] == np.asarray(obj["color"], np.uint8)).all()
        background = (video == np.asarray(f["background"], np.uint8)).all(-1)
        assert np.array_equal(masks.any(0), ~background)  # together they are everything but background


def test_full_silhouettes_contain_the_visible_parts():
    f = _two_object_factors(1)[0]
    full, vis = object_masks(f, 64, 20, visible=False), object_masks(f, 64, 20)
    assert (full >= vis).all() and np.array_equal(full[-1], vis[-1])  # the top object is never covered
    assert object_masks(f, 64, 7).shape == (2, 7, 64, 64)
