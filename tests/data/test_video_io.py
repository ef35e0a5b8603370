"""Video I/O (benchmark/video.py) on real files: npz layouts, mp4/gif round trips, corrupt inputs."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from benchmark.video import (VideoFormatError, check_videos, load_npz, load_video_set, normalize_layout,
                             read_video, save_npz, to_float, to_uint8, write_video)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_npz_nthwc_and_ntchw_layouts(tmp_path, rng):
    thwc = rng.integers(0, 256, (2, 4, 8, 10, 3), dtype=np.uint8)
    np.savez(tmp_path / "thwc.npz", videos=thwc)
    np.savez(tmp_path / "tchw.npz", videos=np.moveaxis(thwc, -1, 2))
    np.savez(tmp_path / "gray.npz", frames=thwc[..., 0])  # (N, T, H, W), the only array
    expected = np.moveaxis(thwc, -1, 2)  # (N, T, C, H, W)
    for name in ("thwc.npz", "tchw.npz"):
        out = load_npz(tmp_path / name)
        assert out.shape == (2, 4, 3, 8, 10) and out.dtype == np.uint8
        assert np.array_equal(out, expected)
    assert np.array_equal(load_npz(tmp_path / "gray.npz"), expected[:, :, :1])
    # save_npz writes (N, T, H, W, C) and round-trips exactly; floats are rounded to uint8
    save_npz(tmp_path / "saved.npz", torch.from_numpy(expected))
    with np.load(tmp_path / "saved.npz") as z:
        assert z["videos"].shape == thwc.shape
    assert np.array_equal(load_video_set(tmp_path / "saved.npz"), expected)
    save_npz(tmp_path / "float.npz", to_float(expected))
    assert np.array_equal(load_npz(tmp_path / "float.npz"), expected)


def test_npz_layout_and_dtype_errors(tmp_path, rng):
    with pytest.raises(VideoFormatError, match="ambiguous"):
        normalize_layout(np.zeros((2, 4, 3, 8, 3), np.uint8))
    with pytest.raises(VideoFormatError, match="no channel axis"):
        normalize_layout(np.zeros((2, 4, 5, 8, 7), np.uint8))
    np.savez(tmp_path / "float.npz", videos=rng.random((2, 4, 8, 8, 3)).astype(np.float32))
    with pytest.raises(VideoFormatError, match="uint8"):
        load_npz(tmp_path / "float.npz")
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 2, 8, 8, 3), np.uint8), b=np.zeros(3))
    with pytest.raises(VideoFormatError, match="name the videos array"):
        load_npz(tmp_path / "two.npz")


def test_corrupt_and_truncated_npz(tmp_path, rng):
    save_npz(tmp_path / "ok.npz", rng.integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    with zipfile.ZipFile(tmp_path / "ok.npz") as z:
        offset = z.infolist()[0].header_offset + 100  # inside the compressed member
    for i in range(offset, offset + 32):
        flipped[i] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    (tmp_path / "empty.npz").write_bytes(b"")
    for name in ("truncated.npz", "flipped.npz", "empty.npz"):
        with pytest.raises(VideoFormatError, match="corrupt or truncated"):
            load_npz(tmp_path / name)


@pytest.mark.parametrize("shape", [(5, 3, 16, 16), (3, 3, 15, 17), (4, 1, 16, 16)])
def test_mp4_round_trip_is_lossless(tmp_path, rng, shape):
    video = rng.integers(0, 256, shape, dtype=np.uint8)
    write_video(tmp_path / "v.mp4", video)
    back = read_video(tmp_path / "v.mp4")
    expected = np.repeat(video, 3, axis=1) if shape[1] == 1 else video  # gray decodes as RGB
    assert back.shape == expected.shape and back.dtype == np.uint8
    assert np.array_equal(back, expected)


def test_mp4_from_float_tensor(tmp_path):
    video = torch.rand(3, 3, 16, 16)
    write_video(tmp_path / "f.mp4", video)
    assert np.array_equal(read_video(tmp_path / "f.mp4"), to_uint8(video).numpy())


def test_gif_round_trip(tmp_path, rng):
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)  # GIF holds 256 colours per frame: exact
    video = np.moveaxis(palette[rng.integers(0, 256, (6, 32, 32))], -1, 1)  # (T, C, H, W)
    write_video(tmp_path / "v.gif", video)
    assert np.array_equal(read_video(tmp_path / "v.gif"), video)
    # identical consecutive frames (Pillow merges them on write) and a fully static video keep T
    repeated = np.concatenate([video[:2], video[1:2], video[1:2], video[2:]])
    write_video(tmp_path / "r.gif", repeated, fps=30)
    assert np.array_equal(read_video(tmp_path / "r.gif"), repeated)
    static = np.repeat(video[:1], 9, axis=0)
    write_video(tmp_path / "s.gif", static)
    assert np.array_equal(read_video(tmp_path / "s.gif"), static)


def test_gif_of_more_than_256_colours_is_quantised_close(tmp_path, rng):
    smooth = np.linspace(0, 255, 40).astype(np.uint8)
    video = np.stack([np.broadcast_to(smooth[None, :, None], (3, 40, 40)), np.broadcast_to(smooth[None, None, :], (3, 40, 40))])
    video = np.ascontiguousarray(video + rng.integers(0, 3, video.shape, dtype=np.uint8))  # ~1000 colours a frame
    write_video(tmp_path / "n.gif", video)
    back = read_video(tmp_path / "n.gif")
    assert back.shape == video.shape and np.abs(back.astype(int) - video).mean() < 4


def test_corrupt_mp4(tmp_path, rng):
    write_video(tmp_path / "v.mp4", rng.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8))
    data = (tmp_path / "v.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (tmp_path / "garbage.mp4").write_bytes(b"not a video" * 50)
    for name in ("truncated.mp4", "garbage.mp4"):
        with pytest.raises(VideoFormatError, match="corrupt or truncated"):
            read_video(tmp_path / name)
    with pytest.raises(VideoFormatError, match="no such file"):
        read_video(tmp_path / "missing.mp4")


def test_folder_sets(tmp_path, rng):
    ok = tmp_path / "ok"
    videos = rng.integers(0, 256, (3, 4, 3, 16, 16), dtype=np.uint8)
    for i, v in enumerate(videos):
        write_video(ok / f"{i:02d}.mp4", v)
    out = load_video_set(ok)
    assert out.shape == (3, 4, 3, 16, 16) and np.array_equal(out, videos)  # sorted by name
    assert load_video_set(ok, max_videos=2).shape[0] == 2

    mixed = tmp_path / "mixed"
    write_video(mixed / "a.mp4", videos[0])
    write_video(mixed / "b.mp4", videos[1, :, :, :8, :8])
    with pytest.raises(VideoFormatError, match="differs"):
        load_video_set(mixed)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoFormatError, match="no .npz or video files"):
        load_video_set(tmp_path / "empty")
    with pytest.raises(VideoFormatError, match="no such file"):
        load_video_set(tmp_path / "nope")


def test_check_videos_and_conversions():
    x = torch.rand(2, 3, 1, 8, 8)
    assert check_videos(x) is x
    assert torch.allclose(to_float(to_uint8(x)), x, atol=0.5 / 255 + 1e-7)
    bad = x.clone()
    bad[1, 2, 0, 3, 3] = float("nan")
    with pytest.raises(VideoFormatError, match=r"NaN.*\[1\]"):
        check_videos(bad)
    with pytest.raises(VideoFormatError, match="uint8"):
        to_float(x)
    with pytest.raises(VideoFormatError, match="C=8"):
        check_videos(torch.rand(1, 2, 8, 8, 8))
    with pytest.raises(VideoFormatError, match="float"):
        check_videos(to_uint8(x))


def test_values_in_range_skips_only_the_value_scan_of_those_tensors_and_their_views():
    from benchmark.video import values_in_range

    batch = to_float(torch.randint(0, 256, (2, 4, 3, 8, 8), dtype=torch.uint8))
    scaled = batch * 2  # computed from the batch: a tensor of its own, still scanned
    with values_in_range(batch):
        assert check_videos(batch[:, 1:]) is not None and check_videos(batch.flatten(0, 0)) is not None
        with pytest.raises(VideoFormatError, match=r"values must lie in \[0, 1\]"):
            check_videos(scaled)
        with pytest.raises(VideoFormatError, match="C=4"):  # shapes are still checked
            check_videos(batch.permute(0, 2, 1, 3, 4))
    batch[0, 0, 0, 0, 0] = 2.0
    with pytest.raises(VideoFormatError, match=r"values must lie"):  # outside the block: scanned again
        check_videos(batch)
