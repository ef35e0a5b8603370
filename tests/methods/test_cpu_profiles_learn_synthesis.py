"""Slow: the VGAN-family and other generation methods' ``cpu`` profiles (the main job's) learn on the
embedded moving-shapes.

Issue 12's acceptance for "learns" of a synthesis method: after the ordinary pipeline
(``run_method``: train -> sample -> evaluate) the evaluator Fréchet distance ``fvd_shapes`` of the
method's samples is lower than

* the same networks at initialisation (built from the same profile, same seed, never trained), and
* a uniform-grey video set (every pixel 0.5),

all three scored the same way (``benchmark.evaluate.evaluate`` against the 128 test clips, with the
pinned evaluator). The three numbers are in the assertion message and printed (``-s``).

Methods whose samples need something learned besides weights have their untrained reference drawn
from the networks at initialisation the way their generator is fed: NAVSLP's generator and RNN with
random unit-ball latents (its ``sampling="random"`` path; the latent dictionary only exists after
fitting), the AE + GMM baseline's decoder with standard-normal codes (the GMM only exists after
fitting).

``vgan_future`` (VGAN's image-conditioned generator) is a prediction method: the same check runs on
its prediction protocol (5 context -> 15 predicted frames, scored as the harness does: context +
prediction), the grey reference being grey predictions after the real context.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from benchmark import video as V
from benchmark.evaluate import evaluate
from benchmark.pipeline import RunSpec, build_method, open_dataset, run_method
from benchmark.stages.sample import generate_samples, reference_inputs
from benchmark.utils import read_json

SYNTHESIS = ("vgan", "vgan_one_stream", "tgan", "mocogan", "navslp", "vgan_ae_gmm")
PREDICTION = ("vgan_future",)
SEED = 0


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The data root and the prepared dataset."""
    root = tmp_path_factory.mktemp("shapes")
    return root, open_dataset(RunSpec(method="vgan", dataset="moving-shapes", data_root=root))


def _fvd(task: str, samples: np.ndarray, k: int, ref, context_frames: int) -> float:
    values, _ = evaluate(task, samples, k, ref.videos, ["fvd_shapes"], context_frames=context_frames)
    return float(values["fvd_shapes"]["value"])


def _grey(task: str, protocol, ref) -> np.ndarray:
    """uint8 grey videos in the task's sample format (prediction: real context + grey future)."""
    videos = np.array(ref.videos[:, :protocol.num_frames])
    videos[:, protocol.context_frames:] = V.to_uint8(torch.tensor(0.5)).item()
    return videos


def _untrained_samples(method, task: str, protocol, ref, inputs) -> np.ndarray:
    """uint8 samples of ``method``'s networks at initialisation (the harness's sample format)."""
    n, t = len(ref), protocol.num_frames
    g = torch.Generator().manual_seed(SEED)
    if method.name == "navslp":
        from methods.navslp.model import project_unit_ball_

        zs = project_unit_ball_(torch.randn(n, method.config.dim_static, generator=g))
        zt = project_unit_ball_(torch.randn(n, t, method.config.dim_transient, generator=g))
        return V.to_uint8(method.generate_from_latents(zs, zt)).numpy()
    if method.name == "vgan_ae_gmm":
        codes = torch.randn(n, method.config.code_dim, generator=g, dtype=torch.float64)
        return V.to_uint8(method.decode(codes)[:, :t]).numpy()
    return generate_samples(method, task, protocol, ref, seed=SEED, progress=False, inputs=inputs)


@pytest.mark.slow
@pytest.mark.parametrize("name,task", [(n, "synthesis") for n in SYNTHESIS] + [(n, "prediction") for n in PREDICTION])
def test_cpu_profile_beats_its_initialisation_and_grey(name, task, shapes, tmp_path):
    root, ds = shapes
    protocol, ref = ds.reference(task)
    spec = RunSpec(method=name, dataset="moving-shapes", profile="cpu", seed=SEED, out=tmp_path, data_root=root,
                   metrics=["fvd_shapes"], progress=False, resume=False)
    t0, c0 = time.perf_counter(), time.process_time()
    results = run_method(spec)   # the run's results.json
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    entry = read_json(results)["tasks"][task]
    trained = float(entry["metrics"]["fvd_shapes"]["value"])
    k, c = entry["protocol"]["samples_per_context_used"], protocol.context_frames
    untrained = _fvd(task, _untrained_samples(build_method(spec, ds), task, protocol, ref,
                                              reference_inputs(ds, protocol, ref)), k, ref, c)
    grey = _fvd(task, _grey(task, protocol, ref), 1, ref, c)
    msg = (f"{name} cpu profile ({task}): fvd_shapes trained {trained:.1f}, untrained {untrained:.1f}, "
           f"uniform grey {grey:.1f} (run {wall:.0f} s wall, {cpu:.0f} s CPU)")
    print("\n" + msg)
    assert trained < untrained and trained < grey, msg
