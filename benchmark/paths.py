"""Where everything of a run lives: the one module that knows the run-folder layout.

::

    <out>/runs/<dataset>/<method>/<profile>/seed<seed>/     (the real-data bound: profile "data")
        train/                      single-stage training: model.pt, config.json, train_log.jsonl,
                                    checkpoint.pt, train_config.json, stage.json, tensorboard/ (event
                                    files of the same curves, when tensorboard is installed)
        train/<stage>/              multi-stage training (Method.stages()): the same files per stage
        samples/<task>.npz|.gif     samples and their gallery (+ samples/<task>_<view>.gif,
                                    samples/<task>_likelihood.npz), samples/stage-<task>.json
        scores/<task>.json          metric values of a task, scores/stage-<task>.json
        results.json, manifest.json
    <out>/cache/features/           content-keyed feature cache of the pretrained-network metrics
    <out>/jobs/                     `benchmark run --launcher`: launches/<launch>.json, locks/, logs/
    <out>/reports/<dataset>/        the leaderboard

>>> run_dir(Path("out"), "kth", "svg", "smoke", 0).as_posix()
'out/runs/kth/svg/smoke/seed0'
>>> train_dir(("train",), "train"), train_dir(("autoencoder", "gmm"), "gmm")
('train', 'train/gmm')
>>> stage_file("train/gmm"), stage_file("sample/prediction")
('train/gmm/stage.json', 'samples/stage-prediction.json')
"""

from __future__ import annotations

from pathlib import Path

REAL = "real"               # the "method" name of the real-data bound
REAL_PROFILE = "data"       # ... and its profile folder
UNTRAINED = "@init"         # suffix of a reference run of a network at its (seeded) initialisation: vgan@init

MODEL = "model.pt"
CONFIG = "config.json"
TRAIN_LOG = "train_log.jsonl"
TENSORBOARD = "tensorboard"  # TensorBoard event files beside TRAIN_LOG (benchmark/training/tensorboard.py)
CHECKPOINT = "checkpoint.pt"
PENDING = "pending.json"
STAGE_RECORD = "stage.json"
RESULTS = "results.json"
MANIFEST = "manifest.json"


def run_dir(out: str | Path, dataset: str, method: str, profile: str, seed: int) -> Path:
    """``<out>/runs/<dataset>/<method>/<profile>/seed<seed>`` (profile ``data`` for the real bound)."""
    return run_folder(runs_root(out), dataset, method, profile, seed)


def run_folder(runs: str | Path, dataset: str, method: str, profile: str, seed: int) -> Path:
    """The same folder under a runs root (``<out>/runs``) given directly."""
    return Path(runs) / dataset / method / (REAL_PROFILE if method == REAL else profile) / f"seed{seed}"


def runs_root(out: str | Path) -> Path:
    return Path(out) / "runs"


def report_dir(out: str | Path, dataset: str) -> Path:
    return Path(out) / "reports" / dataset


def jobs_root(out: str | Path) -> Path:
    """``<out>/jobs``: launch records, run locks and (by default) the logs of cluster jobs."""
    return Path(out) / "jobs"


def feature_cache_dir(out: str | Path) -> Path:
    return Path(out) / "cache" / "features"


# ------------------------------------------------------------------------------- training ---

def train_dir(stages: tuple[str, ...], stage: str) -> str:
    """Run-relative folder of training stage ``stage``: ``train`` for a single-stage method (as
    before stages existed), ``train/<stage>`` for each stage of a multi-stage one."""
    return "train" if tuple(stages) == ("train",) else f"train/{stage}"


def train_record(stages: tuple[str, ...], stage: str) -> str:
    """The record name of a training stage (see :func:`stage_file`)."""
    return train_dir(stages, stage)


# -------------------------------------------------------------------------- sample/evaluate ---

def samples(task: str) -> str:
    return f"samples/{task}.npz"


def gallery(task: str) -> str:
    return f"samples/{task}.gif"


def view_gallery(task: str, view: str) -> str:
    return f"samples/{task}_{view}.gif"


def likelihoods(task: str) -> str:
    """Per-video log-likelihoods (nats) of the reference clips, for ``bits_per_dim``."""
    return f"samples/{task}_likelihood.npz"


def scores(task: str) -> str:
    return f"scores/{task}.json"


def stage_file(stage: str) -> str:
    """Where a stage's record lives: inside the folder that holds its outputs (one DVC out each).

    ``train`` and ``train/<stage>`` -> ``<that folder>/stage.json``; ``sample/<task>`` ->
    ``samples/stage-<task>.json``; ``evaluate/<task>`` -> ``scores/stage-<task>.json``.
    """
    kind, _, task = stage.partition("/")
    if kind == "train":
        return f"{stage}/{STAGE_RECORD}"
    folder = {"sample": "samples", "evaluate": "scores"}[kind]
    return f"{folder}/stage-{task}.json"
