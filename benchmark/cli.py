"""`benchmark` command line: one verb per function.

    benchmark list
    benchmark run --methods all --dataset moving-shapes [--profile smoke|cpu|paper] [--seed 0 | --seeds 0,1,2] [--out .]
        [--launcher slurm|local --slurm-partition P --slurm-gpus N --slurm-time MIN --no-wait]
    benchmark jobs [--resubmit] [--wait]                   (state and logs of the launched jobs)
    benchmark train|sample|evaluate METHOD --dataset D     (the DVC stages, one at a time)
    benchmark report --dataset D [--format html|latex|markdown|csv]
    benchmark score REAL FAKE --metrics psnr,ssim,fcs [--preset svg] [--frames T --resolution HxW] [--json OUT]
    benchmark check --baseline reports/baseline/moving-shapes.json
    benchmark manifest verify RUN_DIR_OR_MANIFEST
    benchmark data fetch|verify|prepare|info NAME   (benchmark/data/cli.py)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from benchmark.console import print_tables
from benchmark.registry import DATASETS, METHODS, METRICS, UnknownNameError
from benchmark.utils import UserError

#: Exit codes of every verb (also in ``benchmark --help`` and docs/cli.md).
EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES = {EXIT_OK: "success",
              EXIT_CHECK_FAILED: "a check failed (benchmark check: drift; manifest/data verify: a mismatch)",
              EXIT_USAGE: "usage or input error (bad arguments, unknown names, missing files or weights)"}
EPILOG = ("exit codes:\n" + "".join(f"  {k}    {v}\n" for k, v in EXIT_CODES.items())
          + "  130  interrupted (finished stages are kept)\n"
          + "  141  the reader of stdout closed the pipe (as in `benchmark list | head`)\n"
          + "off a terminal, tables print as plain untruncated rows; see docs/cli.md")


def _add_run_options(p: argparse.ArgumentParser, dataset_required: bool = True, several_seeds: bool = False) -> None:
    p.add_argument("--dataset", required=dataset_required, help="registered dataset name")
    p.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "paper", "official"),
                   help="smoke: tiny, CPU, seconds (pipeline check); cpu: learns on a 2-core CPU in about a "
                        "minute (methods without one are skipped, with the reason); paper: the paper's "
                        "hyperparameters (GPU); official: weights imported by `benchmark weights "
                        "import-official` (never trained here)")
    seed = p.add_mutually_exclusive_group() if several_seeds else p
    seed.add_argument("--seed", type=int, default=0, help="random seed of training, sampling and metrics")
    if several_seeds:
        seed.add_argument("--seeds", default=None, metavar="LIST|N",
                          help="run every method once per seed: a comma list (0,1,2) or a count N for seeds "
                               "0..N-1; the leaderboard shows mean ± std over seeds")
    p.add_argument("--out", type=Path, default=Path("."), help="writes <out>/runs and <out>/reports")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:1 or auto (CUDA if present); default: auto for --profile paper, else cpu")
    p.add_argument("--data-root", type=Path, default=None, help="prepared data (default $VIDBENCH_DATA or ./data)")
    p.add_argument("--metrics", default=None, help="comma list (default: every applicable offline metric)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field of the method, e.g. --set train.steps=50")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--weights", default="pinned", choices=("pinned", "random"),
                   help="feature-network weights for FVD/IS/MCS/LPIPS: pinned (manifests/weights.yaml) or "
                        "random (pipeline tests; numbers labelled not comparable)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"),
                   help="training precision: fp32 (true float32 on every device; TF32 off), tf32 (CUDA "
                        "tensor cores), bf16 (autocast); recorded in stage.json, the manifest and the cache key")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN autotune convolutions (recorded)")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels only (torch.use_deterministic_algorithms; recorded)")
    p.add_argument("--compile", action="store_true", help="torch.compile the trained modules (recorded)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="continue a killed training run from its last checkpoint (default; only when "
                        "config, seed, data and code are unchanged); --no-resume starts over")


#: ``benchmark score --preset`` choices: the papers' conventions of psnr/ssim (``benchmark.score.PRESETS``,
#: written out so that building the parser imports no metric code; a test keeps the two equal)
SCORE_PRESETS = ("savp", "svg", "srvp")


def score_presets() -> tuple[str, ...]:
    return SCORE_PRESETS


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _metric_list(spec: str | None) -> list[str] | None:
    return None if spec is None else METRICS.resolve(spec)


def _overrides(items: list[str]) -> dict[str, str]:
    from benchmark.config import parse_override_args

    return parse_override_args(items)


def _device(args: argparse.Namespace) -> str:
    """``--device``, or the profile's default (:func:`benchmark.stages.spec.default_device`)."""
    from benchmark.stages.spec import default_device

    return args.device or default_device(args.profile)


