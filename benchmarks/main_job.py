"""Time the main job: `benchmark run --methods all --dataset moving-shapes --profile cpu --jobs 2`.

Runs it in a fresh output folder (cold: generate data, train, sample, score, report), optionally
once more (warm: everything cached by content), and prints the wall times and the per-method split
(train / sample / score seconds from each run's manifest, and the videos per second of its sampling
from results.json), slowest first, flagging a method whose training is over its budget (about 40 s:
issue 12 sizes the ``cpu`` profiles so that each *trains* in it; sampling and scoring k samples of
the 128 test clips come on top, the same protocol for every method) and a total over 15 minutes. ``--summarize DIR`` only prints the split of an existing
output folder (e.g. the one CI's main job wrote).

    .venv/bin/python benchmarks/main_job.py [--profile cpu] [--methods all] [--warm] [--keep DIR]
    .venv/bin/python benchmarks/main_job.py --summarize .          # the runs/ of a finished main job
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHOD_BUDGET_S = 40.0
TOTAL_BUDGET_S = 15 * 60.0


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def split(out: Path, dataset: str, profile: str) -> list[tuple[str, float, float, float, float | None]]:
    """``(run name, train s, sample s, score s, videos/s)`` of every run of ``profile`` under
    ``out/runs`` (videos/s: generated videos per second of the method's sampling; None if not recorded)."""
    rows = []
    for manifest in sorted((out / "runs" / dataset).glob(f"*/{profile}/seed*/manifest.json")):
        t = json.loads(manifest.read_text())["timings"]
        sample = sum(v for k, v in t.items() if k.startswith("sample_"))
        score = sum(v for k, v in t.items() if k.startswith("evaluate_"))
        results = manifest.with_name("results.json")
        tasks = json.loads(results.read_text()).get("tasks", {}) if results.exists() else {}
        speeds = [e["sampling"]["videos_per_s"] for e in tasks.values() if "sampling" in e]
        rows.append((manifest.parents[2].name, float(t.get("train_s", 0.0)), sample, score,
                     min(speeds) if speeds else None))
    return sorted(rows, key=lambda r: -(r[1] + r[2] + r[3]))


def print_split(rows: list[tuple[str, float, float, float, float | None]]) -> float:
    print(f"{'run':<22}{'train s':>9}{'sample s':>10}{'score s':>9}{'total s':>9}{'videos/s':>10}")
    for name, tr, sa, sc, vps in rows:
        flag = f"  training over the {METHOD_BUDGET_S:.0f} s budget" if tr > METHOD_BUDGET_S else ""
        speed = f"{vps:>10.1f}" if vps is not None else f"{'-':>10}"
        print(f"{name:<22}{tr:>9.1f}{sa:>10.1f}{sc:>9.1f}{tr + sa + sc:>9.1f}{speed}{flag}")
    summed = sum(r[1] + r[2] + r[3] for r in rows)
    print(f"{'sum of stages':<22}{'':>37}{summed:>9.1f}")
    return summed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="all", help="'all' or a comma list")
    ap.add_argument("--profile", default="cpu", choices=("smoke", "cpu"), help="the main job uses cpu")
    ap.add_argument("--dataset", default="moving-shapes")
    ap.add_argument("--jobs", type=int, default=2, help="benchmark run --jobs (the README's main job uses 2)")
    ap.add_argument("--warm", action="store_true", help="run a second time (everything cached) and time it")
    ap.add_argument("--keep", type=Path, default=None, help="output folder to keep (default: a temp dir)")
    ap.add_argument("--summarize", type=Path, default=None, metavar="DIR",
                    help="print the per-method split of an existing output folder; run nothing")
    args = ap.parse_args()
    if args.summarize is not None:
        print_split(split(args.summarize, args.dataset, args.profile))
        return 0
    out = args.keep or Path(tempfile.mkdtemp(prefix="vidbench-main-job-"))
    out.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("benchmark"))
    cmd = [exe, "run", "--methods", args.methods, "--dataset", args.dataset, "--profile", args.profile,
           "--out", str(out), "--data-root", str(out / "data"), "--jobs", str(args.jobs), "--no-progress"]
    cold = timed(cmd, out)
    print(f"main job ({args.profile} profile), cold (data + train + sample + score + report): {cold:7.1f} s"
          + ("  OVER the 15-minute budget" if cold > TOTAL_BUDGET_S else ""))
    if args.warm:
        print(f"main job, warm (everything cached by content): {timed(cmd, out):7.1f} s")
    print_split(split(out, args.dataset, args.profile))
    if args.keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
