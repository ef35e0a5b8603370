"""DDP: ``vgan`` (two phases, BatchNorm in G and D), ``vgan_future``, ``tgan`` (with singular value
clipping), ``mocogan`` (three phases, action-conditional) and ``navslp`` (two stages, latent
dictionaries with the unit-ball projection) trained by 2 gloo processes under ``torchrun`` end with
bitwise identical weights on both ranks. The ``__main__`` block is the worker (~12 s, mostly process
start-up)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from tests.distributed import torchrun_two_ranks

NAMES = ("vgan", "vgan_future", "tgan", "mocogan", "navslp")


def _worker(out: Path) -> None:
    from benchmark.data.moving_shapes import MovingShapes
    from benchmark.methods import DataSpec, TrainData
    from benchmark.registry import METHODS
    from benchmark.training import distributed as D

    D.setup()
    rank = D.get_rank()
    ds = MovingShapes(root=out / "data", size=32, split_sizes={"train": 8, "val": 2, "test": 2})
    spec = DataSpec(ds.name, 3, (32, 32), ds.protocols, labels={"identity": 4, "action": 4})
    videos = np.load(out / "videos.npy")
    labels = ds.clip_labels(ds.load_split("train"))
    data = TrainData(videos, {t: p.train for t, p in ds.protocols.items()}, "x", labels=labels)
    for name in NAMES:
        over = {"train.steps": 3, "train.batch_size": 4, "train.checkpoint_every": 3, "train.log_every": 1}
        if name == "tgan":
            over["svc_every"] = 2
        method = METHODS.get(name).from_profile("smoke", spec, over)
        method.fit(data, out / name, seed=0, progress=False)
        torch.save(method.state_dict(), out / f"{name}_rank{rank}.pt")
    D.teardown()


def test_gans_identical_on_two_gloo_ranks(tmp_path):
    from benchmark.data.moving_shapes import MovingShapes

    ds = MovingShapes(root=tmp_path / "data", size=32, split_sizes={"train": 8, "val": 2, "test": 2})
    np.save(tmp_path / "videos.npy", np.asarray(ds.load_split("train").videos))
    torchrun_two_ranks(str(Path(__file__).resolve()), str(tmp_path))
    for name in NAMES:
        r0, r1 = (torch.load(tmp_path / f"{name}_rank{r}.pt", weights_only=True) for r in (0, 1))
        for mod in r0:
            for k in r0[mod]:
                assert torch.equal(r0[mod][k], r1[mod][k]), (name, mod, k)
        assert (tmp_path / name / "checkpoint.pt").exists()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