def _runtime_kwargs(args: argparse.Namespace) -> dict:
    """The training's numeric options from the CLI flags (RunSpec fields)."""
    return {"precision": args.precision, "cudnn_benchmark": args.cudnn_benchmark,
            "deterministic": args.deterministic, "compile": args.compile}


def _spec(args: argparse.Namespace, method: str):
    from benchmark.stages.spec import RunSpec, method_dataset_options

    DATASETS.get(args.dataset)
    if method != "real":
        METHODS.get(method)
    return RunSpec(method=method, dataset=args.dataset, profile=args.profile, seed=args.seed, out=args.out,
                   overrides=_overrides(args.overrides), device=_device(args), data_root=args.data_root,
                   metrics=_metric_list(args.metrics), progress=not args.no_progress, resume=args.resume,
                   weights=getattr(args, "weights", "pinned"), variant=getattr(args, "variant", "") or "",
                   **_runtime_kwargs(args),
                   dataset_options=(method_dataset_options(method, args.dataset, _dataset_options(args))
                                    if method != "real" else _dataset_options(args)))


def _dataset_options(args: argparse.Namespace) -> dict:
    """``-o KEY=VALUE`` dataset options of train/sample/evaluate (e.g. mmnist's motion=stochastic)."""
    from benchmark.data.cli import _options

    return _options(getattr(args, "dataset_option", None))


# ----------------------------------------------------------------------------------- verbs ---

def cmd_list(args: argparse.Namespace) -> int:
    from benchmark.methods import describe_method

    methods = [describe_method(METHODS.get(n)) for n in METHODS.list()]
    if args.dataset:
        for m in methods:
            m["on_dataset"] = {"dataset": args.dataset, "profiles": _profiles_on(m["name"], args)}
    datasets = []
    for n in DATASETS.list():
        ds = DATASETS.get(n)
        try:
            inst = ds(root=args.data_root) if args.data_root else ds()
            protos = {t: {"train": p.train.describe(), "test": p.test.describe()} for t, p in inst.protocols.items()}
        except Exception as e:  # a dataset that cannot even describe itself should not break `list`
            protos = {"error": str(e)}
        datasets.append({"name": n, "description": getattr(ds, "description", ""), "protocols": protos})
    facts = {n: METRICS.info(n) for n in METRICS.list()}  # declared facts: imports no metric code
    metrics = [{"name": n, "kind": f.kind, "tasks": list(f.tasks), "higher_is_better": f.higher_is_better,
                "requires_weights": getattr(f, "requires_weights", False),
                "weights_shipped": getattr(f, "weights_shipped", False),
                "datasets": list(getattr(f, "datasets", None) or [])} for n, f in facts.items()]
    if args.json:
        print(json.dumps({"methods": methods, "datasets": datasets, "metrics": metrics}, indent=2))
        return 0
    tables = [("Methods" + (f" (profiles on {args.dataset})" if args.dataset else ""),
               ("name", "tasks", "stochastic", "trained", "profiles", "paper"), []),
              ("Datasets", ("name", "task", "train protocol", "test protocol"), []),
              ("Metrics", ("name", "kind", "tasks", "better", "pretrained weights", "datasets"), [])]
    for m in methods:
        profiles = ", ".join(m["profiles"])
        if "on_dataset" in m:
            profiles = "; ".join(p if why == "ok" else f"{p}: {why}" for p, why in m["on_dataset"]["profiles"].items())
        tables[0][2].append((m["name"], ", ".join(m["tasks"]), str(m["stochastic"]), str(m["trainable"]), profiles,
                             m["paper"]))
    for d in datasets:
        for task, p in d["protocols"].items():
            tables[1][2].append((d["name"], task, *(p.values() if isinstance(p, dict) else (str(p), ""))))
    for m in metrics:
        tables[2][2].append((m["name"], m["kind"], ", ".join(m["tasks"]), "higher" if m["higher_is_better"] else "lower",
                             ("shipped" if m["weights_shipped"] else "yes") if m["requires_weights"] else "no",
                             ", ".join(m["datasets"]) + " only" if m["datasets"] else "any"))
    print_tables(tables)
    return 0


