"""The shared training loop: exact resume, NaN guard, checkpoints, logs, stateless sampling."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods import TrainData
from benchmark.training import (Batch, ClipSampler, NonFiniteLossError, Phase, TrainConfig, TrainParts,
                                load_checkpoint, train)
from benchmark.training.checkpoint import CheckpointError, capture_rng_state, restore_rng_state


class Toy(nn.Module):
    """Conv + BatchNorm + dropout: state (buffers) and randomness the checkpoint must carry."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(4, 3)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        frames = videos.flatten(0, 1)
        h = self.drop(F.relu(self.bn(self.conv(frames)))).mean((2, 3))
        return self.head(h)


def toy_parts(init_seed: int = 0, nan_at: int | None = None) -> tuple[TrainParts, Toy]:
    torch.manual_seed(init_seed)
    model = Toy()
    body = list(model.conv.parameters()) + list(model.bn.parameters())
    opt_a = torch.optim.Adam(body, lr=1e-2)
    opt_b = torch.optim.SGD(model.head.parameters(), lr=0.1, momentum=0.9)

    def target(batch: Batch) -> torch.Tensor:
        return batch.videos.flatten(0, 1).mean((2, 3))

    def loss_a(batch: Batch) -> torch.Tensor:
        pred = model(batch.videos)
        noise = torch.randn(pred.shape, generator=batch.generator, device=pred.device)  # per-step generator
        loss = F.mse_loss(pred + 0.01 * noise, target(batch)) + 1e-3 * torch.randn(()).abs()  # global RNG
        if nan_at is not None and batch.step + 1 == nan_at:
            loss = loss * float("nan")
        return loss

    def loss_b(batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        mse = F.mse_loss(model(batch.videos), target(batch))
        return mse, {"twice": 2 * mse.detach()}

    sched = torch.optim.lr_scheduler.StepLR(opt_a, step_size=2, gamma=0.5)
    parts = TrainParts(method="toy", modules={"toy": model},
                       phases=[Phase("a", opt_a, loss_a), Phase("b", opt_b, loss_b)],
                       schedulers={"a": sched}, config={"width": 4})
    return parts, model


@pytest.fixture(scope="module")
def data() -> TrainData:
    rng = np.random.default_rng(0)
    videos = rng.integers(0, 256, size=(10, 6, 3, 8, 8), dtype=np.uint8)
    return TrainData(videos=videos, protocols={}, content_hash="toy")


def _cfg(**kw) -> TrainConfig:
    base = dict(steps=6, batch_size=4, checkpoint_every=3, log_every=1)
    base.update(kw)
    return TrainConfig(**base)


def _log(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        elif isinstance(a[k], dict):
            _assert_same_state(a[k], b[k])
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("kill_after", [3, 4])  # at a checkpoint, and one step past it
def test_resume_is_bitwise_identical(tmp_path, data, kill_after):
    parts, full = toy_parts()
    train(parts, data, _cfg(), tmp_path / "full", seed=7, clip_frames=4, progress=False)

    parts, _ = toy_parts()
    summary = train(parts, data, _cfg(), tmp_path / "killed", seed=7, clip_frames=4, progress=False,
                    stop_after=kill_after)
    assert summary["stopped_early"] and summary["step"] == kill_after
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 3

    parts, resumed = toy_parts(init_seed=123)  # different init: everything must come from the checkpoint
    summary = train(parts, data, _cfg(), tmp_path / "killed", seed=7, clip_frames=4, progress=False, resume=True)
    assert summary["start_step"] == 3 and summary["step"] == 6

    _assert_same_state(full.state_dict(), resumed.state_dict())
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    _assert_same_state(a["optimizers"], b["optimizers"])
    _assert_same_state(a["schedulers"], b["schedulers"])
    # The log of the killed run is trimmed to the checkpoint and continued: each step once, same losses.
    la, lb = _log(tmp_path / "full" / "train_log.jsonl"), _log(tmp_path / "killed" / "train_log.jsonl")
    assert [r["step"] for r in lb] == [1, 2, 3, 4, 5, 6]
    assert [r["losses"] for r in la] == [r["losses"] for r in lb]


def test_resume_without_checkpoint_starts_fresh_and_finished_run_is_a_noop(tmp_path, data):
    parts, _ = toy_parts()
    s = train(parts, data, _cfg(steps=2), tmp_path, seed=0, clip_frames=4, progress=False, resume=True)
    assert s["start_step"] == 0 and s["step"] == 2
    parts, model = toy_parts(init_seed=5)
    s = train(parts, data, _cfg(steps=2), tmp_path, seed=0, clip_frames=4, progress=False, resume=True)
    assert s["start_step"] == 2 and s["step"] == 2
    _assert_same_state(model.state_dict(), load_checkpoint(tmp_path / "checkpoint.pt")["modules"]["toy"])


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, data):
    parts, _ = toy_parts(nan_at=5)
    with pytest.raises(NonFiniteLossError, match=r"phase 'a' is nan at step 5.*checkpoint.pt \(step 4\)"):
        train(parts, data, _cfg(steps=8, checkpoint_every=2), tmp_path, seed=0, clip_frames=4, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(t).all() for t in state["modules"]["toy"].values() if t.is_floating_point())


def test_nonfinite_weights_are_never_checkpointed(tmp_path, data):
    parts, model = toy_parts()

    calls = []

    def poison() -> None:  # after the last phase of step 2, just before its checkpoint
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                model.head.weight.fill_(float("inf"))

    parts.phases[1].after_step = poison
    with pytest.raises(NonFiniteLossError, match="weights became NaN/inf at step 2"):
        train(parts, data, _cfg(steps=4, checkpoint_every=2), tmp_path, seed=0, clip_frames=4, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_checkpoint_contents_are_weights_only_and_self_describing(tmp_path, data):
    parts, _ = toy_parts()
    cfg = _cfg(steps=2, log_every=2)
    summary = train(parts, data, cfg, tmp_path, seed=3, clip_frames=4, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # no pickled code
    assert state["method"] == "toy" and state["step"] == 2 and state["seed"] == 3
    assert state["train_config"] == asdict(cfg)
    assert state["method_config"] == {"width": 4}
    assert set(state["optimizers"]) == {"a", "b"} and set(state["schedulers"]) == {"a"}
    assert len(state["rng"]) == 1 and "git" in state
    assert summary["losses"].keys() == {"a", "b", "b/twice"}
    record = _log(tmp_path / "train_log.jsonl")[-1]
    assert record["step"] == 2 and record["wall_s"] >= 0 and set(record["lr"]) == {"a", "b"}
    written = json.loads((tmp_path / "train_config.json").read_text())
    assert written["train"] == asdict(cfg) and written["clip_frames"] == 4


def test_checkpoint_of_another_method_is_refused(tmp_path, data):
    parts, _ = toy_parts()
    train(parts, data, _cfg(steps=1), tmp_path, seed=0, clip_frames=4, progress=False)
    parts, _ = toy_parts()
    parts.method = "other"
    with pytest.raises(CheckpointError, match="method 'toy'"):
        train(parts, data, _cfg(steps=2), tmp_path, seed=0, clip_frames=4, progress=False, resume=True)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_bad_arguments_are_clear_errors(tmp_path, data):
    parts, _ = toy_parts()
    with pytest.raises(ValueError, match="cannot be cut"):
        train(parts, data, _cfg(), tmp_path, seed=0, clip_frames=7, progress=False)
    with pytest.raises(ValueError, match="unique"):
        parts.phases[1].name = "a"
        train(parts, data, _cfg(), tmp_path, seed=0, clip_frames=4, progress=False)


def test_clip_sampler_is_stateless_and_covers_each_epoch():
    s = ClipSampler(num_videos=10, video_frames=6, clip_frames=4, batch_size=5, seed=1)
    first = [s.draw(step) for step in range(4)]
    again = ClipSampler(num_videos=10, video_frames=6, clip_frames=4, batch_size=5, seed=1)
    for step in (3, 0, 2, 1):  # any order, fresh object: same batches
        idx, start = again.draw(step)
        assert np.array_equal(idx, first[step][0]) and np.array_equal(start, first[step][1])
    for epoch in range(2):  # without replacement within an epoch
        seen = np.concatenate([first[2 * epoch][0], first[2 * epoch + 1][0]])
        assert sorted(seen.tolist()) == list(range(10))
    assert all(((st >= 0) & (st <= 2)).all() for _, st in first)
    other = ClipSampler(num_videos=10, video_frames=6, clip_frames=4, batch_size=5, seed=2)
    assert not np.array_equal(other.draw(0)[0], first[0][0])


def test_rng_state_round_trip():
    state = capture_rng_state()
    a = (torch.rand(3), np.random.rand(3), __import__("random").random())
    restore_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), __import__("random").random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_losses_are_read_every_log_every_steps_not_every_step(tmp_path, data, monkeypatch):
    """Each read of a loss is a host sync on a GPU: the loop reads them once per log (and checkpoint)
    point, and a NaN is still caught there with the steps it may have come from."""
    from benchmark.training import distributed as D

    reads = []
    real = D.all_reduce_mean
    monkeypatch.setattr(D, "all_reduce_mean", lambda v: reads.append(1) or real(v))
    parts, _ = toy_parts()
    train(parts, data, _cfg(steps=8, log_every=4, checkpoint_every=8), tmp_path, seed=0, clip_frames=4,
          progress=False)
    assert len(reads) == 2  # steps 4 and 8
    assert [r["step"] for r in _log(tmp_path / "train_log.jsonl")] == [4, 8]

    parts, _ = toy_parts(nan_at=5)
    with pytest.raises(NonFiniteLossError, match=r"phase 'a' is nan in steps 5\.\.6.*checkpoint.pt \(step 4\)"):
        train(parts, data, _cfg(steps=8, log_every=4, checkpoint_every=2), tmp_path / "b", seed=0, clip_frames=4,
              progress=False)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 4
