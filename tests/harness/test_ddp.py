"""DDP with 2 gloo processes on CPU, launched by ``torchrun`` exactly as users launch it.

The test starts ``torchrun --standalone --nproc-per-node 2 tests/harness/test_ddp.py OUT`` (the ``__main__``
block below is the worker) and checks that

* both ranks end with bitwise identical weights (gradients and BatchNorm buffers are averaged),
* 2 ranks with a global batch of B end with the same weights as 1 process with batch B (same
  clips: each rank trains on its half of the step's global batch), for a model without batch
  statistics,
* with BatchNorm, 2 ranks match 1 process at the same global batch only because BatchNorm is
  synchronised over ranks (without the sync they do not),
* only rank 0 writes the checkpoint and the log, and the checkpoint carries both ranks' RNG states.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.distributed import torchrun_two_ranks

STEPS, BATCH = 4, 8


def toy_data():
    from benchmark.methods import TrainData

    rng = np.random.default_rng(0)
    return TrainData(rng.integers(0, 256, size=(12, 6, 3, 8, 8), dtype=np.uint8), {})


def train_toy(run_dir: Path):
    """A conv regressor without BatchNorm/dropout, two optimiser phases (like a GAN's D and G)."""
    from benchmark.training import Phase, TrainConfig, TrainParts, train

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3))
    body, head = model[0], model[3]
    opt_body = torch.optim.Adam(body.parameters(), lr=1e-2)
    opt_head = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)

    seen: list[list[int]] = []  # video indices trained on, per step

    def loss(batch):
        if not seen or len(seen) <= batch.step:
            seen.append(batch.index.tolist())
        frames = batch.videos.flatten(0, 1)
        return F.mse_loss(model(frames), frames.mean((2, 3)))

    parts = TrainParts("toy", {"model": model}, [Phase("body", opt_body, loss), Phase("head", opt_head, loss)])
    cfg = TrainConfig(steps=STEPS, batch_size=BATCH, checkpoint_every=2, log_every=1)
    train(parts, toy_data(), cfg, run_dir, seed=0, clip_frames=4, progress=False)
    return model, seen


def _toy_bn_model() -> nn.Module:
    torch.manual_seed(0)
    # no conv bias: BatchNorm cancels it, its gradient is float noise (which Adam would amplify)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 64, 3))


def train_toy_bn(run_dir: Path, sync_batchnorm: bool = True) -> nn.Module:
    """A conv regressor with BatchNorm: batch statistics make the loss depend on the whole batch."""
    from benchmark.training import Phase, TrainConfig, TrainParts, train

    model = _toy_bn_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def loss(batch):
        frames = batch.videos.flatten(0, 1)
        return F.mse_loss(model(frames), frames.mean((2, 3)))

    parts = TrainParts("toy_bn", {"model": model}, [Phase("mse", opt, loss)])
    cfg = TrainConfig(steps=STEPS, batch_size=BATCH, checkpoint_every=STEPS, log_every=1)
    train(parts, toy_data(), cfg, run_dir, seed=0, clip_frames=4, progress=False, sync_batchnorm=sync_batchnorm)
    return model


def worker(out: Path) -> None:
    from benchmark.data.moving_shapes import MovingShapes
    from benchmark.methods import DataSpec, TrainData
    from benchmark.training import distributed
    from methods.baselines.ae_gmm import AutoencoderGMM
    from methods.baselines.conv_lstm import ConvLSTMBaseline

    torch.set_num_threads(1)
    info = distributed.setup()
    assert info.distributed and info.world_size == 2 and info.device.type == "cpu"
    rank = info.rank
    try:
        model, seen = train_toy(out / "toy")
        torch.save(model.state_dict(), out / f"toy_rank{rank}.pt")
        torch.save(seen, out / f"toy_seen{rank}.pt")
        for sync in (True, False):
            bn_model = train_toy_bn(out / f"toy_bn_sync{sync}", sync_batchnorm=sync)
            torch.save(bn_model.state_dict(), out / f"toy_bn_sync{sync}_rank{rank}.pt")

        ds = MovingShapes(root=out / "unused", size=32)  # protocols only
        spec = DataSpec(ds.name, 3, (32, 32), ds.protocols)
        data = TrainData(np.load(out / "videos.npy"), {t: p.train for t, p in ds.protocols.items()})
        method = ConvLSTMBaseline.from_profile("smoke", spec, {"train.steps": 3, "train.batch_size": 4,
                                                               "train.checkpoint_every": 3})
        method.fit(data, out / "conv_lstm", seed=0, progress=False)
        torch.save(method.state_dict(), out / f"conv_lstm_rank{rank}.pt")

        method = AutoencoderGMM.from_profile("smoke", spec, {"train.steps": 2, "train.batch_size": 4})
        method.fit_stages(data, out / "vgan_ae_gmm", seed=0, progress=False)  # GMM stage: fitted on rank 0, broadcast
        torch.save(method.state_dict(), out / f"vgan_ae_gmm_rank{rank}.pt")
    finally:
        distributed.teardown()


