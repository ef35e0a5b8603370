"""NAVSLP training fixes of issue 11: distinct clips as videos (item 12), per-row latent momentum, the
RNN normalised per video alike in training and sampling, no generator weight gradients in stage 2
(item 13)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

import benchmark.training.loop as loop
from benchmark.data.base import Protocol, TaskProtocols
from benchmark.methods import DataSpec, TrainData
from benchmark.training.loop import TrainConfig
from methods.navslp.method import NAVSLP, pick_videos
from methods.navslp.model import RowSGD, TransientRNN


def _spec(frames: int = 16, res: int = 32) -> DataSpec:
    p = Protocol(f"synthesis-{frames}", "synthesis", "train", 0, frames, (res, res), 3)
    return DataSpec("toy", 3, (res, res), {"synthesis": TaskProtocols(train=p, test=p)})


def _tiny(steps=1, batch_size=2, **kw) -> NAVSLP:
    spec = _spec()
    cfg = NAVSLP.profiles["smoke"](spec)
    cfg = dataclasses.replace(cfg, train=TrainConfig(steps=steps, batch_size=batch_size, checkpoint_every=100,
                                                     log_every=100), **kw)
    return NAVSLP(cfg, spec)


def _windows(clips: int = 5, per_clip: int = 4, frames: int = 16, res: int = 32, seed: int = 0) -> TrainData:
    """A real dataset's training split: ``per_clip`` step-1 windows of each of ``clips`` clips."""
    rng = np.random.default_rng(seed)
    p = _spec(frames, res).train_protocol("synthesis")
    videos = rng.integers(0, 255, (clips * per_clip, frames, 3, res, res), dtype=np.uint8)
    return TrainData(videos=videos, protocols={"synthesis": p}, sources=np.repeat(np.arange(clips) + 10, per_clip))


# ------------------------------------------------------------------------------- item 12 ---

def test_pick_videos_counts_distinct_clips_at_random():
    sources = np.repeat(np.arange(100), 7)                     # 100 clips, 7 windows each
    keep, clips = pick_videos(sources, len(sources), 10, seed=0)
    assert len(keep) == 10 and len(set(clips.tolist())) == 10    # distinct clips, one window each
    assert (sources[keep] == clips).all() and (keep % 7 == 0).all()   # each clip's first window
    assert clips.tolist() != list(range(10))                    # not the first clips of the split
    again, _ = pick_videos(sources, len(sources), 10, seed=0)
    other, _ = pick_videos(sources, len(sources), 10, seed=1)
    assert (again == keep).all() and not (other == keep).all()  # seeded
    all_keep, all_clips = pick_videos(sources, len(sources), 0, seed=0)
    assert len(all_keep) == 100 and (all_clips == np.arange(100)).all()
    plain, none = pick_videos(None, 30, 8, seed=0)              # items without sources are clips
    assert none is None and len(set(plain.tolist())) == 8 and plain.tolist() != list(range(8))


def test_fit_learns_latents_for_distinct_clips_and_budgets_steps_by_them(tmp_path, monkeypatch):
    """20 step-1 windows of 5 clips are 5 videos: 5 latent rows, steps μ_γ·μ_zθ·5, the picks recorded."""
    seen = {}

    def fake_train(parts, data, cfg, run_dir, **kw):
        seen["n"], seen["steps"] = len(data.videos), cfg.steps
        return {}

    monkeypatch.setattr(loop, "train", fake_train)
    m = _tiny(steps=0, batch_size=1, epochs_generator=2, iterations_per_video=3, max_videos=0)
    data = _windows(clips=5, per_clip=4)
    summary = m.fit(data, tmp_path, seed=0, progress=False)
    assert seen == {"n": 5, "steps": 2 * 3 * 5} and m.latents.num_videos == 5
    assert summary["videos"]["count"] == 5 and summary["videos"]["windows"] == [0, 4, 8, 12, 16]
    assert summary["videos"]["source_clips"] == [10, 11, 12, 13, 14]
    m = _tiny(steps=0, batch_size=1, epochs_generator=1, iterations_per_video=1, max_videos=3)
    summary = m.fit(data, tmp_path / "b", seed=4, progress=False)
    picked = summary["videos"]["source_clips"]
    assert seen["n"] == 3 and len(set(picked)) == 3 and summary["videos"]["pick_seed"] == 4
    assert all(data.sources[w] == c for w, c in zip(summary["videos"]["windows"], picked))


# ------------------------------------------------------------------------------- item 13 ---

def test_row_sgd_matches_torch_sgd_on_the_rows_it_updates_and_leaves_the_others_bitwise():
    torch.manual_seed(0)
    init = torch.randn(6, 3, 4)
    ours, ref = torch.nn.Parameter(init.clone()), torch.nn.Parameter(init[[1, 3]].clone())
    opt, ref_opt = RowSGD([ours], lr=0.5, momentum=0.9), torch.optim.SGD([ref], lr=0.5, momentum=0.9)
    target = torch.randn(6, 3, 4)
    for _ in range(4):                                           # rows 1 and 3 in every batch
        for p, o, t in ((ours, opt, target), (ref, ref_opt, target[[1, 3]])):
            o.zero_grad()
            ((p - t) ** 2).sum().backward()
        opt.set_rows([torch.tensor([1, 3, 3])])
        opt.step()
        ref_opt.step()
    assert torch.allclose(ours.data[[1, 3]], ref.data, atol=1e-6)
    untouched = [0, 2, 4, 5]
    assert torch.equal(ours.data[untouched], init[untouched])


