"""`benchmark run`: every requested method on one dataset, then the real-data bound and the report."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from benchmark.pipeline import MethodSkipped, RunSpec, run_method, run_real
from benchmark.stages.cache import NotCached, cached_only
from benchmark.stages.spec import method_dataset_options
from benchmark.registry import METHODS, is_trained_method
from benchmark.paths import RESULTS
from benchmark.results import REAL

log = logging.getLogger(__name__)


#: baselines that, when selected, also run on each dataset variant another selected method needs
#: (``Method.dataset_options``): that variant's protocol table then has its copy and blank-fill rows, and
#: the report's trivial-copy gate applies there as on the default protocol
VARIANT_REFERENCES = ("copy_last", "background_fill")


def variant_references(names: list[str], dataset: str, options: dict[str, Any] | None = None,
                       data_root: Path | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """``(baseline, variant, dataset options)`` for every :data:`VARIANT_REFERENCES` baseline in ``names`` and every
    variant of ``dataset`` that a method in ``names`` needs beyond ``options`` and that the dataset can be opened
    with (deterministic Moving MNIST has no two-ended protocol: P2P is skipped there, and so are these); the
    variant is named by the options it adds (``two_ended``, ``size-32``).

    >>> variant_references(["p2p", "copy_last", "svg_lp"], "moving-shapes")
    [('copy_last', 'two_ended', {'two_ended': True})]
    >>> variant_references(["p2p", "copy_last"], "moving-shapes", {"two_ended": True})
    []
    >>> variant_references(["p2p", "copy_last"], "mmnist")  # two_ended needs motion="stochastic" there
    []
    """
    from benchmark.data import load_dataset
    from benchmark.report.format import slug
    from benchmark.utils import UserError

    base = dict(options or {})
    variants: dict[str, dict[str, Any]] = {}
    for name in names:
        needed = method_dataset_options(name, dataset, options)
        added = {k: v for k, v in needed.items() if base.get(k, None) != v}
        if not added:
            continue
        try:
            load_dataset(dataset, data_root, **needed)  # construction only: no data is read or made
        except UserError:
            continue  # the method that needs it is skipped with that reason (benchmark.pipeline.run_method)
        label = "_".join(k if v is True else f"{k}-{v}" for k, v in sorted(added.items()))
        variants[slug(label)] = needed
    return [(ref, label, opts) for label, opts in variants.items() for ref in VARIANT_REFERENCES if ref in names]


def wants_untrained_reference(method: str) -> bool:
    """Trained synthesis methods get an ``@init`` reference run (prediction has ``copy_last``), unless
    they cannot sample before fitting (``Method.samples_untrained``)."""
    cls = METHODS.get(method)
    return bool(cls.trainable) and "synthesis" in cls.tasks and cls.samples_untrained


def _run_untrained_reference(spec: RunSpec, console) -> None:
    """Sample and score ``spec``'s network at its seeded initialisation; a method that fails to sample
    untrained is noted, not a failure (those known to need fitted state are not tried:
    :func:`wants_untrained_reference`)."""
    t0 = time.time()
    try:
        path = run_method(dataclasses.replace(spec, untrained=True))
        console.print(f"    untrained reference in {time.time() - t0:.1f}s -> {path}", soft_wrap=True)
    except (KeyboardInterrupt, NotCached):
        raise
    except Exception as e:
        log.debug("untrained reference of %s failed", spec.method, exc_info=True)
        ref_dir = dataclasses.replace(spec, untrained=True).run_dir
        if not (ref_dir / "results.json").exists():  # leave no half-made reference folder behind
            shutil.rmtree(ref_dir, ignore_errors=True)
            for parent in (ref_dir.parent, ref_dir.parent.parent):  # <method>@init/<profile>, if now empty
                if parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
        console.print(f"    [yellow]no untrained reference[/] ({type(e).__name__}: {e})", soft_wrap=True)


def run_one(spec: RunSpec, untrained_references: bool, console) -> tuple[str, str]:
    """Every stage of one method (and its ``@init`` reference row): ``(status, message)`` with status
    ``done``, ``skipped`` (cannot run on this dataset at all: not a failure) or ``failed``. A failure is
    reported, never raised: what finished stays on disk and the other methods go on."""
    t0 = time.time()
    try:
        path = run_method(spec)
        console.print(f"    {spec.method} done in {time.time() - t0:.1f}s -> {path}", soft_wrap=True)
        if untrained_references and wants_untrained_reference(spec.method):
            _run_untrained_reference(spec, console)
        return "done", str(path)
    except (KeyboardInterrupt, NotCached):
        raise
    except MethodSkipped as e:
        console.print(f"    [yellow]skipped[/]: {e}", soft_wrap=True)
        return "skipped", str(e)
    except Exception as e:
        message = f"{type(e).__name__}: {e}"
        log.debug("method %s failed", spec.method, exc_info=True)
        console.print(f"    [red]{spec.method} failed[/]: {message}")
        if log.isEnabledFor(logging.DEBUG):
            traceback.print_exc()
        return "failed", message


def threads_per_job(jobs: int) -> int:
    """Intra-op threads of each of ``jobs`` worker processes: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _worker_run(spec: RunSpec, untrained_references: bool) -> tuple[str, str]:
    from rich.console import Console

    return run_one(spec, untrained_references, Console(stderr=True))


