"""``benchmark score REAL FAKE`` as a researcher calls it: folders of mp4/avi/gif files and of frame
folders, resampling, presets, weights, device, workers, the printed protocol and the JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from benchmark import cli
from benchmark.score import (PRESETS, ScoreError, load_videos, parse_resolution, resample, resolve_device,
                             score_sets)
from benchmark.video import write_video

# 4 grey levels: GIF palettes and lossless H.264 keep them exactly
LEVELS = np.array([0, 85, 170, 255], np.uint8)


def _videos(seed: int, n: int = 3, t: int = 5, size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gray = LEVELS[rng.integers(0, 4, (n, t, 1, size, size))]
    return np.repeat(gray, 3, axis=2)


def _write_avi(path, video: np.ndarray) -> None:
    import av

    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("png", rate=8)
        stream.width, stream.height, stream.pix_fmt = video.shape[3], video.shape[2], "rgb24"
        for frame in video.transpose(0, 2, 3, 1):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        out.mux(stream.encode())


def _write_frames(folder, video: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for t, frame in enumerate(video):
        Image.fromarray(frame.transpose(1, 2, 0)).save(folder / f"{t:04d}.png")


@pytest.fixture()
def folders(tmp_path):
    """real/: a.mp4, b.avi, c/ (frames); fake/: the same videos as a.gif, b.mp4, c/ (frames)."""
    real, fake = _videos(0), _videos(1)
    write_video(tmp_path / "real" / "a.mp4", real[0])
    _write_avi(tmp_path / "real" / "b.avi", real[1])
    _write_frames(tmp_path / "real" / "c", real[2])
    write_video(tmp_path / "fake" / "a.gif", fake[0])
    write_video(tmp_path / "fake" / "b.mp4", fake[1])
    _write_frames(tmp_path / "fake" / "c", fake[2])
    return tmp_path / "real", tmp_path / "fake", real, fake


def test_folders_of_mp4_avi_gif_and_frame_folders_load_exactly(folders):
    real_dir, fake_dir, real, fake = folders
    np.testing.assert_array_equal(load_videos(real_dir), real)
    np.testing.assert_array_equal(load_videos(fake_dir, num_workers=2), fake)
    np.testing.assert_array_equal(load_videos(real_dir / "c"), real[2:3])  # one frame folder = one video


def test_unequal_lengths_are_a_clear_error_or_resampled(tmp_path):
    v = _videos(0, n=2, t=6)
    write_video(tmp_path / "a.mp4", v[0])
    write_video(tmp_path / "b.mp4", v[1][:4])
    with pytest.raises(ScoreError, match=r"b\.mp4.*\(4, 3, 24, 24\).*--frames T.*--resolution"):
        load_videos(tmp_path)
    out = load_videos(tmp_path, frames=4)
    np.testing.assert_array_equal(out, v[:, :4])
    with pytest.raises(ScoreError, match="fewer than --frames 5"):
        load_videos(tmp_path, frames=5)


def test_resolution_resamples_every_frame():
    v = np.full((2, 3, 3, 32, 32), 200, np.uint8)
    v[:, :, :, :, 16:] = 40
    out = resample(v, None, (16, 8))
    assert out.shape == (2, 3, 3, 16, 8) and out.dtype == np.uint8
    assert (out[..., :3] == 200).all() and (out[..., -3:] == 40).all()   # antialiased, not aliased
    assert parse_resolution("48x64") == (48, 64)
    with pytest.raises(ScoreError, match="HEIGHTxWIDTH"):
        parse_resolution("big")


def test_presets_follow_the_papers_conventions():
    assert set(PRESETS) == {"savp", "svg", "srvp"}
    real = _videos(0, size=32)
    fake = np.clip(real.astype(int) + np.random.default_rng(1).integers(-40, 41, real.shape), 0, 255).astype(np.uint8)
    savp = score_sets(real, fake, ["ssim", "psnr"], preset="savp")
    svg = score_sets(real, fake, ["ssim", "psnr"], preset="svg")
    assert svg["protocols"]["ssim"]["window_size"] == 7 and svg["protocols"]["ssim"]["preset"] == "svg"
    assert svg["protocols"]["psnr"]["channel_reduction"] == "per_channel"
    assert savp["protocols"]["ssim"]["window_size"] == 11
    assert abs(svg["metrics"]["ssim_mean"]["value"] - savp["metrics"]["ssim_mean"]["value"]) > 1e-4
    with pytest.raises(ScoreError, match="unknown preset"):
        score_sets(real, fake, ["ssim"], preset="nope")


def test_random_weights_are_labelled_not_comparable():
    v = _videos(0, n=2, t=2, size=64)
    r = score_sets(v, v, ["lpips"], weights="random")
    assert r["comparable"] is False
    assert r["protocols"]["lpips"]["trunk_weights"]["mode"] == "random"


def test_device():
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device("cpu").type == "cpu"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ScoreError, match="CUDA is not available"):
            resolve_device("cuda")


def test_cli_prints_the_protocol_and_writes_the_json(folders, tmp_path, capsys):
    real_dir, fake_dir, real, fake = folders
    out = tmp_path / "score.json"
    assert cli.main(["score", str(real_dir), str(fake_dir), "--metrics", "psnr,ssim", "--preset", "svg",
                     "--frames", "4", "--resolution", "16", "--batch-size", "2", "--num-workers", "2",
                     "--device", "cpu", "--weights", "pinned", "--cache-dir", str(tmp_path / "cache"),
                     "--no-progress", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "protocol:" in printed and "preset=svg" in printed and "frames=4" in printed
    assert "ssim (paired): preset=svg, window=uniform, window_size=7" in printed
    result = json.loads(out.read_text())
    assert result["real"]["shape"] == [3, 4, 3, 16, 16]
    assert result["options"] == {"weights": "pinned", "device": "cpu", "preset": "svg", "frames": 4,
                                 "resolution": [16, 16], "batch_size": 2, "num_workers": 2,
                                 "cache_dir": str(tmp_path / "cache")}
    assert result["metric_protocols"]["ssim"]["window_size"] == 7
    assert set(result["metrics"]["psnr_mean"]) >= {"value", "ci_low", "ci_high", "n"}   # MetricValue.to_dict


def test_cli_errors_exit_2(folders, capsys):
    real_dir, fake_dir, _, _ = folders
    assert cli.main(["score", str(real_dir), str(fake_dir), "--resolution", "0x3"]) == 2
    assert "--resolution" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["score", str(real_dir), str(fake_dir), "--preset", "nope"])


def test_json_dash_prints_only_json(folders, capsys):
    real_dir, fake_dir, _, _ = folders
    assert cli.main(["score", str(real_dir), str(fake_dir), "--metrics", "ssim", "--json", "-", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["schema"] == "vidbench.score/1" and "ssim_mean" in result["metrics"]
