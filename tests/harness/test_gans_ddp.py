"""DDP: ``vgan`` (two phases, BatchNorm in G and D), ``vgan_future``, ``tgan`` (with singular value
clipping), ``mocogan`` (three phases, action-conditional) and ``navslp`` (two stages, latent
dictionaries with the unit-ball projection) trained by 2 gloo processes under ``torchrun`` end with
bitwise identical weights on both ranks; MoCoGAN's image batch is global (each rank draws half of
``image_batch`` frames). The ``__main__`` block is the worker (~12 s, mostly process
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

    import methods.mocogan.method as mocogan_method

    D.setup()
    rank = D.get_rank()
    image_counts: list[int] = []  # frames per image-discriminator batch on this rank
    pick = mocogan_method._pick_frames
    mocogan_method._pick_frames = lambda videos, count, gen: (image_counts.append(count), pick(videos, count, gen))[1]
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
        if name == "mocogan":
            torch.save({"image_counts": image_counts, "image_batch": method.config.image_batch},
                       out / f"mocogan_images_rank{rank}.pt")
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
    for rank in (0, 1):  # the image batch is global: image_batch / 2 frames per rank, real and fake
        rec = torch.load(tmp_path / f"mocogan_images_rank{rank}.pt")
        assert rec["image_counts"] and set(rec["image_counts"]) == {rec["image_batch"] // 2}, rec


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