def _finish_if_cached(spec: RunSpec, untrained_references: bool, console) -> tuple[str, str] | None:
    """``run_one``'s outcome when every stage of ``spec`` (and of its untrained reference) is cached,
    reusing them in this process; ``None`` (nothing computed, nothing written) when something is not.
    A run that never finished (no results.json) is not even tried."""
    ref = dataclasses.replace(spec, untrained=True)
    if not (spec.run_dir / RESULTS).is_file():
        return None
    if untrained_references and wants_untrained_reference(spec.method) and not (ref.run_dir / RESULTS).is_file():
        return None
    try:
        with cached_only():
            return run_one(spec, untrained_references, console)
    except NotCached as e:
        log.debug("not cached: %s", e)
        return None


def submission_order(specs: list[RunSpec], todo: list[int]) -> list[int]:
    """The order in which the runs ``todo`` (indices into ``specs``) go to the workers: the trained
    methods first, in the given order, then the untrained ones (baselines, reference rows).

    A pool takes jobs in submission order, so a long training submitted last runs alone while the
    other workers idle; the untrained runs take seconds each and fill that tail instead (on the main
    job's per-run times, 2 workers: 843 -> 814 s of busy time in simulation; measured 879.9 -> 872.4 s
    wall, identical results). Results do not depend on the order: each run seeds its own networks
    and writes only its own folder.
    """
    return sorted(todo, key=lambda i: not is_trained_method(specs[i].method))  # stable: the given order within each group


