"""The seed axis through DVC's experiment queue: two experiments (seeds [0] and [1]) queued with
``dvc exp run --queue -S seeds=[N]`` and run by ``dvc queue start -j 2`` (two local workers, offline)
over this repository's own dvc.yaml, on the tiniest runs it has (copy_last, smoke profile, up to
the sample stage). Slow: each experiment prepares the embedded dataset and starts the CLI three
times (about two minutes on a loaded 2-core machine)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.utils import repo_root

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        pytest.skip(f"`{name}` is not installed (pip install '.[dvc]' for dvc)")
    return path


def _sh(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _copy_checkout(dst: Path) -> None:
    """The checkout's tracked and not-ignored files (what `git add -A` would commit), as they are now."""
    root = repo_root()
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = root / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def test_dvc_queue_runs_one_experiment_per_seed_with_two_workers(tmp_path):
    dvc, git = _tool("dvc"), _tool("git")
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_checkout(repo)
    params = (repo / "params.yaml").read_text()
    params = re.sub(r"methods:\n(?:  - .*\n)+", "methods:\n  - copy_last\n", params)
    (repo / "params.yaml").write_text(params.replace("profile: cpu", "profile: smoke"))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(repo_root()), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "DVC_NO_ANALYTICS": "1"}
    _sh([git, "init", "-q"], repo, env)
    _sh([git, "add", "-A"], repo, env)
    _sh([git, "commit", "-qm", "vidbench"], repo, env)

    for seed in (0, 1):
        out = _sh([dvc, "exp", "run", "--queue", "-S", f"seeds=[{seed}]", "sample"], repo, env)
        assert "Queued experiment" in out
    try:
        assert "Started '2' new experiments task queue workers" in _sh([dvc, "queue", "start", "-j", "2"], repo, env)
        deadline = time.time() + 900
        while True:
            status = _sh([dvc, "queue", "status"], repo, env)
            if not re.search(r"\b(Queued|Running)\b", status):
                break
            assert time.time() < deadline, f"the queue did not finish in time:\n{status}"
            time.sleep(5)
    finally:
        subprocess.run([dvc, "queue", "stop", "--kill"], cwd=repo, env=env, capture_output=True, timeout=120)
    assert status.count("Success") == 2, status

    refs = _sh([git, "for-each-ref", "refs/exps", "--format=%(refname)"], repo, env).split()
    locks = {}
    for ref in refs:
        lock = subprocess.run([git, "show", f"{ref}:dvc.lock"], cwd=repo, env=env, capture_output=True, text=True)
        if lock.returncode == 0:
            locks[ref] = lock.stdout
    stages = sorted(m for text in locks.values() for m in re.findall(r"^  (sample@\S+):", text, re.M))
    assert stages == ["sample@moving-shapes-copy_last-0", "sample@moving-shapes-copy_last-1"]
    for seed in (0, 1):  # each experiment wrote its own seed folder
        assert any(f"runs/moving-shapes/copy_last/smoke/seed{seed}/samples" in text for text in locks.values())