def _profiles_on(method: str, args: argparse.Namespace) -> dict[str, str]:
    """profile -> "ok" or the one-line reason it cannot fit ``args.dataset`` (its protocols and frames),
    or why the method cannot run there at all."""
    from benchmark.data import load_dataset
    from benchmark.methods import DataSpec, ProfileUnavailable

    cls = METHODS.get(method)
    try:
        ds = load_dataset(args.dataset, args.data_root)
        if not set(cls.tasks) & set(ds.protocols):
            return {p: f"no {'/'.join(cls.tasks)} protocol" for p in sorted(cls.profiles)}
        spec = DataSpec.of(ds, cls.tasks)
    except Exception as e:  # a dataset that cannot describe itself (not prepared) should not break `list`
        return {p: f"unknown ({type(e).__name__}: {e})" for p in sorted(cls.profiles)}
    out = {}
    for profile in sorted(cls.profiles):
        try:
            cls.profile_config(profile, spec)
            out[profile] = "ok"
        except ProfileUnavailable as e:
            out[profile] = str(e)
    return out


def _seed_list(args: argparse.Namespace) -> list[int]:
    """``--seeds`` parsed (:func:`benchmark.seeds.parse_seeds`), else ``[--seed]``."""
    from benchmark.seeds import parse_seeds

    return parse_seeds(args.seeds) if getattr(args, "seeds", None) is not None else [args.seed]


def cmd_run(args: argparse.Namespace) -> int:
    seeds = _seed_list(args)  # a bad --seeds fails before anything is imported or run
    from benchmark.run import run_benchmark
    from benchmark.training import distributed as D

    if D.launched_by_torchrun():  # N uncoordinated copies would write the same run folders
        raise UserError("`benchmark run` is not distributed: under torchrun train each method with `torchrun ... "
                        "benchmark train METHOD --dataset D`, then `benchmark run` (one process) reuses the "
                        "trained weights (cached by content) to sample, score and report")
    DATASETS.get(args.dataset)
    METHODS.resolve(args.methods)
    if args.launcher != "none":  # one cluster job per (method, dataset, profile, seed): benchmark/launch.py
        from benchmark.launch import run_from_args

        return run_from_args(args, seeds=seeds)
    return run_benchmark(args.methods, args.dataset, profile=args.profile, seeds=seeds, out=args.out,
                         device=_device(args), data_root=args.data_root, metrics=_metric_list(args.metrics),
                         overrides=_overrides(args.overrides), progress=not args.no_progress,
                         report=not args.no_report, resume=args.resume, weights=args.weights,
                         untrained_references=args.untrained_references, runtime=_runtime_kwargs(args),
                         jobs=args.jobs)


