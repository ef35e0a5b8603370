"""The moving-shapes evaluator's sanity table: its metrics on graded distortions of held-out real clips.

    .venv/bin/python benchmarks/shapes_evaluator_sanity.py                 # default 64x64 configuration
    .venv/bin/python benchmarks/shapes_evaluator_sanity.py --half-size     # 32x32, half-size objects

Real test clips (128) are distorted (:mod:`benchmark.data.distortions`, levels 0..4) and scored:
``fvd_shapes`` against the real val clips (64), ``is_shapes`` alone (16-frame clips), and
``factors_shapes`` with frames 5..19 as the "prediction" of the 5 context frames (k = 1). Level 0
is the undistorted test split: its ``fvd_shapes`` is the real-vs-real floor. The contract (tested in
``tests/metrics/test_shapes_sanity.py``): every distortion scores worse than level 0 and worse with
each level.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from benchmark.data.moving_shapes import MovingShapesConfig, generate_split
from benchmark.metrics.sensitivity import format_table, metric_sensitivity

HALF_SIZE = {"size": 32, "min_radius": 3, "max_radius": 6}


def real_splits(overrides: dict, test: int = 128, val: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Float ``(N, 20, 3, S, S)`` test and val clips of a moving-shapes configuration."""
    cfg = MovingShapesConfig(split_sizes={"train": 1, "val": val, "test": test}, **overrides)
    return tuple(torch.from_numpy(generate_split(cfg, s)[0]).float() / 255 for s in ("test", "val"))  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--half-size", action="store_true", help="32x32 clips with half-size objects")
    ap.add_argument("--clips", type=int, default=128, help="test clips to distort (val: 64)")
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    test, val = real_splits(HALF_SIZE if args.half_size else {}, test=args.clips)
    t0 = time.time()
    rows = metric_sensitivity(val[:, :16], test[:, :16], ["fvd_shapes", "is_shapes"])
    rows += metric_sensitivity(val, test, ["factors_shapes"], context_frames=5)
    print(f"moving-shapes {'32x32 half-size' if args.half_size else '64x64 default'}: {len(test)} test clips "
          f"vs {len(val)} val clips ({time.time() - t0:.0f} s)")
    print(format_table(rows, ["fvd_shapes", "is_shapes", "factors_shapes_mean", "factors_shapes_static",
                              "factors_shapes_motion"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
