"""`benchmark run --jobs N`: methods run in N worker processes (cpu_count // N threads each) and give
the same results as one after another; a failure stays with its method."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest

from benchmark.methods import Method
from benchmark.run import _finish_if_cached, run_benchmark, run_one, submission_order, threads_per_job
from benchmark.stages.spec import RunSpec
from benchmark.utils import read_json
from tests.conftest import tiny_options

NAMES = ("copy_last", "static_frame", "mean_context")


def _results(out: Path) -> dict[str, dict]:
    """method -> task -> metric values of a run folder."""
    runs = out / "runs" / "moving-shapes"
    return {name: {task: entry["metrics"] for task, entry in
                   read_json(runs / name / "smoke" / "seed0" / "results.json")["tasks"].items()}
            for name in NAMES}


def test_two_jobs_give_the_results_of_one_and_record_their_threads(tiny_data_root, tmp_path, monkeypatch):
    kw = dict(data_root=tiny_data_root, dataset_options=tiny_options(), metrics=["psnr", "ssim"],
              progress=False, report=False)
    assert run_benchmark(",".join(NAMES), "moving-shapes", out=tmp_path / "seq", jobs=1, **kw) == 0
    assert run_benchmark(",".join(NAMES), "moving-shapes", out=tmp_path / "par", jobs=2, **kw) == 0
    seq, par = _results(tmp_path / "seq"), _results(tmp_path / "par")
    assert seq == par and all(seq[n] for n in NAMES)
    assert seq["copy_last"]["prediction"]["ssim_best"]["value"] > 0
    manifest = read_json(tmp_path / "par" / "runs" / "moving-shapes" / "copy_last" / "smoke" / "seed0" /
                         "manifest.json")
    assert manifest["hardware"]["torch_threads"] == threads_per_job(2)

    # A fully cached rerun finishes in this process: no worker is started, nothing is rewritten.
    def no_pool(*a, **k):
        raise AssertionError("a worker pool was started although every run is cached")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    results = tmp_path / "par" / "runs" / "moving-shapes" / "copy_last" / "smoke" / "seed0" / "results.json"
    before = results.stat().st_mtime_ns
    assert run_benchmark(",".join(NAMES), "moving-shapes", out=tmp_path / "par", jobs=2, **kw) == 0
    assert _results(tmp_path / "par") == par and results.stat().st_mtime_ns == before


def test_a_run_with_a_stage_to_compute_is_left_to_the_workers_untouched(tiny_data_root, tmp_path):
    """``_finish_if_cached`` gives up before computing or writing anything when a stage is stale."""
    from rich.console import Console

    spec = RunSpec(method="copy_last", dataset="moving-shapes", out=tmp_path, data_root=tiny_data_root,
                   dataset_options=tiny_options(), metrics=["psnr"], progress=False)
    console = Console(file=open(tmp_path / "log.txt", "w"))
    assert _finish_if_cached(spec, True, console) is None  # never run: not even tried
    assert run_one(spec, True, console)[0] == "done"
    assert _finish_if_cached(spec, True, console) == ("done", str(spec.run_dir / "results.json"))
    scores = spec.run_dir / "scores" / "stage-prediction.json"
    assert scores.exists()
    scores.unlink()  # the evaluate stage is no longer cached
    written = {p: p.stat().st_mtime_ns for p in spec.run_dir.rglob("*") if p.is_file()}
    assert _finish_if_cached(spec, True, console) is None
    assert {p: p.stat().st_mtime_ns for p in spec.run_dir.rglob("*") if p.is_file()} == written


def test_trained_runs_go_to_the_workers_first(tmp_path):
    """Short untrained runs fill the pool's tail instead of leaving a long training to run alone."""
    names = ["copy_last", "conv_lstm", "uniform_grey", "vgan", "background_fill", "sv2p"]
    specs = [RunSpec(method=n, dataset="moving-shapes", out=tmp_path) for n in names]
    order = submission_order(specs, [0, 1, 2, 3, 4, 5])
    assert [names[i] for i in order] == ["conv_lstm", "vgan", "sv2p", "copy_last", "uniform_grey", "background_fill"]
    assert submission_order(specs, [4, 5, 0]) == [5, 4, 0]  # only the runs to do, the given order kept


def test_threads_are_shared_out_and_never_zero(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [threads_per_job(j) for j in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert threads_per_job(4) == 1


class _Broken(Method):
    tasks = ("prediction",)
    trainable = False
    paper = "test"
    profiles = {"smoke": lambda spec: None, "cpu": lambda spec: None, "paper": lambda spec: None}

    def predict(self, cond, *, seed):
        raise RuntimeError("planted failure")


def test_a_failing_method_is_reported_not_raised(tiny_data_root, tmp_path, register_method):
    from rich.console import Console

    register_method("broken_for_jobs", _Broken)
    spec = RunSpec(method="broken_for_jobs", dataset="moving-shapes", out=tmp_path, data_root=tiny_data_root,
                   dataset_options=tiny_options(), metrics=["psnr"], progress=False)
    status, message = run_one(spec, True, Console(file=open(tmp_path / "log.txt", "w")))
    assert status == "failed" and "planted failure" in message


def test_jobs_must_be_positive():
    from benchmark.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--dataset", "moving-shapes", "--jobs", "0"])


def test_manifest_records_the_cpu_kernel_set_torch_dispatches_to():
    """The SIMD kernel set (AVX2, AVX512, ...) is part of the recorded hardware: a chaotic training
    ends elsewhere under another one. ``ATEN_CPU_CAPABILITY`` caps it, so a capped process records
    the cap, not the machine's best."""
    import os
    import subprocess
    import sys

    code = "from benchmark.manifest import hardware; print(hardware()['cpu_capability'])"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "DEFAULT"
