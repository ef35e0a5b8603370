"""`benchmark run --launcher slurm|local`: one cluster job per (method, dataset, profile, seed).

The jobs are submitted through `submitit <https://github.com/facebookincubator/submitit>`_, so the
code a Slurm user runs is the code the tests run with submitit's local executor:

* ``--launcher slurm`` submits every stage chain (train -> sample -> evaluate, plus the untrained
  reference of a trained synthesis method) and the real-data bound as Slurm job arrays (partition, GPUs, tasks per node, time limit, log folder: :class:`JobOptions`);
* ``--launcher local`` starts the same jobs as subprocesses of this machine (all at once);
* ``--launcher none`` (the default) is :func:`benchmark.run.run_benchmark`, in process.

``benchmark run`` then waits and renders the leaderboard, or returns at once (``--no-wait``); a
later ``benchmark report`` collects whatever finished (reports only read ``results.json``). Every
submission is recorded in ``<out>/jobs/launches/<launch>.json``; ``benchmark jobs`` lists each job's
state with the paths of its logs, and ``benchmark jobs --resubmit`` submits the failed ones again
(training resumes from its last checkpoint: the key is unchanged).

Two jobs of the same run (a resubmission racing the original, or two launches of one grid) never
both write it: a job holds an exclusive lock on ``<out>/jobs/locks/<run>.lock`` (``fcntl`` record
locks, which NFS supports and which die with the process) for its whole stage chain, so the second
finds every stage fresh by its content key and writes nothing; all outputs are written atomically.

Inside a job with several tasks (``--job-tasks N``: DDP ranks, e.g. one per GPU of the paper
profile), submitit's :class:`~submitit.JobEnvironment` gives each task its rank; the torch.distributed
variables are exported from it and training runs through :mod:`benchmark.training.distributed`
exactly as under ``torchrun`` (world size recorded in ``stage.json``); rank 0 then samples and scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from benchmark import paths as P
from benchmark.utils import UserError, read_json, write_json_atomic

LAUNCHERS = ("none", "local", "slurm")

#: job states shown by ``benchmark jobs``; the first two are final successes
DONE, SKIPPED, RUNNING, PENDING, FAILED, UNKNOWN = "done", "skipped", "running", "pending", "failed", "unknown"
_SLURM_WAITING = {"PENDING", "REQUEUED", "CONFIGURING", "RESIZING", "SUSPENDED", "PREEMPTED", "READY"}
_SLURM_RUNNING = {"RUNNING", "COMPLETING"}


def _submitit():
    """The submitit module (its ``cluster`` extra), or a clear error naming the extra."""
    from benchmark.extras import require

    return require("submitit", "cluster", "--launcher local|slurm and `benchmark jobs`")


# ------------------------------------------------------------------------------ options ---

def _process_started(fallback: float) -> float:
    """When this job's process started (epoch seconds): before it imported the job's code, unlike the
    time the job function was entered. From Linux's /proc (the process's start in clock ticks since
    boot, against the uptime now); ``fallback`` elsewhere."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return fallback