def cmd_train(args: argparse.Namespace) -> int:
    """Train one method; under ``torchrun --nproc_per_node N`` it trains with DDP (gloo on CPU)."""
    from benchmark.stages.train import stage_train
    from benchmark.training import distributed as D

    import torch

    requested = _device(args)
    wants_cuda = requested.startswith("cuda") or (requested == "auto" and torch.cuda.is_available())
    if D.launched_by_torchrun() and wants_cuda and not torch.cuda.is_available():
        raise UserError(f"torchrun with --device {requested}, but CUDA is not available here; refusing to "
                        f"fall back to gloo on the CPU (pass --device cpu to train on the CPU on purpose)")
    info = D.setup(None if wants_cuda else "gloo")  # NCCL on CUDA; gloo when the CPU is asked for
    try:
        spec = _spec(args, args.method)
        if info.distributed:
            spec.device = str(info.device)
        method, rec = stage_train(spec, only=args.stage)
        if D.is_main_process():
            from benchmark import paths as P

            stages = tuple(method.stages())
            stage = args.stage or stages[-1]
            print(f"{spec.run_dir / P.train_dir(stages, stage) / P.MODEL} (train {rec.get('seconds', 0):.1f}s, "
                  f"{info.world_size} process(es))")
    finally:
        D.teardown()
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from benchmark import paths as P
    from benchmark.stages.sample import runnable_tasks, stage_sample
    from benchmark.stages.spec import open_dataset
    from benchmark.stages.train import stage_train

    spec = _spec(args, args.method)
    ds = open_dataset(spec)
    method, rec = stage_train(spec, ds)
    tasks, why = runnable_tasks(method, ds)
    if not tasks:
        raise UserError("; ".join(why.values()))
    for task in tasks:
        stage_sample(spec, method, task, ds, train_key=rec["key"])
        print(spec.run_dir / P.samples(task))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from benchmark.stages.evaluate import evaluate_run
    from benchmark.stages.real import run_real

    spec = _spec(args, args.method)
    path = run_real(spec) if args.method == "real" else evaluate_run(spec)
    print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.report import render_report

    DATASETS.get(args.dataset)
    out = args.out or Path("reports") / args.dataset
    if args.format != "html":
        from benchmark.report.tables import export_report

        path, text = export_report(args.dataset, args.runs, out, args.format, profile=args.profile)
        sys.stdout.write(text)
        print(f"wrote {path}", file=sys.stderr)
        return 0
    print(render_report(args.dataset, args.runs, out, profile=args.profile))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from benchmark.score import run_score

    return run_score(args.real, args.fake, args.metrics, args.json, batch_size=args.batch_size, weights=args.weights,
                     device=args.device, num_workers=args.num_workers, frames=args.frames,
                     resolution=args.resolution, preset=args.preset, cache_dir=args.cache_dir,
                     progress=not args.no_progress)


def cmd_check(args: argparse.Namespace) -> int:
    from benchmark import drift

    if args.update_baseline:
        return drift.run_update_baseline(args.baseline, results=args.results, run_root=args.runs,
                                         dataset=args.dataset, profile=args.profile,
                                         abs_tol=args.abs, rel_tol=args.rel,
                                         skip_incomparable=args.skip_incomparable)
    return drift.run_check(args.baseline, results=args.results, run_root=args.runs, strict=args.strict,
                           show_all=args.all, as_json=args.json)


