"""Shared helpers of the crowd tests: a demo study, HTTP calls, a served app, what a URL shows."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmark.crowd.demo import DATASET, build_demo_runs
from benchmark.crowd.design import StudyConfig, design_study

METHODS = ("zeta_lstm", "omega_gan")
SYSTEMS = ("real", *METHODS)
REPO = Path(__file__).resolve().parents[2]


def config(**kw: Any) -> StudyConfig:
    """The demo's design (`benchmarks/crowd_load.py`): real + two methods, all pairs, 4 checks, 3 answers."""
    base = dict(dataset=DATASET, task="prediction", systems=SYSTEMS, judgements_per_pair=4, answers=3, checks=4)
    return StudyConfig(**{**base, **kw})


def make_study(root: Path, name: str = "study", runs: bool = True, **kw: Any) -> Path:
    """Demo runs under ``root/runs`` and a study at ``root/<name>``; ``kw``: StudyConfig fields or
    design_study options (``secret``, ``force``)."""
    if runs and not (root / "runs").is_dir():
        build_demo_runs(root / "runs", methods=METHODS)
    options = {k: kw.pop(k) for k in ("secret", "force") if k in kw}
    design_study(config(**kw), root / "runs", root / name, real_source="run", **options)
    return root / name


def http(method: str, url: str, body: dict | bytes | None = None, headers: dict | None = None,
         timeout: float = 10) -> tuple[int, bytes, dict]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers={**hdrs, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def api(base: str, token: str, verb: str, body: dict | None = None) -> tuple[int, dict]:
    status, raw, _ = http("POST" if body is not None else "GET", f"{base}/api/{token}/{verb}", body)
    return status, json.loads(raw)


@contextlib.contextmanager
def serving(app: Any, **options: Any) -> Iterator[tuple[str, Any]]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields (base URL, server); closes everything after."""
    from benchmark.crowd.server import serve_in_thread

    server, thread = serve_in_thread(app, **options)
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def served(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields the base URL."""
    with serving(app, **options) as (base, _):
        yield base


def video_behind(app: Any, url: str) -> dict[str, Any]:
    """The study's record of the video a media URL serves (system, check...): the server's secret map."""
    name = url.rsplit("/", 1)[-1][:-4]
    if hasattr(app.db, "media"):
        name = app.db.media(name) or name
    return app.study["videos"][name]


def bytes_behind(app: Any, url: str) -> bytes:
    """The bytes the server sends for a media URL (read directly: the bot tests skip HTTP for speed)."""
    name = url.rsplit("/", 1)[-1][:-4]
    if hasattr(app, "video_path"):
        return app.video_path(name).read_bytes()
    return (app.folder / app.study["videos"][name]["file"]).read_bytes()


@pytest.fixture()
def fast_tmp() -> Iterator[Path]:
    """A folder for test databases on memory-backed /dev/shm when there is one.

    The judgement store fsyncs every commit (~8 ms on this machine's disk); tests that make
    hundreds of commits put their database here (durability has its own kill -9 tests).
    """
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = tempfile.mkdtemp(prefix="vidbench-crowd-", dir=shm)
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