def _spy_latents_phase(monkeypatch, on_loss=None, on_step=None):
    """Patch the loop so that each step's batch indices are recorded and the latents phase's loss and
    step can be observed."""
    real_train = loop.train
    record = {"index": []}

    def spy(parts, data, cfg, run_dir, **kw):
        make_batch = parts.make_batch

        def recording(batch):
            record["index"].append(batch.index.clone())
            return make_batch(batch)

        parts.make_batch = recording
        phase = next(p for p in parts.phases if p.name == "latents")
        loss_fn, step, after = phase.loss_fn, phase.optimizer.step, phase.after_step
        if on_loss is not None:
            phase.loss_fn = lambda b: (on_loss(), loss_fn(b))[1]
        if on_step is not None:
            def stepping():
                on_step("before")
                step()
            phase.optimizer.step = stepping
            phase.after_step = lambda: (after(), on_step("after"))
        return real_train(parts, data, cfg, run_dir, **kw)

    monkeypatch.setattr(loop, "train", spy)
    return record


def test_latents_outside_the_batch_stay_bitwise_unchanged(tmp_path, monkeypatch):
    """4 steps, batch 2 of 10 videos: at every step the latents of the videos not in that batch keep
    their exact bits (a dense torch.optim.SGD with momentum moved the rows visited on earlier steps),
    and the videos never visited keep their initial latents."""
    m = _tiny(steps=4, batch_size=2, max_videos=0)
    snaps: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    moved_outside: list[int] = []

    def on_step(when):
        lat = m.latents
        snaps[when] = (lat.static.detach().clone(), lat.transient.detach().clone())
        if when == "after":
            rows = set(record["index"][-1].tolist())
            outside = [r for r in range(lat.static.shape[0]) if r not in rows]
            (s0, t0), (s1, t1) = snaps["before"], snaps["after"]
            moved_outside.extend(r for r in outside if not (torch.equal(s0[r], s1[r]) and torch.equal(t0[r], t1[r])))
            inside = sorted(rows)
            assert not torch.equal(t0[inside], t1[inside])          # the batch's latents do move

    record = _spy_latents_phase(monkeypatch, on_step=on_step)
    rng = np.random.default_rng(0)
    data = TrainData(videos=rng.integers(0, 255, (10, 16, 3, 32, 32), dtype=np.uint8),
                     protocols={"synthesis": _spec().train_protocol("synthesis")})
    init = {}
    real_train = loop.train

    def first(parts, *a, **kw):   # the dictionary as initialised, before any step
        init["static"], init["transient"] = m.latents.static.detach().clone(), m.latents.transient.detach().clone()
        return real_train(parts, *a, **kw)

    monkeypatch.setattr(loop, "train", first)
    m.fit(data, tmp_path, seed=0, progress=False)
    assert len(record["index"]) == 4 and moved_outside == []
    never = sorted(set(range(10)) - {int(i) for idx in record["index"] for i in idx})
    assert never                                                   # 8 of 10 videos visited in 4 steps
    assert torch.equal(m.latents.static[never], init["static"][never])
    assert torch.equal(m.latents.transient[never], init["transient"][never])


def test_stage_two_computes_no_generator_weight_gradients(tmp_path, monkeypatch):
    m = _tiny(steps=2, batch_size=2)

    def clear():
        for p in m.generator.parameters():
            p.grad = None

    grads = []
    _spy_latents_phase(monkeypatch, on_loss=clear,
                       on_step=lambda when: grads.append([p.grad for p in m.generator.parameters()]))
    rng = np.random.default_rng(0)
    data = TrainData(videos=rng.integers(0, 255, (4, 16, 3, 32, 32), dtype=np.uint8),
                     protocols={"synthesis": _spec().train_protocol("synthesis")})
    m.fit(data, tmp_path, seed=0, progress=False)
    assert grads and all(g is None for step in grads for g in step)
    assert all(p.requires_grad for p in m.generator.parameters())   # restored after training


def test_rnn_normalises_each_video_over_its_frames_alike_in_training_and_sampling():
    torch.manual_seed(0)
    rnn = TransientRNN(4, hidden=8)
    z = torch.randn(3, 10, 4)
    rnn.train()
    trained = rnn(z)
    rnn.eval()
    sampled = rnn(z)
    assert torch.equal(trained, sampled)                           # no running statistics at sampling
    alone = rnn(z[1:2])
    assert torch.allclose(alone, sampled[1:2], atol=1e-6)          # each video by its own statistics
    # upstream: BatchNorm1d(affine=False) in training mode over one video's frames (batch 1)
    bn = torch.nn.BatchNorm1d(4, affine=False).train()
    ref = torch.stack([bn(r) for r in rnn.gru(z)])
    assert torch.allclose(sampled, ref, atol=1e-5)
