"""Helpers shared by the tests of vrnn_hier, ddpae and encodedec: data specs of the real datasets
(no files needed), moving-shapes training data, a ``Conditioning`` and best-of-k SSIM."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.methods import Conditioning, DataSpec, TrainData
from benchmark.pipeline import data_spec
from benchmark.registry import DATASETS


def spec_of(name: str, **options) -> DataSpec:
    """The prediction ``DataSpec`` of a registered dataset (its protocols need no files)."""
    ds = DATASETS.build(name, root="/nonexistent", **options)
    return data_spec(ds, ("prediction",))


def shapes_train(dataset) -> tuple[DataSpec, TrainData]:
    """``(spec, TrainData)`` of a moving-shapes dataset's prediction task."""
    spec = data_spec(dataset, ("prediction",))
    train = dataset.load_split("train")
    data = TrainData(np.asarray(train.videos), {"prediction": dataset.protocol("prediction", "train")},
                     train.content_hash)
    return spec, data


def cond(context: torch.Tensor, num_frames: int, num_samples: int = 1, target_times=None):
    """A prediction ``Conditioning``."""
    return Conditioning(batch_size=context.shape[0], num_frames=num_frames, num_samples=num_samples,
                        context=context, target_times=target_times)


def prediction_clips(dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(context, future)`` float clips of the test protocol, first ``n`` test videos."""
    p = dataset.protocol("prediction", "test")
    v = torch.from_numpy(np.asarray(dataset.clips(p).videos[:n]).copy()).float() / 255
    return v[:, :p.context_frames], v[:, p.context_frames:p.num_frames]


def best_of_k_ssim(pred: torch.Tensor, future: torch.Tensor) -> float:
    """Mean over sequences of the best-of-k time-averaged SSIM; ``pred`` ``(B, k, p, C, H, W)``."""
    from benchmark.metrics.functional.ssim import ssim_frames
    from benchmark.metrics.functional.stochastic import reduce_samples

    # the target broadcast over the k samples: its filtered maps are computed once, and no float64 copy of
    # all the samples is made (ssim_frames casts chunk by chunk)
    scores = ssim_frames(pred, future[:, None])  # (B, k, p)
    return float(reduce_samples(scores).best.mean())


def run_recipe_smoke(name: str, tmp_path) -> dict:
    """Run recipe ``name`` with the smoke profile on a tiny moving-shapes; its page's JSON record."""
    import json

    from benchmark.reproduce import run_recipe
    from tests.conftest import TINY_SPLITS

    page = run_recipe(name, profile="smoke", out=tmp_path, data_root=tmp_path / "data", progress=False,
                      overrides={"train.steps": "2", "train.batch_size": "2"},
                      dataset_options={"split_sizes": TINY_SPLITS, "size": 32})
    assert page.exists() and "paper-reported" in page.read_text()
    record = json.loads(page.with_suffix(".json").read_text())
    assert not record["failed"], record["failed"]
    return record
