"""One run of one method on one dataset: train -> sample -> evaluate -> results.json + manifest.json.

Each stage lives in its own module under :mod:`benchmark.stages` (and is a CLI verb and a DVC
stage); :func:`run_method` chains them. Each stage records its *content key* (a hash of everything
its output depends on: config, seeds, data identity and content, the source of every project module
its code imports, the feature networks' weight hashes) and the sha256 of its outputs; re-running a
stage whose key and outputs still match is a no-op. This caches by content, not by file age.

Run folder: ``<out>/runs/<dataset>/<method>/<profile>/seed<seed>/`` (:mod:`benchmark.paths`).

The names below are re-exported from the stage modules for callers of the whole pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmark.data import load_dataset  # noqa: F401  (re-exported)
from benchmark.evaluate import applicable_metrics  # noqa: F401
from benchmark.methods import ProfileUnavailable
from benchmark.stages.cache import Stages  # noqa: F401
from benchmark.stages.evaluate import evaluate_run, feature_cache_dir, stage_evaluate, write_results  # noqa: F401
from benchmark.stages.real import run_real  # noqa: F401
from benchmark.stages.sample import (ReferenceInputs, check_compatible, conditioning_for,  # noqa: F401
                                     generate_samples, runnable_tasks, stage_sample)
from benchmark.stages.spec import RunSpec, build_method, data_spec, open_dataset, resolve_device  # noqa: F401
from benchmark.stages.train import read_train_records, stage_train, train_labels  # noqa: F401
from benchmark.stages.verify import verify_run  # noqa: F401
from benchmark.utils import UserError


def reference_clips(ds, task: str):
    """``ds.reference(task)``: the test protocol and its clips (kept for callers of the old pipeline)."""
    return ds.reference(task)


class MethodSkipped(UserError):
    """A method that cannot run on a dataset at all (its profile cannot fit the data, or no task's
    protocol provides the conditioning it needs); ``benchmark run`` reports the one-line reason and
    goes on (it is not a failure)."""


def run_method(spec: RunSpec, *, after_train: Callable[[], None] | None = None) -> Path:
    """train -> sample -> evaluate for every task the method and dataset share (each cached).

    Raises :class:`MethodSkipped` when the profile cannot fit the dataset, the dataset cannot be
    opened with the options the method needs (``Method.dataset_options``), or no task can run.
    ``after_train``: called once training is done (a DDP job of :mod:`benchmark.launch` leaves its
    process group there; ranks other than 0 stop, rank 0 samples and scores alone)."""
    try:
        ds = open_dataset(spec)
    except UserError as e:
        from benchmark.registry import METHODS

        needed = METHODS.get(spec.method).dataset_options if spec.method in METHODS else {}
        if needed and all(spec.dataset_options.get(k) == v for k, v in needed.items()):
            raise MethodSkipped(f"{spec.method}: {spec.dataset} cannot be opened with the options it needs "
                                f"({', '.join(f'{k}={v}' for k, v in needed.items())}): {e}") from e
        raise
    try:
        method = build_method(spec, ds)
    except ProfileUnavailable as e:
        raise MethodSkipped(f"{spec.method}: profile {spec.profile!r} does not fit {ds.name}: {e}") from e
    tasks, why = runnable_tasks(method, ds)
    if not tasks:
        raise MethodSkipped("; ".join(why.values()))
    method, train_rec = stage_train(spec, ds, method)
    if after_train is not None:
        after_train()
    for task in tasks:
        stage_sample(spec, method, task, ds, train_key=train_rec["key"])
    return evaluate_run(spec, ds, tasks=tasks)
