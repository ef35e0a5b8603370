"""``bouncing-balls``: DDPAE's 4 elastic balls, generated from a seed (no files, no download)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import load_dataset
from benchmark.data.bouncing_balls import BallVideos, BouncingBallsConfig, initial_state, render, simulate
from benchmark.registry import DATASETS

CFG = BouncingBallsConfig()


def _videos(split: str = "test", n: int = 8, **config) -> BallVideos:
    cfg = BouncingBallsConfig(**config)
    return BallVideos(cfg, split, n)


def _disk_pixels(cfg: BouncingBallsConfig) -> int:
    rad = int(cfg.radius * cfg.size / cfg.world)
    off = np.arange(-rad, rad + 1)
    return int((off[:, None] ** 2 + off[None, :] ** 2 <= rad * rad).sum())


def test_registered_with_the_papers_protocol_and_no_files(tmp_path):
    assert "bouncing-balls" in DATASETS.list()
    ds = load_dataset("bouncing-balls", tmp_path / "nothing-here")
    train, test = ds.protocol("prediction", "train"), ds.protocol("prediction", "test")
    assert (train.context_frames, train.future_frames, train.resolution, train.channels) == (10, 10, (128, 128), 1)
    assert (test.context_frames, test.future_frames, test.samples_per_context) == (10, 10, 1)
    assert ds.train_frames() == 60  # training clips are random 20-frame windows of the 60-frame videos
    tr, te = ds.load_split("train").videos, ds.load_split("test").videos
    assert tr.shape == (50_000, 60, 1, 128, 128) and te.shape == (2_000, 60, 1, 128, 128)
    clips = ds.clips(test, max_clips=3)
    arr = np.asarray(clips.videos)
    assert arr.shape == (3, 20, 1, 128, 128) and arr.dtype == np.uint8
    assert np.array_equal(arr, np.asarray(te[:3])[:, :20])  # test clips start at frame 0 (upstream)
    assert not (tmp_path / "nothing-here").exists()  # generated, nothing written


def test_deterministic_from_the_seed_and_splits_differ():
    a, b = _videos(), _videos()
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[[0, 5]], np.stack([b[0], b[5]]))
    assert not np.array_equal(_videos(seed=1)[2], a[2])
    assert not np.array_equal(_videos("train")[2], a[2])
    assert a[2, 3:7].shape == (4, 1, 128, 128) and np.array_equal(a[2, 3:7], a[2][3:7])
    assert not np.array_equal(a[2][0], a[2][10])  # the balls move


def test_start_state_follows_the_upstream_sampler():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pos, vel = initial_state(rng, CFG)
        assert pos.shape == vel.shape == (4, 2)
        assert np.array_equal(pos, np.round(pos)) and pos.min() >= 61 and pos.max() <= 738
        assert np.array_equal(vel, np.round(vel)) and np.abs(vel).max() <= 20
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(4) * 1e9
        assert d.min() >= 150  # rejection sampling at 2.5 radii


def test_every_frame_shows_four_whole_disjoint_balls():
    """Balls never overlap and never leave the box, so every frame lights exactly 4 disks' pixels."""
    v = _videos(n=6)
    disk = _disk_pixels(CFG)
    assert disk > 200  # radius 9 at 128x128
    for i in range(len(v)):
        lit = (v[i] == 255).reshape(60, -1).sum(1)
        assert (lit == 4 * disk).all() and set(np.unique(v[i])) == {0, 255}


@pytest.mark.parametrize("i", range(12))
def test_motion_conserves_energy_and_keeps_balls_apart_and_inside(i):
    pos, vel = _videos("train", n=12).trajectory(i)
    assert pos.shape == vel.shape == (60, 4, 2)
    energy = (vel ** 2).sum((1, 2))
    np.testing.assert_allclose(energy, energy[0], rtol=1e-9)  # elastic walls and collisions
    speeds = np.linalg.norm(vel, axis=-1)
    assert speeds.max() < 60  # upstream's max_velocity rejection can never fire
    d = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1) + np.eye(4) * 1e9
    assert d.min() >= 120 - 1e-6  # two radii
    assert pos.min() >= 60 - 1e-9 and pos.max() <= 740 + 1e-9
    # between frames each ball moves by its velocity unless it hit something
    free = np.all(np.isclose(vel[1:], vel[:-1]), axis=-1)
    np.testing.assert_allclose((pos[1:] - pos[:-1])[free], vel[:-1][free], atol=1e-9)


def test_head_on_collision_of_equal_masses_exchanges_velocities():
    pos = np.array([[200.0, 400.0], [500.0, 400.0]])
    vel = np.array([[10.0, 0.0], [-10.0, 0.0]])
    cfg = BouncingBallsConfig(num_balls=2)
    p, v = simulate(pos, vel, 20, cfg)
    # contact when the gap of 300 - 120 = 180 closes at 20 per frame: t = 9; then they swap
    np.testing.assert_allclose(v[9], vel)  # touching at frame 9; the exchange happens just after
    np.testing.assert_allclose(v[10], [[-10.0, 0.0], [10.0, 0.0]])
    np.testing.assert_allclose(p[9], [[290.0, 400.0], [410.0, 400.0]])
    np.testing.assert_allclose(p[12], [[260.0, 400.0], [440.0, 400.0]])
    # an oblique hit: momentum and energy are conserved, the tangential parts are kept
    p, v = simulate(np.array([[300.0, 400.0], [420.0, 460.0]]), np.array([[12.0, 0.0], [0.0, 0.0]]), 10, cfg)
    np.testing.assert_allclose(v[-1].sum(0), [12.0, 0.0], atol=1e-9)
    np.testing.assert_allclose((v[-1] ** 2).sum(), 144.0, rtol=1e-9)
    assert np.abs(v[-1, 1]).sum() > 1  # the struck ball moves


def test_wall_bounce_reflects_exactly():
    cfg = BouncingBallsConfig(num_balls=1)
    p, v = simulate(np.array([[700.0, 400.0]]), np.array([[15.0, 0.0]]), 6, cfg)
    # wall at x = 740 (radius 60): 700 -> 715 -> 730 -> 740 - 5 = 735 -> 720
    np.testing.assert_allclose(p[:5, 0, 0], [700, 715, 730, 735, 720])
    assert v[3, 0, 0] == -15.0


def test_rendering_scales_the_world_to_the_frame():
    cfg = BouncingBallsConfig(num_balls=1, size=64)
    frame = render(np.array([[[400.0, 200.0]]]), cfg)[0, 0]  # centre (32, 16) at 64 px, radius int(4.8) = 4
    ys, xs = np.nonzero(frame)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (12, 20, 28, 36)


def test_options_change_the_content_hash_and_bad_options_are_explained(tmp_path):
    from benchmark.utils import UserError

    a = load_dataset("bouncing-balls", tmp_path).load_split("train").content_hash
    b = load_dataset("bouncing-balls", tmp_path, seed=1).load_split("train").content_hash
    assert a != b
    small = load_dataset("bouncing-balls", tmp_path, size=32, split_sizes={"train": 4, "test": 2})
    assert small.load_split("test").videos.shape == (2, 60, 1, 32, 32)
    with pytest.raises(UserError, match="num_frames"):
        load_dataset("bouncing-balls", tmp_path, num_frames=10)
    with pytest.raises(ValueError, match="splits"):
        small.load_split("val")
