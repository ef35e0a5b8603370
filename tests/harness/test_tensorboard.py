"""Training curves in TensorBoard event files beside train_log.jsonl (when tensorboard is installed)."""

from __future__ import annotations

import logging

import pytest

from benchmark.training import train
from benchmark.training import tensorboard as tb
from tests.harness.test_training import _cfg, _log, toy_parts


@pytest.fixture(scope="module")
def data():
    import numpy as np

    from benchmark.methods import TrainData

    videos = np.random.default_rng(0).integers(0, 256, size=(10, 6, 3, 8, 8), dtype=np.uint8)
    return TrainData(videos=videos, protocols={}, content_hash="toy")


def test_event_file_holds_the_logged_losses(tmp_path, data):
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'vidbench[tf]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    parts, _ = toy_parts()
    train(parts, data, _cfg(), tmp_path, seed=0, clip_frames=4, progress=False)
    acc = EventAccumulator(str(tmp_path / tb.TENSORBOARD_DIR))
    acc.Reload()
    logged = _log(tmp_path / "train_log.jsonl")
    for name in logged[0]["losses"]:
        events = acc.Scalars(f"loss/{name}")
        assert [e.step for e in events] == [r["step"] for r in logged]
        assert [e.value for e in events] == pytest.approx([r["losses"][name] for r in logged], rel=1e-6)
    assert "lr/a" in acc.Tags()["scalars"]


def test_writing_events_does_not_load_tensorflow(tmp_path):
    """TensorFlow (the [tf] extra) costs ~9 s per training process if TensorBoard pulls it in."""
    pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'vidbench[tf]')")
    import subprocess
    import sys

    code = ("import sys; from benchmark.training.tensorboard import EventWriter; "
            f"w = EventWriter(__import__('pathlib').Path({str(tmp_path)!r}), 0); "
            "w.log({'step': 1, 'losses': {'a': 1.0}}); w.close(); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_without_tensorboard_training_goes_on_and_says_so_once(tmp_path, data, monkeypatch, caplog):
    monkeypatch.setattr(tb, "tensorboard_available", lambda: False)
    monkeypatch.setattr(tb, "_said_missing", False)
    with caplog.at_level(logging.INFO, logger=tb.__name__):
        for run in ("a", "b"):
            parts, _ = toy_parts()
            train(parts, data, _cfg(), tmp_path / run, seed=0, clip_frames=4, progress=False)
    said = [r for r in caplog.records if "tensorboard is not installed" in r.getMessage()]
    assert len(said) == 1
    assert not (tmp_path / "a" / tb.TENSORBOARD_DIR).exists()
    assert len(_log(tmp_path / "a" / "train_log.jsonl")) == 6


def test_a_writer_turns_records_into_scalars(tmp_path, monkeypatch):
    """The record -> scalar mapping, with a stand-in SummaryWriter (runs without tensorboard)."""
    calls = []

    class FakeSummaryWriter:
        def __init__(self, log_dir, purge_step=None):
            calls.append(("open", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            calls.append(("close",))

    monkeypatch.setattr(tb, "summary_writer_class", lambda: FakeSummaryWriter)
    w = tb.EventWriter(tmp_path / "tensorboard", start_step=3)
    w.log({"step": 4, "losses": {"g": 0.5, "d/real": 0.25}, "lr": {"g": 1e-3}})
    w.close()
    assert calls == [("open", str(tmp_path / "tensorboard"), 3), ("loss/g", 0.5, 4), ("loss/d/real", 0.25, 4),
                     ("lr/g", 1e-3, 4), ("close",)]
