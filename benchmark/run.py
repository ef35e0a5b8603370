"""`benchmark run`: every requested method on one dataset, then the real-data bound and the report."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from benchmark.pipeline import MethodSkipped, RunSpec, run_method, run_real
from benchmark.stages.spec import method_dataset_options
from benchmark.registry import METHODS
from benchmark.results import REAL

log = logging.getLogger(__name__)


def wants_untrained_reference(method: str) -> bool:
    """Trained synthesis methods get an ``@init`` reference run (prediction has ``copy_last``)."""
    cls = METHODS.get(method)
    return bool(cls.trainable) and "synthesis" in cls.tasks


def _run_untrained_reference(spec: RunSpec, console) -> None:
    """Sample and score ``spec``'s network at its seeded initialisation; a method that cannot sample
    untrained (it needs fitted state, e.g. a GMM over codes) is noted, not a failure."""
    t0 = time.time()
    try:
        path = run_method(dataclasses.replace(spec, untrained=True))
        console.print(f"    untrained reference in {time.time() - t0:.1f}s -> {path}", soft_wrap=True)
    except KeyboardInterrupt:
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


def run_benchmark(methods: str, dataset: str, *, profile: str = "smoke", seed: int = 0,
                  seeds: list[int] | None = None, out: Path = Path("."),
                  device: str = "cpu", data_root: Path | None = None, metrics: list[str] | None = None,
                  overrides: dict[str, Any] | None = None, progress: bool = True, report: bool = True,
                  dataset_options: dict[str, Any] | None = None, resume: bool = True, console=None,
                  weights: str = "pinned", max_train_steps: int | None = None,
                  max_clips: int | None = None, max_samples: int | None = None,
                  untrained_references: bool = True, runtime: dict[str, Any] | None = None) -> int:
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
    jobs = [(name, s) for name in names for s in seeds]
    for i, (name, s) in enumerate(jobs, 1):
        job = name if len(seeds) == 1 else f"{name} seed {s}"  # the key of failures/skipped
        console.print(f"[bold]\\[{i}/{len(jobs)}] {name}[/] on {dataset} ({profile} profile, seed {s})")
        spec = RunSpec(method=name, dataset=dataset, profile=profile, seed=s, out=out, device=device,
                       data_root=data_root, metrics=metrics, overrides=overrides or {}, progress=progress,
                       dataset_options=method_dataset_options(name, dataset, dataset_options), resume=resume,
                       weights=weights,
                       max_train_steps=max_train_steps, max_clips=max_clips,
                       max_samples=max_samples, **(runtime or {}))
        t0 = time.time()
        try:
            path = run_method(spec)
            console.print(f"    done in {time.time() - t0:.1f}s -> {path}", soft_wrap=True)
            if untrained_references and wants_untrained_reference(name):
                _run_untrained_reference(spec, console)
        except KeyboardInterrupt:
            raise
        except MethodSkipped as e:  # cannot run on this dataset at all: say why, not a failure
            skipped[job] = str(e)
            console.print(f"    [yellow]skipped[/]: {e}", soft_wrap=True)
        except Exception as e:  # keep going; what finished stays on disk
            failures[job] = f"{type(e).__name__}: {e}"
            log.debug("method %s seed %s failed", name, s, exc_info=True)
            console.print(f"    [red]failed[/]: {failures[job]}")
            if log.isEnabledFor(logging.DEBUG):
                traceback.print_exc()
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
