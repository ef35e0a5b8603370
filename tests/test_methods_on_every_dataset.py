"""`benchmark run --methods all` (smoke) works on every registered dataset, on small files in each
dataset's real on-disk format: every method either runs (train, sample, evaluate) or is skipped with
a one-line reason (its profile cannot fit the data, or it needs conditioning the protocols lack).

Kept cheap per method, since every registered method joins automatically: one training step, two
test clips, two samples per context, two offline metrics, no report.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

import pytest
from rich.console import Console

from benchmark.data import load_dataset
from benchmark.paths import run_dir
from benchmark.registry import DATASETS, METHODS
from benchmark.run import run_benchmark
from tests import data_builders as B
from tests.conftest import TINY_SPLITS

#: dataset -> (builder of its raw files under <root>/raw/<name>, constructor options). A new dataset
#: adds its entry here (the test below fails for a registered dataset without one).
BUILDS: dict[str, tuple[Callable[[Path], Any], dict[str, Any]]] = {
    "moving-shapes": (lambda r: None, {"size": 32, "split_sizes": dict(TINY_SPLITS)}),
    "kth": (lambda r: B.build_kth(r / "raw" / "kth", persons=(1, 21), actions=("walking",), scenarios=(1,),
                                  missing=None, truncated=None), {"actions": ["walking"]}),
    "bair": (lambda r: B.build_bair(r / "raw" / "bair", train=3, test=2), {"strict_inputs": False}),
    "mmnist": (lambda r: B.build_mmnist(r / "raw" / "mmnist", test_clips=2), {"strict_inputs": False}),
    "weizmann": (lambda r: B.build_weizmann(r / "raw" / "weizmann", actions=("bend", "walk"), frames=20),
                 {"strict_inputs": False, "actions": ["bend", "walk"]}),
    "chairs": (lambda r: B.build_chairs(r / "raw" / "chairs"), {"strict_inputs": False}),
    "vgan-golf": (lambda r: B.build_vgan(r / "raw" / "vgan-golf", "golf", clips=4, listed=None), {"strict_inputs": False}),
    "vgan-beach": (lambda r: B.build_vgan(r / "raw" / "vgan-beach", "beach", clips=4, listed=None),
                   {"strict_inputs": False}),
    "ucf101": (lambda r: B.build_ucf101(r / "raw" / "ucf101", classes=("YoYo",), groups=(1, 9)),
               {"strict_inputs": False, "classes": ["YoYo"]}),
    "kinetics600": (lambda r: B.build_kinetics(r / "raw" / "kinetics600", per_label=2, frames=20),
                    {"strict_inputs": False, "classes": ["abseiling", "juggling balls"]}),
    # generated (no files): small frames, few videos
    "bouncing-balls": (lambda r: None, {"size": 32, "split_sizes": {"train": 4, "test": 2}}),
}


@pytest.mark.parametrize("dataset", DATASETS.list())
def test_every_method_runs_or_is_skipped_with_a_reason(dataset, tmp_path):
    assert dataset in BUILDS, f"add a builder of {dataset}'s test files to BUILDS"
    build, options = BUILDS[dataset]
    build(tmp_path)
    ds = load_dataset(dataset, tmp_path, **options)
    if hasattr(ds, "prepare"):
        ds.prepare()
    log = io.StringIO()
    code = run_benchmark("all", dataset, out=tmp_path / "out", data_root=tmp_path, progress=False, report=False,
                         dataset_options=options, metrics=["psnr", "fcs"], max_train_steps=1, max_clips=2,
                         max_samples=2, console=Console(file=log, width=400))
    text = log.getvalue()
    assert code == 0, text
    for name in METHODS.list():
        if not set(METHODS.get(name).tasks) & set(ds.protocols):
            continue
        ran = (run_dir(tmp_path / "out", dataset, name, "smoke", 0) / "results.json").is_file()
        skipped = [line for line in text.splitlines() if "skipped:" in line and name in line]
        assert ran or skipped, f"{name} on {dataset}: neither results nor a reason\n{text}"
