"""Slow: every trained prediction method's ``cpu`` profile (the main job's) learns on moving-shapes.

Each method trains, samples and is scored through the ordinary pipeline (``run_benchmark``, the code
path of ``benchmark run --profile cpu``) and must beat ``copy_last`` on best-of-k SSIM (``ssim_best``:
per test clip the best of the k samples by its mean SSIM over the predicted frames, averaged over
clips) on the same protocol: moving-shapes' 5 -> 15, or its two-ended variant for methods that need
the end frame (P2P), where copy_last repeats the start frame. And its objects must move on: the shipped
evaluator's agreement on motion with the true future (``factors_shapes_motion``) at least
``MOTION_MARGIN`` above copy_last's, whose objects stand still. Run one method with
``pytest -m slow -k <name> -s`` (the figures are printed).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from benchmark.paths import RESULTS, run_dir
from benchmark.registry import METHODS
from benchmark.run import run_benchmark
from benchmark.stages.spec import method_dataset_options
from benchmark.utils import read_json

DATASET = "moving-shapes"

# Methods whose cpu profile does not beat copy_last within the main job's budget: name -> the measured
# figures (ssim_best, 128 test clips; copy_last 0.7617 on 5 -> 15). Non-strict: a param that starts to
# pass shows as XPASS; then delete its entry. Models that warp or move the previous frame's pixels
# (SAVP, SV2P, DDPAE) win; the ones that redraw each frame with a narrow decoder lose already on
# the first predicted frame (conv_lstm 0.83 vs 0.88 by frame with MSE and no mask). The SVG family's
# cpu profiles (svg_lp, svg_fp, p2p, drnet, conv_lstm) pass with a copy mask over the skip frame and
# an L1 loss (their READMEs' cpu-profile deviations; drnet's mask starts saturated, 0.7916 / 0.8018 on
# seeds 0 / 1); encodedec's with a decoder that writes a coarse flow (2x2 blocks at 32x32) warping the
# last context frame plus horizon x a velocity read from the last two context frames (0.8315 / 0.8298;
# objects move, shrink less); vrnn_hier's with a copy mask
# over the last context frame (not its own previous prediction: that compounds on seed 1) warped by
# horizon x a learned velocity field, objects drifting along their paths and fading (0.7973 / 0.7860;
# 0.7862 / 0.7949 with the objects kept in place before the velocity field); videoflow's with a mean fitted by squared error on the
# frozen flow and each predicted pixel snapped to a colour of the previous frame's 3x3 neighbourhood
# (0.8067 / 0.7872; objects move and erode); video_vqvae's with a VQ-VAE decoder that warps the last
# conditioning frame by a flow decoded from the codes (0.8118 / 0.7991; objects kept, distorting with
# the horizon; the paper's decoder erased them); vgan_future's with the input frame as its background
# stream and L1 on every frame, which made it a faded copy of its one input frame (0.768: copy_last through
# its 64 -> 32 -> 64 resize alone scores 0.7703; methods/vgan/README.md "Deviations"). Since 2026-12-02 the
# cpu profiles of svg_lp/svg_fp, savp (all variants), sv2p, drnet, video_vqvae and vgan_future (whose
# background stream is then its input frame moved: 0.820 / 0.815 on seeds 0 / 1, motion 0.332 / 0.242) also
# move what they copy or warp along a velocity field (videoflow: the latent its prior's mean skips to; since
# session 22 the last context frame carried h steps when sampling, 0.8097 / 0.8150, motion 0.344 / 0.363)
# whose net trains alone first (methods/common/velocity_warmup.py): ssim_best 0.806-0.828. CPU-s: the whole
# `benchmark run --profile cpu --metrics ssim`, single-threaded on the shared 2-core machine (load ~5).
KNOWN_SHORT: dict[str, str] = {}

#: how far above copy_last's (objects that stand still: 0.164 on 5 -> 15) a method's motion agreement must be
MOTION_MARGIN = 0.1
# Methods whose cpu profile's objects do not move on clearly (motion agreement less than MOTION_MARGIN above
# copy_last's): name -> why.
# Non-strict, as KNOWN_SHORT.
KNOWN_STILL: dict[str, str] = {
    "p2p": "two-ended: its objects move, but only part of the way (motion 0.234 vs copy_last@two_ended 0.172 on "
           "seed 0): one straight path from start to end position misses bounces (methods/p2p/README.md)",
    # machine-dependent: the same code and seed moved sv2p's and savp's objects on an Intel Xeon (0.332, 0.320
    # with the evaluator pinned until 2026-12-02) and on an AMD EPYC with AVX-512 (0.293, 0.305), not on one with
    # AVX2 (0.219, 0.238 with that evaluator); README.md
    "sv2p": "on an AMD EPYC (AVX2) its objects hardly move on (motion 0.203 vs copy_last 0.164, seed 0; 0.332 on an "
            "Intel Xeon): a cpu-profile training that ends elsewhere with the CPU's kernels",
    "savp": "on an AMD EPYC (AVX2) its objects move on less (motion 0.250 vs copy_last 0.164, seed 0; 0.320 on an "
            "Intel Xeon): a cpu-profile training that ends elsewhere with the CPU's kernels",
}


def _trained_prediction_methods() -> list[str]:
    return [n for n in METHODS.resolve("all")
            if "prediction" in METHODS.get(n).tasks and METHODS.get(n).trainable]


def _params(known: dict[str, str]) -> list:
    out = []
    for name in _trained_prediction_methods():
        marks = []
        if "cpu" not in METHODS.get(name).profiles:
            marks.append(pytest.mark.xfail(reason=f"{name} has no cpu profile yet", strict=True))
        elif name in known:
            marks.append(pytest.mark.xfail(reason=known[name], strict=False))
        out.append(pytest.param(name, marks=marks))
    return out


def _metric(out: Path, method: str, profile: str, metric: str = "ssim_best") -> float:
    res = read_json(run_dir(out, DATASET, method, profile, 0) / RESULTS)
    return float(res["tasks"]["prediction"]["metrics"][metric]["value"])


def _run(name: str, profile: str, out: Path, options: dict) -> None:
    """One run as the main job's worker makes it (``benchmark run --jobs 2``: one torch thread), so
    the printed CPU seconds are the main job's per-method cost."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = run_benchmark(name, DATASET, profile=profile, out=out, data_root=out / "data", progress=False,
                             report=False, dataset_options=options, metrics=["ssim", "factors_shapes"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0, f"{name} ({profile} profile) failed on {DATASET} {options or ''}"


def _options_for(name: str) -> dict:
    """The dataset options the method's run uses (P2P's ``two_ended``), so copy_last runs on the same."""
    return method_dataset_options(name, DATASET)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cpu_learns")


@pytest.fixture(scope="module")
def copy_last(workdir):
    """The run folder of copy_last per dataset-option set, made once (it has no training)."""
    cache: dict[bool, Path] = {}

    def get(options: dict) -> Path:
        key = bool(options)
        if key not in cache:
            out = workdir / ("copy_last_two_ended" if key else "copy_last")
            _run("copy_last", "cpu", out, options)
            cache[key] = out
        return cache[key]

    return get


@pytest.fixture(scope="module")
def trained(workdir):
    """The run folder of a method's cpu profile, trained, sampled and scored once for both tests."""
    def get(name: str) -> Path:
        out = workdir / name
        if not (run_dir(out, DATASET, name, "cpu", 0) / RESULTS).is_file():
            t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            _run(name, "cpu", out, _options_for(name))
            c1 = resource.getrusage(resource.RUSAGE_SELF)
            wall, cpu = time.perf_counter() - t0, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
            print(f"\n{name}: train+sample+score {wall:.0f} s wall, {cpu:.0f} s CPU")
        return out

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", _params(KNOWN_SHORT))
def test_cpu_profile_beats_copy_last(name, trained, copy_last):
    options = _options_for(name)
    baseline = _metric(copy_last(options), "copy_last", "cpu")
    ours = _metric(trained(name), name, "cpu")
    protocol = "two-ended " if options else ""
    print(f"\n{name}: ssim_best {ours:.4f} vs copy_last {baseline:.4f} ({protocol}{DATASET})")
    assert ours > baseline, (f"{name} cpu profile: best-of-k SSIM {ours:.4f} does not beat copy_last's "
                             f"{baseline:.4f} on {protocol}{DATASET}")


@pytest.mark.slow
@pytest.mark.parametrize("name", _params(KNOWN_STILL))
def test_cpu_profile_moves_its_objects(name, trained, copy_last):
    """The samples continue the objects' motion: motion agreement clearly above copy_last's still objects."""
    options = _options_for(name)
    metric = "factors_shapes_motion"
    baseline = _metric(copy_last(options), "copy_last", "cpu", metric)
    ours = _metric(trained(name), name, "cpu", metric)
    print(f"\n{name}: {metric} {ours:.3f} vs copy_last {baseline:.3f}")
    assert ours > baseline + MOTION_MARGIN, (
        f"{name} cpu profile: motion agreement {ours:.3f} is not {MOTION_MARGIN} above copy_last's {baseline:.3f} "
        f"(its objects do not move on)")