@dataclass(frozen=True)
class JobOptions:
    """What each submitted job asks the scheduler for (recorded with the launch, reused on resubmit).

    ``gpus``, ``tasks``, ``time_min``, ``cpus`` and ``setup`` also apply to ``--launcher local``;
    ``partition``, ``array_parallelism`` and ``slurm`` (extra ``#SBATCH`` options) only to Slurm.
    """

    launcher: str = "local"
    log_dir: Path | None = None  # default <out>/jobs/logs; on Slurm a folder the compute nodes see
    partition: str | None = None
    gpus: int = 0  # per node
    tasks: int = 1  # per node: DDP ranks of the training (one per GPU)
    nodes: int = 1
    cpus: int | None = None  # per task
    mem_gb: float | None = None
    time_min: int = 60
    array_parallelism: int = 64
    setup: tuple[str, ...] = ()  # shell lines run before each job (module load ..., source venv)
    slurm: dict[str, str] = field(default_factory=dict)  # e.g. {"account": "lab", "qos": "high"}

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS[1:]:
            raise UserError(f"unknown launcher {self.launcher!r}; choose one of {', '.join(LAUNCHERS[1:])}")
        for name in ("gpus", "tasks", "nodes", "time_min", "array_parallelism"):
            if getattr(self, name) < (0 if name == "gpus" else 1):
                raise UserError(f"--job-{name.replace('_', '-')} must be positive (got {getattr(self, name)})")
        if self.launcher == "local" and self.nodes != 1:
            raise UserError("--launcher local runs on this one machine: --job-nodes must be 1")
        if 0 < self.gpus < self.tasks:
            raise UserError(f"--slurm-tasks {self.tasks} with --slurm-gpus {self.gpus}: each DDP rank trains on its "
                            f"own GPU, so ask for at least as many GPUs as tasks per node")

    def check_device(self, device: str) -> None:
        """A job of a run on ``device`` gets the GPUs it needs: jobs see only the GPUs they ask for
        (submitit sets CUDA_VISIBLE_DEVICES), and ``auto`` must never fall back to the CPU silently."""
        if self.gpus == 0 and (device == "auto" or device.startswith("cuda")):
            why = "--profile paper runs on a GPU (--device auto)" if device == "auto" else f"--device {device}"
            raise UserError(f"{why}, but the jobs ask for no GPU: pass --slurm-gpus N (one per --slurm-tasks "
                            f"rank), or --device cpu to run the jobs on CPUs on purpose")

    def threads(self) -> int | None:
        """Torch threads of each task: ``--slurm-cpus`` where given; local jobs all run at once on this
        machine, so each gets one thread (the main job's small networks are op-overhead bound: several
        single-thread processes beat one process with all the cores); else torch's default."""
        if self.cpus:
            return self.cpus
        return 1 if self.launcher == "local" else None

    def single(self) -> JobOptions:
        """These options for a job of one task on one node (and at most one GPU)."""
        return dataclasses.replace(self, tasks=1, nodes=1, gpus=min(self.gpus, 1))

    def parameters(self) -> dict[str, Any]:
        """``update_parameters`` of a submitit ``AutoExecutor`` (None: the executor's default)."""
        params: dict[str, Any] = {
            "name": "vidbench", "timeout_min": self.time_min, "gpus_per_node": self.gpus,
            "tasks_per_node": self.tasks, "nodes": self.nodes, "cpus_per_task": self.cpus, "mem_gb": self.mem_gb,
            "slurm_partition": self.partition, "slurm_array_parallelism": self.array_parallelism,
            "slurm_setup": list(self.setup) or None, "local_setup": list(self.setup) or None,
            "slurm_additional_parameters": dict(self.slurm) or None}
        return {k: v for k, v in params.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["log_dir"] = None if self.log_dir is None else str(self.log_dir)
        d["setup"] = list(self.setup)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> JobOptions:
        d = dict(d)
        d["log_dir"] = None if d.get("log_dir") is None else Path(d["log_dir"])
        d["setup"] = tuple(d.get("setup") or ())
        return cls(**d)


def make_executor(options: JobOptions, folder: Path):
    """A submitit ``AutoExecutor`` for ``options`` writing pickles and logs into ``folder``."""
    submitit = _submitit()
    if options.launcher == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise UserError("--launcher slurm submits with Slurm's sbatch/srun, which are not on PATH here: run "
                        "`benchmark run` on a login node of the cluster, or use --launcher local to run the "
                        "jobs on this machine")
    executor = submitit.AutoExecutor(folder=folder, cluster=options.launcher)
    executor.update_parameters(**options.parameters())
    return executor


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The launcher options of ``benchmark run`` (argparse only: nothing is imported here)."""
    g = p.add_argument_group("cluster jobs (--launcher slurm|local; benchmark/launch.py)")
    g.add_argument("--launcher", default="none", choices=LAUNCHERS,
                   help="none: run in this process (default); slurm: one Slurm job per (method, dataset, "
                        "profile, seed) through submitit, as one job array; local: the same jobs as "
                        "subprocesses of this machine (submitit's local executor)")
    g.add_argument("--no-wait", dest="wait", action="store_false",
                   help="return once the jobs are submitted; `benchmark jobs` shows them, `benchmark report` "
                        "collects what finished")
    g.add_argument("--log-dir", type=Path, default=None, metavar="DIR",
                   help="job pickles and logs (default <out>/jobs/logs; on Slurm a folder the nodes see)")
    g.add_argument("--slurm-partition", "--partition", dest="job_partition", default=None, metavar="NAME",
                   help="Slurm partition")
    g.add_argument("--slurm-gpus", "--job-gpus", dest="job_gpus", type=int, metavar="N", default=0, help="GPUs per node of a job")
    g.add_argument("--slurm-tasks", "--job-tasks", dest="job_tasks", type=int, metavar="N", default=1,
                   help="tasks per node of a job: DDP ranks of the training (one per GPU); rank 0 samples and scores")
    g.add_argument("--slurm-nodes", "--job-nodes", dest="job_nodes", type=int, metavar="N", default=1, help="nodes per job")
    g.add_argument("--slurm-cpus", "--job-cpus", dest="job_cpus", type=int, metavar="N", default=None, help="CPUs per task")
    g.add_argument("--slurm-mem-gb", "--job-mem-gb", dest="job_mem_gb", type=float, metavar="GB", default=None,
                   help="memory per node (GB)")
    g.add_argument("--slurm-time", "--job-time", dest="job_time", type=int, default=60, metavar="MINUTES",
                   help="time limit of a job in minutes (default 60; a job that times out is requeued and its "
                        "training resumes from its last checkpoint)")
    g.add_argument("--slurm-array-parallelism", dest="job_array_parallelism", type=int, metavar="N", default=64,
                   help="at most this many jobs of the array run at once (Slurm)")
    g.add_argument("--slurm-setup", "--job-setup", dest="job_setup", action="append", default=[], metavar="LINE",
                   help="a shell line run before each job, e.g. 'module load cuda' (repeatable)")
    g.add_argument("--slurm-option", dest="job_slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="another #SBATCH option, e.g. account=mylab or qos=high (repeatable)")


def options_from_args(args: argparse.Namespace) -> JobOptions:
    slurm = {}
    for item in args.job_slurm:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--slurm-option {item!r}: expected KEY=VALUE, e.g. account=mylab")
        slurm[key.strip().lstrip("-").replace("-", "_")] = value
    return JobOptions(launcher=args.launcher, log_dir=args.log_dir, partition=args.job_partition, gpus=args.job_gpus,
                      tasks=args.job_tasks, nodes=args.job_nodes, cpus=args.job_cpus, mem_gb=args.job_mem_gb,
                      time_min=args.job_time, array_parallelism=args.job_array_parallelism,
                      setup=tuple(args.job_setup), slurm=slurm)


# ---------------------------------------------------------------------------------- jobs ---

class NotMainRank(Exception):
    """Raised on ranks > 0 of a DDP job once training is done (rank 0 alone samples and scores)."""


@dataclass
class StageChain:
    """One job: the stage chain of one run (``spec``), called by submitit in the job's process(es).

    A method's chain is train -> sample -> evaluate (each stage cached by content) and, with
    ``untrained_reference``, the ``<method>@init`` reference; the real-data bound (``spec.method ==
    "real"``) scores the real clips. Returns ``{"status": "done"|"skipped", ...}``; an error fails
    the job (its traceback is in the job's log). Checkpointable: a job that times out or is
    preempted is requeued by submitit with the same chain, and training resumes from its checkpoint.
    """

    spec: Any  # benchmark.stages.spec.RunSpec (not imported here: `benchmark --help` stays light)
    untrained_reference: bool = False
    lock_dir: Path | None = None
    single_task: bool = False  # nothing to train with DDP (the real bound, a method without training)
    threads: int | None = None  # torch intra-op threads of each task (None: torch's default)

    @property
    def name(self) -> str:  # noqa: D102
        return job_name(self.spec.run_name, self.spec.dataset,
                        P.REAL_PROFILE if self.spec.method == P.REAL else self.spec.profile, self.spec.seed)

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit's requeue hook: the same chain again (training state lives in checkpoint.pt)."""
        return _submitit().helpers.DelayedSubmission(self, *args, **kwargs)

    def __call__(self) -> dict[str, Any]:
        from benchmark.training import distributed as D

        started = time.time()
        if self.threads:  # jobs sharing a machine must not each take every core (recorded in the manifest)
            import torch

            torch.set_num_threads(self.threads)
        world = _export_torch_distributed()
        rank = int(os.environ.get("RANK", 0)) if world > 1 else 0
        results = self.spec.run_dir / P.RESULTS
        with run_lock(self.lock_dir, self.spec) if rank == 0 else _nothing():
            before = _stamp(results)
            try:
                path = self._run(world)
            except NotMainRank:
                return {"status": DONE, "job": self.name, "rank": rank, "world_size": world}
            except Exception as e:
                from benchmark.pipeline import MethodSkipped

                if isinstance(e, MethodSkipped):
                    return {"status": SKIPPED, "job": self.name, "reason": str(e)}
                raise
            finally:
                D.teardown()
            wrote = _stamp(results) != before
        print(f"{self.name}: {'wrote' if wrote else 'reused (fresh by content key)'} {path} in "
              f"{time.time() - started:.1f}s", flush=True)
        return {"status": DONE, "job": self.name, "results": str(path), "wrote": wrote, "pid": os.getpid(),
                "process_started": _process_started(started), "started": started, "ended": time.time(),
                "world_size": world}

    def _run(self, world: int) -> Path:
        from rich.console import Console

        from benchmark.pipeline import run_method, run_real
        from benchmark.run import _run_untrained_reference, wants_untrained_reference

        spec = self.spec
        if world > 1 and self.single_task and int(os.environ.get("RANK", 0)) != 0:
            raise NotMainRank  # (submitted with one task; a requeue with more must not run it twice)
        if spec.method == P.REAL:
            return run_real(spec)
        after_train = None
        if world > 1:  # the DDP ranks of this job: train together, then rank 0 goes on alone
            spec, after_train = _join_process_group(spec)
        path = run_method(spec, after_train=after_train)
        if self.untrained_reference and wants_untrained_reference(spec.method):
            _run_untrained_reference(spec, Console(stderr=True, force_terminal=False))
        return path


def job_name(method: str, dataset: str, profile: str, seed: int) -> str:
    """The name of a run's job in launch records and ``benchmark jobs``.

    >>> job_name("svg_lp", "kth", "paper", 2)
    'svg_lp/kth/paper/seed2'
    """
    return f"{method}/{dataset}/{profile}/seed{seed}"


def _export_torch_distributed() -> int:
    """In a submitit job with several tasks, export ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_*``
    from its :class:`~submitit.JobEnvironment` (``torchrun``'s variables, read by
    :func:`benchmark.training.distributed.setup`); returns the number of tasks (1 outside a job)."""
    submitit = _submitit()
    try:
        env = submitit.JobEnvironment()
    except RuntimeError:  # not inside a submitit job (a test calling the chain directly)
        return 1
    if env.num_tasks <= 1:
        return 1
    dist_env = submitit.helpers.TorchDistributedEnvironment()
    # every rank must agree on the master: the first node of the job (loopback on one node, which
    # is also what submitit's local executor needs); the devices stay visible, rank r takes cuda:r
    master = "127.0.0.1" if env.num_nodes == 1 else dist_env.master_addr
    os.environ.update(MASTER_ADDR=master, MASTER_PORT=str(dist_env.master_port), RANK=str(dist_env.rank),
                      WORLD_SIZE=str(dist_env.world_size), LOCAL_RANK=str(dist_env.local_rank),
                      LOCAL_WORLD_SIZE=str(dist_env.local_world_size))
    return env.num_tasks


def _join_process_group(spec):
    """Initialise the job's process group (NCCL on CUDA, gloo on the CPU, as ``benchmark train`` under
    torchrun does); returns the spec on this rank's device and the hook run_method calls after training."""
    import torch

    from benchmark.training import distributed as D

    wants_cuda = spec.device.startswith("cuda") or (spec.device == "auto" and torch.cuda.is_available())
    if wants_cuda and not torch.cuda.is_available():
        raise UserError(f"a {spec.device} job without CUDA: request GPUs (--slurm-gpus) or pass --device cpu")
    info = D.setup(None if wants_cuda else "gloo")
    spec = dataclasses.replace(spec, device=str(info.device))

    def after_train() -> None:
        D.teardown()  # sampling and scoring are single-process (rank 0)
        if info.rank != 0:
            raise NotMainRank

    return spec, after_train


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode, mtime_ns) of a file, None when absent: tells whether a job rewrote it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


@contextmanager
def run_lock(lock_dir: Path | None, spec) -> Iterator[None]:
    """Hold an exclusive lock for ``spec``'s run while the block runs; a second job of the same run
    waits here, then finds every stage fresh and writes nothing. ``fcntl`` record locks are released
    when the process dies, so a killed job never leaves a stale lock."""
    if lock_dir is None:
        yield
        return
    import fcntl

    rel = spec.run_dir.relative_to(P.runs_root(spec.out))
    path = Path(lock_dir) / rel.with_name(rel.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------- launch ---

def build_chains(methods: str, dataset: str, seeds: list[int], *, out: Path, untrained_references: bool = True,
                 threads: int | None = None, **run_kwargs: Any) -> list[StageChain]:
    """One :class:`StageChain` per (method, seed) that ``dataset`` has a task for, the selected baselines'
    runs on the dataset variants other methods need (:func:`benchmark.run.variant_references`), then the
    real-data bound; ``run_kwargs`` are :func:`benchmark.run.run_benchmark`'s (profile, device, ...)."""
    from benchmark.data import load_dataset
    from benchmark.registry import METHODS
    from benchmark.run import variant_references
    from benchmark.stages.spec import RunSpec, method_dataset_options

    names = METHODS.resolve(methods)
    ds = load_dataset(dataset, run_kwargs.get("data_root"), **(run_kwargs.get("dataset_options") or {}))
    names = [n for n in names if set(METHODS.get(n).tasks) & set(ds.protocols)]
    kw = dict(run_kwargs)
    dataset_options = kw.pop("dataset_options", None) or {}
    runtime = kw.pop("runtime", None) or {}
    kw["progress"] = False  # progress bars do not belong in log files
    lock_dir = P.jobs_root(out) / "locks"
    chains = [StageChain(RunSpec(method=name, dataset=dataset, seed=seed, out=Path(out),
                                 dataset_options=method_dataset_options(name, dataset, dataset_options),
                                 **kw, **runtime), untrained_references, lock_dir,
                         single_task=not METHODS.get(name).trainable, threads=threads)
              for seed in seeds for name in names]
    chains += [StageChain(RunSpec(method=ref, dataset=dataset, seed=seed, out=Path(out), dataset_options=options,
                                  variant=variant, **kw, **runtime), False, lock_dir, single_task=True, threads=threads)
               for seed in seeds for ref, variant, options in variant_references(
                   names, dataset, dataset_options, run_kwargs.get("data_root"))]
    # the real-data bound once per dataset, under the first seed (as the in-process run and DVC do)
    real_kw = {k: kw[k] for k in ("data_root", "metrics", "device", "weights", "max_clips", "progress") if k in kw}
    chains.append(StageChain(RunSpec(method=P.REAL, dataset=dataset, seed=seeds[0], out=Path(out),
                                     dataset_options=dataset_options, **real_kw), False, lock_dir, single_task=True,
                             threads=threads))
    return chains


def launch_benchmark(methods: str, dataset: str, seeds: list[int], options: JobOptions, *, out: Path = Path("."),
                     wait: bool = True, report: bool = True, console=None, command: list[str] | None = None,
                     poll_s: float = 2.0, **run_kwargs: Any) -> int:
    """Submit one job per (method, seed) and one for the real-data bound; record the launch; with
    ``wait``, wait for them, list the failed ones (with their logs) and render the leaderboard.

    Returns 0, or 1 if a job failed (``wait``) — the same exit codes as the in-process run.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    _submitit()  # a missing extra is said before anything else happens
    options.check_device(run_kwargs.get("device", "cpu"))
    chains = build_chains(methods, dataset, seeds, out=Path(out), threads=options.threads(), **run_kwargs)
    launch_id = _stamp_id()
    folder = Path(options.log_dir or P.jobs_root(out) / "logs") / launch_id
    jobs = _submit(options, folder, chains)
    record = {"launch": launch_id, "launcher": options.launcher, "options": options.to_json(),
              "command": command if command is not None else sys.argv, "dataset": dataset,
              "profile": run_kwargs.get("profile", "smoke"), "seeds": list(seeds), "out": str(out),
              "jobs": [{"name": c.name, "method": c.spec.method, "seed": c.spec.seed,
                        "run_dir": str(c.spec.run_dir), "attempts": [_attempt(j, folder)]}
                       for c, j in zip(chains, jobs)]}
    path = write_json_atomic(launch_file(out, launch_id), record)
    console.print(f"submitted {len(jobs)} {options.launcher} job(s) ({len(chains) - 1} run(s) + the real-data "
                  f"bound); logs in {folder}; record {path}", soft_wrap=True)
    if not wait:
        console.print(f"not waiting: `benchmark jobs --out {out}` shows their state (and --resubmit submits the "
                      f"failed ones again); `benchmark report --dataset {dataset} --runs {P.runs_root(out)}` "
                      f"collects what finished", soft_wrap=True)
        return 0
    try:
        wait_for(jobs, console, poll_s=poll_s)
    except KeyboardInterrupt:
        console.print(f"stopped waiting; {'the Slurm jobs go on: ' if options.launcher == 'slurm' else ''}"
                      f"`benchmark jobs --out {out}` shows them", soft_wrap=True)
        raise
    rows = job_rows(out)
    failed = [r for r in rows if r["launch"] == launch_id and r["state"] == FAILED]
    print_rows([r for r in rows if r["launch"] == launch_id])
    if report:
        from benchmark.report import render_report

        index = render_report(dataset, P.runs_root(out), P.report_dir(out, dataset),
                              profile=run_kwargs.get("profile", "smoke"))
        console.print(f"leaderboard: {index}", soft_wrap=True)
    if failed:
        console.print(f"[red]{len(failed)} job(s) failed[/]; `benchmark jobs --out {out} --resubmit` submits them "
                      f"again", soft_wrap=True)
        return 1
    return 0


def _stamp_id() -> str:
    """``<UTC time>-<pid>-<random>``: names a launch (and a resubmission's log folder) uniquely, also
    for two launches of one process within a second."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{os.urandom(3).hex()}"


def _submit(options: JobOptions, folder: Path, chains: list) -> list:
    """Submit ``chains`` (a function object each, no arguments) as one job array, or two: the chains
    with nothing to train in parallel (:attr:`StageChain.single_task`) ask for one task and at most
    one GPU. Returns the jobs in the order of ``chains``."""
    single = options.single()
    if single == options:
        groups = [(options, list(range(len(chains))))]
    else:
        groups = [(options, [i for i, c in enumerate(chains) if not c.single_task]),
                  (single, [i for i, c in enumerate(chains) if c.single_task])]
    jobs: list = [None] * len(chains)
    for opts, members in groups:
        if not members:
            continue
        executor = make_executor(opts, folder)
        with executor.batch():  # one sbatch call: a Slurm job array (the local executor starts each)
            submitted = [executor.submit(chains[i]) for i in members]
        for i, job in zip(members, submitted):
            jobs[i] = job
    return jobs


def _attempt(job, folder: Path) -> dict[str, Any]:
    return {"job_id": str(job.job_id), "folder": str(folder), "submitted": time.time(),
            "stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)}


def wait_for(jobs: list, console, poll_s: float = 2.0) -> None:
    """Wait until every job has finished, printing each as it ends."""
    pending = list(jobs)
    while pending:
        still = []
        for job in pending:
            if job.done():
                console.print(f"  job {job.job_id} finished ({job.state})", soft_wrap=True)
            else:
                still.append(job)
        pending = still
        if pending:
            time.sleep(poll_s)


# ------------------------------------------------------------------------ launch records ---

def launch_file(out: str | os.PathLike, launch_id: str) -> Path:
    return P.jobs_root(out) / "launches" / f"{launch_id}.json"


def _job_class(launcher: str):
    submitit = _submitit()
    return submitit.SlurmJob if launcher == "slurm" else submitit.LocalJob


def attempt_state(launcher: str, attempt: dict[str, Any]) -> tuple[str, str]:
    """(state, detail) of one submitted job: its result pickle decides when present (done, skipped or
    failed with the error's last line); otherwise Slurm's ``sacct`` state, or for a local job whether
    its controller process still runs (gone without a result: killed)."""
    utils = _submitit().core.utils
    JobPaths, pickle_load = utils.JobPaths, utils.pickle_load

    paths = JobPaths(attempt["folder"], attempt["job_id"], 0)
    if paths.result_pickle.exists():
        outcome, value = pickle_load(paths.result_pickle)
        if outcome == "success":
            value = value if isinstance(value, dict) else {}
            return value.get("status", DONE), value.get("reason", "")
        lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
        return FAILED, lines[-1].strip() if lines else "error"
    if launcher == "slurm":
        state = _job_class("slurm")(attempt["folder"], attempt["job_id"]).state.upper().split(" ")[0]
        if state in _SLURM_WAITING:
            return PENDING, state
        if state in _SLURM_RUNNING:
            return RUNNING, state
        if state == "UNKNOWN":
            return UNKNOWN, "sacct does not know the job (yet)"
        return FAILED, f"{state} without a result"
    if _local_controller_alive(int(attempt["job_id"])):
        return RUNNING, f"pid {attempt['job_id']}"
    return FAILED, "the job's process ended without a result (killed?)"


def _local_controller_alive(pid: int) -> bool:
    """Whether the local executor's controller process ``pid`` still runs (a zombie does not; a pid
    reused by another program does not: its command line is checked where /proc exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # our own finished child is a zombie until reaped: reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists():
        try:
            return b"submitit" in cmdline.read_bytes()  # empty for a zombie
        except OSError:
            return False
    return True


def load_launches(out: str | os.PathLike) -> list[dict[str, Any]]:
    folder = P.jobs_root(out) / "launches"
    return [read_json(f) for f in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def job_rows(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The latest attempt of every job name over all launches into ``out`` (a later launch or
    resubmission of the same run supersedes an earlier one), with its state and log paths."""
    latest: dict[str, dict[str, Any]] = {}
    for launch in load_launches(out):
        for job in launch["jobs"]:
            attempt = job["attempts"][-1]
            prev = latest.get(job["name"])
            if prev is None or attempt["submitted"] >= prev["attempt"]["submitted"]:
                latest[job["name"]] = {"launch": launch["launch"], "launcher": launch["launcher"], "name": job["name"],
                                       "attempt": attempt, "attempts": len(job["attempts"]),
                                       "run_dir": job["run_dir"]}
    rows = []
    for row in latest.values():
        row["state"], row["detail"] = attempt_state(row["launcher"], row["attempt"])
        row["job_id"], row["stdout"], row["stderr"] = (row["attempt"][k] for k in ("job_id", "stdout", "stderr"))
        rows.append(row)
    return sorted(rows, key=lambda r: r["name"])


def print_rows(rows: list[dict[str, Any]]) -> None:
    from benchmark.console import print_tables

    table = [(r["name"], r["launcher"], r["job_id"], r["state"], str(r["attempts"]),
              (r["detail"] + "; " if r["detail"] else "") + (f"log {r['stderr']}" if r["state"] == FAILED else ""))
             for r in rows]
    print_tables([("Jobs", ("job", "launcher", "job id", "state", "attempts", "detail / log"), table)])


def resubmit_failed(out: str | os.PathLike, console=None, names: set[str] | None = None) -> list:
    """Submit every failed job (its latest attempt failed) again with the options of its launch, into
    a new log folder; the launch record gains the attempt. Returns the new jobs."""
    utils = _submitit().core.utils

    failed = [r for r in job_rows(out) if r["state"] == FAILED and (names is None or r["name"] in names)]
    new_jobs = []
    by_launch: dict[str, list[dict[str, Any]]] = {}
    for r in failed:
        by_launch.setdefault(r["launch"], []).append(r)
    for launch_id, rows in by_launch.items():
        path = launch_file(out, launch_id)
        record = read_json(path)
        options = JobOptions.from_json(record["options"])
        chains = []
        for r in rows:
            pkl = utils.JobPaths(r["attempt"]["folder"], r["job_id"], 0).submitted_pickle
            if not pkl.exists():
                raise UserError(f"{r['name']}: its submitted job ({pkl}) is gone, so it cannot be resubmitted; "
                                f"run the same `benchmark run` again (finished runs are reused by content key)")
            chains.append(utils.DelayedSubmission.load(pkl).function)
        by_name = {j["name"]: j for j in record["jobs"]}
        folder = Path(by_name[rows[0]["name"]]["attempts"][0]["folder"]) / f"resubmit-{_stamp_id()}"
        jobs = _submit(options, folder, chains)
        for r, job in zip(rows, jobs):
            by_name[r["name"]]["attempts"].append(_attempt(job, folder))
            if console is not None:
                console.print(f"resubmitted {r['name']} as job {job.job_id}", soft_wrap=True)
        write_json_atomic(path, record)
        new_jobs += jobs
    return new_jobs


# ---------------------------------------------------------------------------------- CLI ---

def run_from_args(args: argparse.Namespace, seeds: list[int]) -> int:
    """``benchmark run --launcher local|slurm``: the in-process run's arguments, as jobs."""
    from benchmark import cli

    if getattr(args, "jobs", 1) > 1:
        raise UserError("--jobs runs methods in worker processes of this one process; with --launcher every "
                        "method is a job of its own already (local jobs all run at once)")
    options = options_from_args(args)
    return launch_benchmark(args.methods, args.dataset, seeds, options, out=args.out, wait=args.wait,
                            report=not args.no_report, profile=args.profile, device=cli._device(args),
                            data_root=args.data_root, metrics=cli._metric_list(args.metrics),
                            overrides=cli._overrides(args.overrides), resume=args.resume, weights=args.weights,
                            untrained_references=args.untrained_references, runtime=cli._runtime_kwargs(args))


def cmd_jobs(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    if not load_launches(args.out):
        raise UserError(f"no jobs were launched into {args.out} (looked for {P.jobs_root(args.out) / 'launches'}); "
                        f"`benchmark run --launcher local|slurm --out {args.out}` launches them")
    if args.resubmit:
        jobs = resubmit_failed(args.out, console)
        if not jobs:
            console.print("no failed job to resubmit")
        if args.wait:
            wait_for(jobs, console)
    elif args.wait:
        while any(_unfinished(r) for r in job_rows(args.out)):
            time.sleep(2.0)
    rows = job_rows(args.out)
    if args.json:
        print(json.dumps([{k: r[k] for k in ("name", "launch", "launcher", "job_id", "state", "detail", "attempts",
                                             "stdout", "stderr", "run_dir")} for r in rows], indent=2))
    else:
        print_rows(rows)
    return 1 if any(r["state"] == FAILED for r in rows) else 0


def _unfinished(row: dict[str, Any], unknown_grace_s: float = 300.0) -> bool:
    """Pending or running; or unknown to ``sacct`` but submitted recently (sacct lags behind sbatch)."""
    if row["state"] == UNKNOWN:
        return time.time() - row["attempt"]["submitted"] < unknown_grace_s
    return row["state"] in (RUNNING, PENDING)


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jobs", help="state and logs of the jobs of `benchmark run --launcher`; resubmit failed ones")
    p.add_argument("--out", type=Path, default=Path("."), help="the --out of `benchmark run` (reads <out>/jobs)")
    p.add_argument("--resubmit", action="store_true",
                   help="submit the failed jobs again (same options; training resumes from its checkpoint)")
    p.add_argument("--wait", action="store_true", help="wait until no job is pending or running")
    p.add_argument("--json", action="store_true", help="print the jobs as JSON")
    p.set_defaults(fn=cmd_jobs)
