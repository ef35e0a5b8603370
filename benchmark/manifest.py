"""Reproducibility manifests: build, validate, verify.

One ``manifest.json`` sits beside every result set. It records the code version (git commit +
dirty flag), the command line, the resolved config, seeds, the dataset (name, version, split,
content hash), feature networks (name + sha256; none for offline metrics), every metric's
protocol, package versions, hardware, wall times and the sha256 of every artifact.
``benchmark manifest verify PATH`` re-hashes the artifacts and recomputes the metrics from the
saved samples (see :func:`benchmark.pipeline.verify_run`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmark.utils import repo_root, sha256_file

SCHEMA = "vidbench.manifest/1"
REQUIRED_KEYS = ("schema", "code", "command", "config", "seeds", "dataset", "feature_nets",
                 "metric_protocols", "environment", "hardware", "timings", "artifacts")
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-image", "scikit-learn", "torchmetrics",
            "av", "pillow", "pandas", "jinja2", "dvc")


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """Git commit of the checkout and whether the working tree differs from it."""
    root = repo_root()

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    from benchmark import __version__

    return {"commit": commit, "dirty": bool(status) if status is not None else None,
            "vidbench_version": __version__}


def environment() -> dict[str, Any]:
    """Python, platform and the versions of :data:`PACKAGES` (looked up once per process)."""
    import copy

    return copy.deepcopy(_environment())


@functools.lru_cache(maxsize=1)
def _environment() -> dict[str, Any]:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            versions[p] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


def hardware() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # cpu_capability: the SIMD kernel set torch dispatches to (e.g. AVX2, AVX512; ATEN_CPU_CAPABILITY
    # caps it). Float results differ in the last bits between kernel sets and thread counts, and a
    # chaotic training (a GAN's) ends elsewhere from them: same code and seed, other numbers.
    info: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count(),
                            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                            "torch_threads": torch.get_num_threads(),
                            "cuda": torch.version.cuda, "gpus": []}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def artifact_hashes(run_dir: Path, relpaths: list[str]) -> dict[str, str]:
    """sha256 of each artifact (paths relative to ``run_dir``)."""
    return {p: sha256_file(run_dir / p) for p in sorted(set(relpaths)) if (run_dir / p).is_file()}


def build_manifest(*, run_dir: Path, config: dict[str, Any], seeds: list[int], dataset: dict[str, Any],
                   metric_protocols: dict[str, Any], timings: dict[str, float], artifacts: list[str],
                   feature_nets: list[dict[str, Any]] | None = None, command: list[str] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble a manifest dict (see module docstring); ``artifacts`` are paths relative to run_dir."""
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "code": code_version(),
        "command": command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]],
        "config": config,
        "seeds": seeds,
        "dataset": dataset,
        "feature_nets": feature_nets or [],
        "metric_protocols": metric_protocols,
        "environment": environment(),
        "hardware": hardware(),
        "timings": timings,
        "artifacts": artifact_hashes(run_dir, artifacts),
        **(extra or {}),
    }


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Problems with a manifest's structure (empty list when valid)."""
    problems = [f"missing key {k!r}" for k in REQUIRED_KEYS if k not in manifest]
    if manifest.get("schema") not in (None, SCHEMA) and "schema" in manifest:
        problems.append(f"unknown schema {manifest['schema']!r} (expected {SCHEMA})")
    return problems


def check_artifacts(run_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Artifacts whose current sha256 differs from the manifest (or that are missing)."""
    problems = []
    for rel, expected in manifest.get("artifacts", {}).items():
        path = run_dir / rel
        if not path.is_file():
            problems.append(f"artifact {rel}: missing")
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(f"artifact {rel}: sha256 {actual[:12]}… != manifest {expected[:12]}…")
    return problems
