"""Start-up and warm-rerun times of the `benchmark` CLI, as ratios to ``python -c "import torch"``.

Goals (issue 20 §4): ``benchmark list`` <= 1.3x and a fully cached rerun of the main job
(the README's ``benchmark run --methods all --dataset moving-shapes --profile cpu --jobs 2``, run again
into the same ``--out``) <= 3x the bare ``import torch`` of the same interpreter on the same machine. The light
verbs (``--help``, ``data info``, ``weights status``) are timed too.

Every command runs ``--repeats`` times, interleaved with the baseline so that a load change on a
shared machine hits both alike; the medians and their ratios are printed with the load average.
The rerun needs the job's outputs in ``--out``: the script runs the job first when they are missing
(minutes: it trains every method), then once more untimed (so whatever was not cached is), then the
timed reruns.

    python benchmarks/startup.py                                  # light verbs only
    python benchmarks/startup.py --rerun --out /tmp/startup-job   # + the cached main job
    python benchmarks/startup.py --rerun --out DIR --data-root DIR/data   # on benchmarks/main_job.py --keep DIR
    python benchmarks/startup.py --rerun --methods copy_last,conv_lstm,tgan --profile smoke --jobs 1 --out /tmp/sub
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOALS = {"list": 1.3, "rerun": 3.0}


def cli() -> list[str]:
    """The console script next to this interpreter (what users run), else ``python -m benchmark.cli``."""
    script = Path(sys.executable).with_name("benchmark")
    return [str(script)] if script.exists() else [sys.executable, "-m", "benchmark.cli"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs per command (the median is reported)")
    ap.add_argument("--rerun", action="store_true", help="also time the fully cached rerun of the main job")
    ap.add_argument("--out", type=Path, default=Path("startup-job"), help="--out of the main job (reused)")
    ap.add_argument("--methods", default="all", help="--methods of the job (a subset is quicker to prepare)")
    ap.add_argument("--dataset", default="moving-shapes")
    ap.add_argument("--profile", default="cpu", help="the main job's (cpu)")
    ap.add_argument("--jobs", type=int, default=2, help="benchmark run --jobs (the main job's: 2)")
    ap.add_argument("--data-root", type=Path, default=None, help="benchmark run --data-root (default: its own)")
    args = ap.parse_args(argv)

    bench = cli()
    commands = {"import torch": [sys.executable, "-c", "import torch"],
                "list": [*bench, "list"],
                "--help": [*bench, "--help"],
                "data info": [*bench, "data", "info", args.dataset],
                "weights status": [*bench, "weights", "status"]}
    if args.rerun:
        job = [*bench, "run", "--methods", args.methods, "--dataset", args.dataset, "--profile", args.profile,
               "--out", str(args.out), "--jobs", str(args.jobs), "--no-progress"]
        if args.data_root is not None:
            job += ["--data-root", str(args.data_root)]
        if not (args.out / "runs" / args.dataset).is_dir():
            print(f"preparing the job's outputs in {args.out} (first run, untimed) ...", flush=True)
            t0 = time.perf_counter()
            subprocess.run(job, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print(f"  first run {time.perf_counter() - t0:.0f} s", flush=True)
        timed(job)  # untimed warm-up: whatever was not cached is now
        commands["rerun"] = job

    times: dict[str, list[float]] = {name: [] for name in commands}
    load_before = os.getloadavg()
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    load_after = os.getloadavg()

    base = statistics.median(times["import torch"])
    print(f"{'command':<16}{'median s':>10}{'ratio':>8}{'goal':>7}   runs (s)")
    failed = False
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = med / base
        goal = GOALS.get(name)
        mark = "" if goal is None else ("  ok" if ratio <= goal else "  MISSED")
        failed |= goal is not None and ratio > goal
        print(f"{name:<16}{med:>10.2f}{ratio:>7.2f}x{(f'{goal:.1f}x' if goal else ''):>7}   "
              f"{', '.join(f'{t:.2f}' for t in ts)}{mark}")
    if args.rerun:
        print(f"rerun: benchmark run --methods {args.methods} --dataset {args.dataset} --profile {args.profile} "
              f"--jobs {args.jobs} --out {args.out} (every stage cached)")
    print(f"load average (1, 5, 15 min): before {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
