"""The training clip sampler covers every valid crop start (the last one included), and a checkpoint
of another format (or not a dict) is refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.training.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from benchmark.training.loop import ClipSampler


@pytest.mark.parametrize("video_frames,clip_frames", [(20, 15), (16, 16), (9, 2)])
def test_sampler_reaches_every_valid_crop_start(video_frames, clip_frames):
    s = ClipSampler(num_videos=3, video_frames=video_frames, clip_frames=clip_frames, batch_size=8, seed=0)
    starts = np.concatenate([s.draw(step)[1] for step in range(200)])
    last = video_frames - clip_frames  # a clip starting here ends on the video's last frame
    assert starts.min() == 0 and starts.max() == last
    assert set(starts.tolist()) == set(range(last + 1))


def test_sampler_visits_every_video_once_per_epoch():
    s = ClipSampler(num_videos=6, video_frames=10, clip_frames=4, batch_size=3, seed=1)
    idx = np.concatenate([s.draw(step)[0] for step in range(2)])
    assert sorted(idx.tolist()) == list(range(6))


@pytest.mark.parametrize("state", [
    {"format": CHECKPOINT_FORMAT + 1, "method": "toy", "step": 1},
    {"method": "toy", "step": 1},               # no format at all (e.g. a bare state_dict of some other tool)
    {"format": str(CHECKPOINT_FORMAT), "step": 1},
])
def test_checkpoint_of_another_format_is_refused(tmp_path, state):
    path = save_checkpoint(tmp_path / "ckpt.pt", state)
    with pytest.raises(CheckpointError, match="not a vidbench training checkpoint"):
        load_checkpoint(path)


def test_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a vidbench training checkpoint"):
        load_checkpoint(path)


def test_checkpoint_of_the_current_format_loads(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"format": CHECKPOINT_FORMAT, "step": 3})
    assert load_checkpoint(path)["step"] == 3
