"""Shared check of the SVG-family "learns" tests: a method's ``cpu`` profile, run through the
ordinary pipeline on moving-shapes, beats ``copy_last`` on best-of-k SSIM (the mean over time of
the best of k samples per test sequence, SVG's convention)."""

from __future__ import annotations

from pathlib import Path

from benchmark.paths import RESULTS, run_dir
from benchmark.run import run_benchmark
from benchmark.utils import read_json


def ssim_of(out: Path, method: str, profile: str) -> float:
    res = read_json(run_dir(out, "moving-shapes", method, profile, 0) / RESULTS)
    return float(res["tasks"]["prediction"]["metrics"]["ssim_best"]["value"])   # best of k by the mean over time


def assert_beats_copy_last(method: str, out: Path, *, two_ended: bool = False, margin: float = 0.0) -> None:
    """Train ``method`` (cpu profile) and run ``copy_last`` on the same protocol; compare SSIM."""
    options = {"two_ended": True} if two_ended else {}
    for name, profile in ((method, "cpu"), ("copy_last", "smoke")):   # copy_last has no config: any profile
        code = run_benchmark(name, "moving-shapes", profile=profile, out=out, data_root=out / "data", progress=False,
                             report=False, dataset_options=options, metrics=["ssim"])
        assert code == 0, f"{name} failed"
    ours, baseline = ssim_of(out, method, "cpu"), ssim_of(out, "copy_last", "smoke")
    assert ours > baseline + margin, f"{method}: best-of-k SSIM {ours:.4f} does not beat copy_last's {baseline:.4f}"