def _flatten(state: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in state.items():
        out.update(_flatten(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_two_gloo_ranks_match_each_other_and_one_process(tmp_path):
    from benchmark.data.moving_shapes import MovingShapes
    from benchmark.training import load_checkpoint

    videos = MovingShapes(root=tmp_path / "data", size=32, split_sizes={"train": 8, "val": 2, "test": 2})
    np.save(tmp_path / "videos.npy", np.asarray(videos.load_split("train").videos))
    torchrun_two_ranks(str(Path(__file__).resolve()), str(tmp_path), timeout=120)

    # both ranks identical (bitwise): toy model, conv_lstm (BatchNorm buffers too), AE + its GMM
    states = {}
    for name in ("toy", "conv_lstm", "vgan_ae_gmm"):
        r0, r1 = (torch.load(tmp_path / f"{name}_rank{r}.pt", weights_only=True) for r in (0, 1))
        states[name] = r0 = _flatten(r0)
        r1 = _flatten(r1)
        assert r0.keys() == r1.keys()
        for k in r0:
            assert torch.equal(r0[k], r1[k]) if isinstance(r0[k], torch.Tensor) else r0[k] == r1[k], (name, k)
    assert "gmm/means" in states["vgan_ae_gmm"]

    # 2 ranks x B/2 == 1 process x B (same clips; float sums in another order, so allclose)
    torch.manual_seed(0)
    init = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3)).state_dict()
    single_model, single_seen = train_toy(tmp_path / "single")
    single = single_model.state_dict()
    seen0, seen1 = (torch.load(tmp_path / f"toy_seen{r}.pt") for r in (0, 1))
    for step in range(STEPS):  # each rank trained on its own half of the step's global batch
        assert len(seen0[step]) == len(seen1[step]) == BATCH // 2
        assert seen0[step] + seen1[step] == single_seen[step]
    for k, v in single.items():
        assert not torch.allclose(v, init[k]), k  # training moved the weights...
        assert torch.allclose(v, states["toy"][k], rtol=1e-5, atol=1e-6), k  # ...the same way

    # BatchNorm: synchronised over ranks == 1 process with the global batch; per-rank statistics differ
    single_bn = train_toy_bn(tmp_path / "single_bn").state_dict()
    synced, unsynced = (torch.load(tmp_path / f"toy_bn_sync{s}_rank0.pt", weights_only=True) for s in (True, False))
    for k, v in single_bn.items():
        if v.is_floating_point():
            assert torch.allclose(v, synced[k], rtol=1e-4, atol=1e-5), k
        else:
            assert torch.equal(v, synced[k]), k
    assert not all(torch.allclose(v, unsynced[k], rtol=1e-4, atol=1e-5)
                   for k, v in single_bn.items() if v.is_floating_point())
    for sync in (True, False):  # both ways, the two ranks agree bitwise
        other = torch.load(tmp_path / f"toy_bn_sync{sync}_rank1.pt", weights_only=True)
        mine = synced if sync else unsynced
        assert all(torch.equal(mine[k], other[k]) for k in mine)

    # rank 0 alone wrote checkpoint and log; the checkpoint knows both ranks' RNG states
    lines = (tmp_path / "toy" / "train_log.jsonl").read_text().splitlines()
    assert len(lines) == STEPS
    state = load_checkpoint(tmp_path / "toy" / "checkpoint.pt")
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["step"] == STEPS


if __name__ == "__main__":
    worker(Path(sys.argv[1]))


def test_a_batch_that_cannot_be_split_over_ranks_says_to_run_one_job_per_gpu(monkeypatch, tmp_path):
    """NAVSLP's paper batch is 1: under 2 ranks the loop refuses before training, naming the way out."""
    import numpy as np

    from benchmark.methods import TrainData
    from benchmark.training import distributed as D
    from benchmark.training.loop import Phase, TrainConfig, TrainParts, train

    monkeypatch.setattr(D, "get_world_size", lambda: 2)
    model = torch.nn.Linear(1, 1)
    parts = TrainParts("m", {"m": model}, [Phase("p", torch.optim.SGD(model.parameters(), lr=0.1),
                                                 lambda b: model.weight.sum())])
    data = TrainData(np.zeros((2, 3, 1, 4, 4), np.uint8), {}, "x")
    with pytest.raises(ValueError, match="not divisible by 2 ranks.*one job per GPU"):
        train(parts, data, TrainConfig(steps=1, batch_size=1), tmp_path, seed=0, clip_frames=2)
