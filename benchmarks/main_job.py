"""Time the main job: `benchmark run --methods all --dataset moving-shapes` (smoke profile).

Runs it twice in a fresh output folder (cold: generate data, train, sample, score, report; warm:
everything cached by content) and prints the wall times and the per-method stage times from the
manifests. Usage: ``.venv/bin/python benchmarks/main_job.py [--methods all] [--keep DIR]``.
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


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="all")
    ap.add_argument("--keep", type=Path, default=None, help="output folder to keep (default: a temp dir)")
    args = ap.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="vidbench-main-job-"))
    out.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("benchmark"))
    cmd = [exe, "run", "--methods", args.methods, "--dataset", "moving-shapes", "--out", str(out),
           "--data-root", str(out / "data"), "--no-progress"]
    cold = timed(cmd, out)
    warm = timed(cmd, out)
    print(f"main job, cold (data + train + sample + score + report): {cold:7.1f} s")
    print(f"main job, warm (everything cached by content):            {warm:7.1f} s")
    print(f"{'method':<16}{'train s':>9}{'sample s':>10}{'score s':>9}")
    for manifest in sorted((out / "runs" / "moving-shapes").glob("*/*/seed0/manifest.json")):
        m = json.loads(manifest.read_text())
        t = m["timings"]
        sample = sum(v for k, v in t.items() if k.startswith("sample_"))
        score = sum(v for k, v in t.items() if k.startswith("evaluate_"))
        print(f"{m['config']['method']:<16}{t.get('train_s', 0):>9.1f}{sample:>10.1f}{score:>9.1f}")
    if args.keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
