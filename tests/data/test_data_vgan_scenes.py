"""VGAN golf/beach on small tar.bz2 archives of stacked-JPEG clips plus the <scene>.txt list."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.real import CorruptInputError
from benchmark.data.vgan_scenes import VGANGolf, read_list
from benchmark.registry import DATASETS
from benchmark.utils import UserError
from tests.data_builders import build_vgan, level


def test_golf_listed_clips_unstacked_and_resized(tmp_path):
    listed = build_vgan(tmp_path / "raw" / "vgan-golf", "golf", clips=4, listed=3)
    ds = DATASETS.build("vgan-golf", root=tmp_path, strict_inputs=False)
    segs = ds.store.segments
    assert [s["video"] for s in segs] == [f"frames-stable-many/{p}" for p in listed]  # unlisted clip dropped
    p = ds.protocol("synthesis", "test")
    assert (p.num_frames, p.resolution, p.channels) == (32, (64, 64), 3)
    clips = ds.clips(p)
    assert clips.videos.shape == (3, 32, 3, 64, 64)
    got = clips.videos[1].reshape(32, -1).mean(1)
    assert np.abs(got - [level(i + 10) for i in range(32)]).max() < 3  # frame i = the i-th 128-row tile
    sixteen = VGANGolf(tmp_path, frames=16, strict_inputs=False)
    assert sixteen.store.path == ds.store.path  # same store, 16-frame windows
    # the first 16 frames of each clip: one per clip, as Aich et al. 2020 (the halves were 2 per clip)
    firsts = sixteen.clips(sixteen.protocol("synthesis")).videos
    assert firsts.shape == (3, 16, 3, 64, 64) and np.array_equal(firsts, clips.videos[:, :16])
    # a seeded random subset of the clips is the training split and the scored set alike
    two = VGANGolf(tmp_path, frames=16, num_videos=2, video_seed=1, strict_inputs=False)
    picked = two.split_segments("train")
    assert len(picked) == 2 and picked == sorted(picked)
    assert [m["segment"] for m in two.clips(two.protocol("synthesis")).meta] == picked
    assert sorted({m["segment"] for m in two.load_split("train").meta}) == picked
    assert two.options()["num_videos"] == 2 and "num_videos" not in sixteen.options()
    with pytest.raises(UserError, match="num_videos=9"):
        VGANGolf(tmp_path, frames=16, num_videos=9, strict_inputs=False).split_segments("train")
    with pytest.raises(UserError, match="frames must be"):
        VGANGolf(tmp_path, frames=8)


def test_beach_without_list_bad_stack_and_max_clips(tmp_path):
    build_vgan(tmp_path / "raw" / "vgan-beach", "beach", clips=3, listed=None, bad=True)
    with pytest.raises(CorruptInputError, match="not a vertical stack"):
        DATASETS.build("vgan-beach", root=tmp_path, strict_inputs=False).prepare()
    ds = DATASETS.build("vgan-beach", root=tmp_path, on_corrupt="skip", strict_inputs=False)
    assert len(ds.store.segments) == 3 and ds.excluded()[0]["item"].endswith("clip_bad.jpg")
    few = DATASETS.build("vgan-beach", root=tmp_path, on_corrupt="skip", max_clips=2, strict_inputs=False)
    assert len(few.store.segments) == 2
    assert read_list("./golf/a.jpg\n\n# c\ngolf/b.jpg\n") == ["golf/a.jpg", "golf/b.jpg"]
