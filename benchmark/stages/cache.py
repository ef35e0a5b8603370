"""Stage records and content keys: nothing stale is ever reused.

Each stage writes a record next to its outputs (:func:`benchmark.paths.stage_file`) holding its
*content key* and the sha256 of each output; a stage is skipped only when its key is the same and
every output still has the recorded bytes. A key covers everything the output depends on:

* config, seeds, protocols, labels;
* the data identity (:meth:`VideoDataset.identity`) and the content hash of the clips used;
* the source of every project module the stage's code imports (:func:`benchmark.sources.source_hash`:
  e.g. ``methods/common/recurrent.py`` for the methods that use the LSTM stack, and only for those);
* for the evaluate stage, the resolved sha256 of every feature network's weight files
  (:func:`weights_identity`), so swapping a weight file re-scores.
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path
from typing import Any, Iterable, Iterator

from benchmark import paths as P
from benchmark.registry import METRICS
from benchmark.sources import source_hash
from benchmark.utils import read_json, sha256_file, write_json_atomic


class NotCached(Exception):
    """Raised under :func:`cached_only` where a stage would have to compute instead of reuse."""


_CACHED_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("cached_only", default=False)


@contextlib.contextmanager
def cached_only() -> Iterator[None]:
    """Within this block a stage whose outputs are not cached raises :class:`NotCached` before it
    computes or writes anything (``benchmark run --jobs N`` finishes the cached runs in-process and
    starts worker processes only for the rest)."""
    token = _CACHED_ONLY.set(True)
    try:
        yield
    finally:
        _CACHED_ONLY.reset(token)


def must_compute(run_dir: Path, stage: str) -> None:
    """Called where ``stage`` of ``run_dir`` is about to be computed (its record is not fresh)."""
    if _CACHED_ONLY.get():
        raise NotCached(f"{run_dir}: stage {stage} is not cached")


class Stages:
    """Per-stage records: the stage's content key and its outputs' sha256.

    Each record sits in the stage's own output folder (``train/``, ``samples/``, ``scores/``) so
    that DVC can track every stage's outputs without overlap.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def get(self, stage: str) -> dict[str, Any] | None:
        path = self.run_dir / P.stage_file(stage)
        return read_json(path) if path.exists() else None

    def fresh(self, stage: str, key: str) -> bool:
        rec = self.get(stage)
        if not rec or rec.get("key") != key:
            return False
        for rel, digest in rec.get("outputs", {}).items():
            p = self.run_dir / rel
            if not p.is_file() or sha256_file(p) != digest:
                return False
        return True

    def record(self, name: str, key: str, outputs: list[str], /, **info: Any) -> dict[str, Any]:
        rec = {"key": key, "outputs": {o: sha256_file(self.run_dir / o) for o in outputs}, **info}
        write_json_atomic(self.run_dir / P.stage_file(name), rec)
        return rec


def code_key(*objs: Any) -> str:
    """Source hash of the project code ``objs`` (classes, modules or module names) import."""
    return source_hash(*objs)


def metric_code_key(names: Iterable[str]) -> str:
    """Source hash of the metrics ``names`` (their classes' import closures) and the feeding code."""
    return source_hash("benchmark.evaluate", *(METRICS.module_of(n) for n in names))  # read, not imported


def weights_identity(names: Iterable[str], mode: str) -> dict[str, str]:
    """weights name -> sha256 of the resolved file (``random-init-...`` with ``--weights random``) of
    every feature network the metrics ``names`` load (``VideoMetric.weight_names``). Resolving hashes
    the files, so a swapped file changes the evaluate key; a missing one is the usual WeightsError."""
    from benchmark.weights import get_weights

    out = {}
    for name in names:
        for w in getattr(METRICS.info(name), "weight_names", ()):
            if w not in out:
                out[w] = get_weights(w, mode).sha256
    return out