def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from benchmark.stages.verify import verify_run

    problems = verify_run(args.path, data_root=args.data_root)
    if args.json:
        print(json.dumps({"path": str(args.path), "ok": not problems, "problems": list(problems)}, indent=2))
        return EXIT_CHECK_FAILED if problems else EXIT_OK
    if problems:
        print(f"{args.path}: {len(problems)} mismatch(es):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"{args.path}: OK (artifact hashes match; metrics recomputed from the saved samples agree)")
    return 0


# ---------------------------------------------------------------------------------- parser ---

def _add_plugins(sub: argparse._SubParsersAction) -> None:
    """The verbs of the subsystems (each module defines ``add_cli(subparsers)``), imported explicitly:
    a plugin that fails to import is an error, never a silently missing verb."""
    from benchmark import launch, weights
    from benchmark.crowd import cli as crowd_cli
    from benchmark.data import cli as data_cli
    from benchmark.reproduce import cli as reproduce_cli

    for module in (weights, launch, data_cli, reproduce_cli, crowd_cli):
        module.add_cli(sub)


def build_parser() -> argparse.ArgumentParser:
    from benchmark import launch

    parser = argparse.ArgumentParser(prog="benchmark", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("list", help="registered methods, datasets, metrics")
    p.add_argument("--json", action="store_true", help="print JSON (methods, datasets, metrics) instead of tables")
    p.add_argument("--data-root", type=Path, default=None, help="prepared data (default $VIDBENCH_DATA or ./data)")
    p.add_argument("--dataset", default=None,
                   help="also say, per method, which profiles fit this dataset (and why not)")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("run", help="train, sample, evaluate methods on a dataset and render the report")
    p.add_argument("--methods", default="all", help="'all', a comma list, or globs")
    _add_run_options(p, several_seeds=True)
    p.add_argument("--no-report", action="store_true", help="do not render the leaderboard")
    p.add_argument("--untrained-references", action=argparse.BooleanOptionalAction, default=True,
                   help="also score each trained synthesis method's network at its seeded initialisation "
                        "(reference rows '<method> (untrained)', never ranked; default on)")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="methods run at once, each in its own process with cpu_count/N threads (default 1: "
                        "one after another); the main job's small networks train about 2x faster with "
                        "--jobs 2 on 2 cores than one at a time with 2 threads")
    launch.add_run_options(p)
    p.set_defaults(fn=cmd_run)

    for verb, fn, helptext in (("train", cmd_train, "train one method (cached)"),
                               ("sample", cmd_sample, "sample one trained method (cached)"),
                               ("evaluate", cmd_evaluate, "score one method's samples; METHOD 'real' = bound")):
        p = sub.add_parser(verb, help=helptext)
        p.add_argument("method", help="registered method name (`benchmark list`)" + ("; 'real' scores the real test clips (the bound)" if verb == "evaluate" else ""))
        _add_run_options(p)
        p.add_argument("--dataset-option", "-o", action="append", metavar="KEY=VALUE",
                       help="dataset option, e.g. -o motion=stochastic for SVG's SM-MNIST (repeatable; the same "
                            "for train, sample and evaluate of a run)")
        p.add_argument("--variant", default="", metavar="NAME",
                       help="name the run <method>@NAME: a baseline on a dataset variant that another method "
                            "needs, with that variant's -o options (e.g. copy_last --variant two_ended -o "
                            "two_ended=true: the rows `benchmark run` adds for P2P's two-ended protocol)")
        if verb == "train":
            p.add_argument("--stage", default=None,
                           help="train up to this stage of a multi-stage method (the earlier ones must be "
                                "trained); default: every stage in order")
        p.set_defaults(fn=fn)

    p = sub.add_parser("report", help="render reports/<dataset>/index.html from run results")
    p.add_argument("--dataset", required=True, help="registered dataset name")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder (reads runs/<dataset>/**/results.json)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default reports/<dataset>)")
    p.add_argument("--profile", default=None, help="only runs of this profile (real-data runs are always kept)")
    p.add_argument("--format", default="html", choices=("html", "latex", "markdown", "csv"),
                   help="html: the leaderboard page (which also writes and links the three table files); latex, "
                        "markdown, csv: print the leaderboard tables (mean ± std over seeds, best in bold) and "
                        "write <out>/leaderboard.tex|md|csv")
    p.set_defaults(fn=cmd_report)

    p = sub.add_parser("score", help="metrics between two sets of videos (folders of mp4/gif/npz, or npz)")
    p.add_argument("real", type=Path, help="reference videos: a folder of mp4/avi/gif/npz files or of frame "
                                          "folders, one video file, or an .npz")
    p.add_argument("fake", type=Path, help="generated/predicted videos, in the same forms; paired metrics "
                                          "(psnr, ssim) pair the i-th fake with the i-th real video by sorted name")
    p.add_argument("--metrics", default="psnr,ssim,fcs", help="comma list of metric names or globs, or 'all'")
    p.add_argument("--json", type=Path, default=None,
                   help="also write the result as JSON (metrics as the pipeline's MetricValue entries, "
                        "metric_protocols, options, inputs with sha256); '-': print only the JSON, to stdout")
    p.add_argument("--weights", default="pinned", choices=("pinned", "random"),
                   help="feature-network weights for FVD/IS/LPIPS/...: pinned (manifests/weights.yaml) or random "
                        "(pipeline tests; numbers labelled not comparable)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--batch-size", type=int, default=16, help="videos per metric update")
    p.add_argument("--num-workers", type=int, default=0, help="threads decoding the video files (0: none)")
    p.add_argument("--frames", type=int, default=None,
                   help="keep the first T frames of every video (a shorter video is an error)")
    p.add_argument("--resolution", default=None, metavar="H[xW]",
                   help="resize every frame to H x W pixels (bilinear, antialiased), e.g. 64 or 48x64")
    p.add_argument("--preset", default=None, choices=score_presets(),
                   help="a prediction paper's metric conventions for psnr/ssim (SAVP, SVG or SRVP evaluation "
                        "code); the protocol records them")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="feature cache of pretrained-network metrics (real-set features are reused)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(fn=cmd_score)

    p = sub.add_parser("check", help="compare results with a committed baseline (tolerance bands)")
    p.add_argument("--baseline", type=Path, required=True, help="baseline JSON, e.g. reports/baseline/moving-shapes.json")
    p.add_argument("--results", type=Path, default=None, help="long-format results.csv (default: scan --runs)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder scanned when --results is not given")
    p.add_argument("--strict", action="store_true", help="metrics missing from the baseline also fail")
    p.add_argument("--update-baseline", action="store_true", help="(re)write the baseline from the results")
    p.add_argument("--dataset", default=None, help="with --update-baseline (default: from the baseline/results)")
    p.add_argument("--profile", default="smoke", help="with --update-baseline: the profile the baseline is for")
    p.add_argument("--abs", type=float, default=None, help="default absolute band for new entries")
    p.add_argument("--rel", type=float, default=None, help="default relative band for new entries")
    p.add_argument("--skip-incomparable", action="store_true",
                   help="with --update-baseline: leave out numbers marked not comparable")
    p.add_argument("--all", action="store_true", help="list metrics within their band too")
    p.add_argument("--json", action="store_true", help="print the report as JSON (every row, its band and status)")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("manifest", help="manifest tools")
    msub = p.add_subparsers(dest="manifest_verb", required=True)
    q = msub.add_parser("verify", help="re-hash artifacts and recompute metrics from saved samples")
    q.add_argument("path", type=Path, help="a run folder or its manifest.json")
    q.add_argument("--data-root", type=Path, default=None, help="prepared data (default $VIDBENCH_DATA or ./data)")
    q.add_argument("--json", action="store_true", help="print {path, ok, problems} as JSON (exit 1 on a mismatch)")
    q.set_defaults(fn=cmd_manifest_verify)

    _add_plugins(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the verb; returns the exit code (see :data:`EXIT_CODES`)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows up here for buffered output
        return code
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our stdout went away (``benchmark list --json | head -1``): stop quietly, as
    Unix tools do when SIGPIPE ends them (exit 128 + SIGPIPE), without a traceback.

    SIGPIPE itself stays ignored (Python's default) so sockets, e.g. ``benchmark crowd serve``, get
    an error instead of killing the process; stdout is pointed at /dev/null so the interpreter's own
    flush at exit does not fail a second time."""
    import os
    import signal

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 128 + int(getattr(signal, "SIGPIPE", 13))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(args) or 0)
    except BrokenPipeError:
        raise
    except (UserError, UnknownNameError, ValueError, FileNotFoundError) as e:
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run the same command again to resume", file=sys.stderr)
        return 130

if __name__ == "__main__":
    sys.exit(main())