def _run_parallel(specs: list[RunSpec], ds, jobs: int, untrained_references: bool, console) -> list[tuple[str, str]]:
    """Run ``specs`` in ``jobs`` worker processes of ``cpu_count // jobs`` threads each.

    The main job's small networks spend most of a step in per-op overhead, which one thread per process
    runs as fast as two: two single-thread processes train two methods in about the time of one.
    Each run writes only its own folder (atomically, keyed by content), so workers never share a file;
    the dataset is prepared once here, before they start. The thread count is recorded in each
    manifest (``torch_threads``)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes: list[tuple[str, str] | None] = [None] * len(specs)
    todo = []
    for i, spec in enumerate(specs):
        outcome = _finish_if_cached(spec, untrained_references, console)
        if outcome is None:
            todo.append(i)
        else:
            outcomes[i] = outcome
            console.print(f"[bold]\\[{i + 1}/{len(specs)}] {spec.method}[/] (seed {spec.seed}) cached")
    if not todo:
        return [o for o in outcomes if o is not None]
    for split in getattr(ds, "splits", ()):  # generate / verify the data once, not once per worker
        ds.load_split(split)
    threads = threads_per_job(jobs)
    console.print(f"{len(todo)} runs in {jobs} worker processes, {threads} thread(s) each"
                  + (f" ({len(specs) - len(todo)} cached)" if len(todo) < len(specs) else ""))
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=mp.get_context("spawn"),
                               initializer=_worker_init, initargs=(threads,))
    try:
        futures = {pool.submit(_worker_run, specs[i], untrained_references): i for i in submission_order(specs, todo)}
        for done, future in enumerate(as_completed(futures), 1):
            i = futures[future]
            try:
                outcomes[i] = future.result()
            except Exception as e:  # the worker process itself died (out of memory, killed)
                outcomes[i] = ("failed", f"worker process died: {type(e).__name__}: {e}")
            status = outcomes[i][0]
            style = {"done": "green", "skipped": "yellow"}.get(status, "red")
            console.print(f"[bold]\\[{done}/{len(todo)}] {specs[i].method}[/] (seed {specs[i].seed}) [{style}]{status}[/]")
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [o if o is not None else ("failed", "not run") for o in outcomes]


def run_benchmark(methods: str, dataset: str, *, profile: str = "smoke", seed: int = 0,
                  seeds: list[int] | None = None, out: Path = Path("."),
                  device: str = "cpu", data_root: Path | None = None, metrics: list[str] | None = None,
                  overrides: dict[str, Any] | None = None, progress: bool = True, report: bool = True,
                  dataset_options: dict[str, Any] | None = None, resume: bool = True, console=None,
                  weights: str = "pinned", max_train_steps: int | None = None,
                  max_clips: int | None = None, max_samples: int | None = None,
                  untrained_references: bool = True, runtime: dict[str, Any] | None = None,
                  jobs: int = 1) -> int:
    """Train/sample/evaluate each method (cached by content), then render the leaderboard.

    A failing method does not stop the others; the exit code is 1 if any failed. A method that cannot
    run on the dataset at all (its profile does not fit it, or it needs conditioning no protocol
    provides) is skipped with a one-line reason, not a failure. ``max_train_steps``, ``max_clips`` and
    ``max_samples`` limit training steps, test clips and samples per context for quick checks (the
    numbers then mean nothing; they are recorded in each manifest).

    ``untrained_references``: after each trained synthesis method, also sample and score the same
    network at its seeded initialisation (``<method>@init``, a reference row of the leaderboard that
    never ranks): a trained number means something only next to it and the uniform-grey floor.

    ``seeds``: run each method once per seed (``runs/.../seed<N>/``, each cached on its own), in
    (method, seed) order; default ``[seed]``. The real-data bound does not train or sample, so it
    is scored once, with the first seed.

    ``jobs``: methods run at once, each in its own process with ``cpu_count // jobs`` threads
    (:func:`_run_parallel`); 1 runs them one after another in this process.
    """
    from rich.console import Console

    from benchmark.data import load_dataset

    console = console or Console(stderr=True)
    names = METHODS.resolve(methods)
    ds = load_dataset(dataset, data_root, **(dataset_options or {}))
    names = [n for n in names if set(METHODS.get(n).tasks) & set(ds.protocols)]
    t_start = time.time()
    failures: dict[str, str] = {}
    skipped: dict[str, str] = {}
    seeds = list(seeds) if seeds else [seed]
    def make_spec(name: str, s: int, options: dict[str, Any], variant: str = "") -> RunSpec:
        return RunSpec(method=name, dataset=dataset, profile=profile, seed=s, out=out, device=device,
                       data_root=data_root, metrics=metrics, overrides=overrides or {},
                       progress=progress and jobs == 1, dataset_options=options, resume=resume, weights=weights,
                       max_train_steps=max_train_steps, max_clips=max_clips, max_samples=max_samples,
                       variant=variant, **(runtime or {}))

    runs = [(name, s) for name in names for s in seeds]  # one run per (method, seed)
    specs = [make_spec(name, s, method_dataset_options(name, dataset, dataset_options)) for name, s in runs]
    for ref, variant, options in variant_references(names, dataset, dataset_options, data_root):
        for s in seeds:  # the baselines' rows of a variant's table (P2P's two-ended protocol)
            runs.append((f"{ref}@{variant}", s))
            specs.append(make_spec(ref, s, options, variant))
    if jobs > 1 and len(specs) > 1:
        outcomes = _run_parallel(specs, ds, jobs, untrained_references, console)
    else:
        outcomes = []
        for i, spec in enumerate(specs, 1):
            console.print(f"[bold]\\[{i}/{len(specs)}] {spec.method}[/] on {dataset} ({profile} profile, seed {spec.seed})")
            outcomes.append(run_one(spec, untrained_references, console))
    for (name, s), (status, message) in zip(runs, outcomes):
        key = name if len(seeds) == 1 else f"{name} seed {s}"
        if status == "skipped":
            skipped[key] = message
        elif status == "failed":
            failures[key] = message
    console.print(f"[bold]real data bound[/] on {dataset}")
    run_real(RunSpec(method=REAL, dataset=dataset, seed=seeds[0], out=out, data_root=data_root, metrics=metrics,
                     device=device,
                     progress=progress, dataset_options=dataset_options or {}, weights=weights, max_clips=max_clips))
    if report:
        from benchmark.report import render_report

        index = render_report(dataset, Path(out) / "runs", Path(out) / "reports" / dataset, profile=profile)
        console.print(f"leaderboard: {index}", soft_wrap=True)
    console.print(f"total {time.time() - t_start:.1f}s")
    if skipped:
        console.print(f"{len(skipped)} method(s) skipped (cannot run on {dataset}): " + ", ".join(skipped))
    if failures:
        console.print(f"[red]{len(failures)} method(s) failed:[/] " +
                      "; ".join(f"{k} ({v})" for k, v in failures.items()))
        return 1
    return 0
