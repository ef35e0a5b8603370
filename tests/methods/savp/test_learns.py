"""Slow: SAVP, its ablations and SV2P learn on moving-shapes with their ``cpu`` profile (the main job's).

Each trains from scratch on the embedded data (512 training videos, 64x64), then predicts the test
protocol (5 -> 15, the dataset's k samples) for 64 test clips: the best-of-k SSIM must beat ``copy_last`` on the
same clips, and the stochastic methods' samples must differ (the SAVP paper's diversity, here the
mean pairwise pixel distance ``diversity_l1``, > 0). Figures measured are printed (``-s``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from benchmark.data.moving_shapes import MovingShapes
from benchmark.methods import TrainData
from benchmark.metrics.diversity import PixelDiversity
from benchmark.metrics.ssim import StructuralSimilarity
from benchmark.pipeline import data_spec
from benchmark.registry import METHODS

NAMES = ("savp", "savp_vae", "savp_gan", "savp_det", "sv2p")
TEST_CLIPS = 64


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    ds = MovingShapes(root=tmp_path_factory.mktemp("shapes"))
    ds.prepare()
    train = ds.load_split("train")
    p = ds.protocol("prediction", "test")
    clips = torch.from_numpy(np.asarray(ds.clips(p).videos[:TEST_CLIPS])).float() / 255
    return ds, train, p, clips


def _ssim_best(samples, target) -> float:
    m = StructuralSimilarity()
    for i in range(0, len(samples), 8):  # streamed: the (64, 10, 15, 3, 64, 64) maps at once take GBs
        m.update(samples[i:i + 8], target[i:i + 8])
    return m.compute()["ssim_best"].value


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cpu_profile_learns_and_beats_copy_last(name, shapes, tmp_path):
    ds, train, p, clips = shapes
    cls = METHODS.get(name)
    method = cls.from_profile("cpu", data_spec(ds, cls.tasks))
    data = TrainData(videos=train.videos, protocols={"prediction": ds.protocol("prediction", "train")},
                     content_hash=train.content_hash)
    t0, c0 = time.perf_counter(), time.process_time()
    method.fit(data, tmp_path, seed=0, progress=False)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    context, future = clips[:, :p.context_frames], clips[:, p.context_frames:]
    samples = method.predict_frames(context, p.future_frames, p.samples_per_context, None, seed=0)
    ours = _ssim_best(samples, future)
    copy_last = _ssim_best(context[:, -1:].expand_as(future)[:, None].contiguous(), future)
    div = PixelDiversity()
    for i in range(0, len(samples), 8):
        div.update(samples[i:i + 8], future[i:i + 8])
    diversity = div.compute()["diversity_l1"].value
    print(f"\n{name}: ssim_best {ours:.4f} vs copy_last {copy_last:.4f}; diversity_l1 {diversity:.4f}; "
          f"fit {fit_s:.0f} s wall, {fit_cpu:.0f} s CPU")
    assert ours > copy_last
    if cls.stochastic:
        assert samples.shape[1] == p.samples_per_context and diversity > 0
    else:
        assert diversity == 0
