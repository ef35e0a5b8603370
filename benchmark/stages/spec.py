"""What identifies a run (:class:`RunSpec`), and the dataset and method it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmark import paths as P
from benchmark.data import load_dataset
from benchmark.data.base import Protocol, SplitData, VideoDataset
from benchmark.methods import DataSpec, Method
from benchmark.registry import DATASETS, METHODS
from benchmark.utils import UserError

EVAL_BATCH = 32
#: The profile of weights imported from an official checkpoint (benchmark/official_import.py).
IMPORTED_PROFILE = "official"


@dataclass
class RunSpec:
    """Everything that identifies one run of one method on one dataset."""

    method: str
    dataset: str
    profile: str = "smoke"
    seed: int = 0
    out: Path = Path(".")
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    data_root: Path | None = None
    metrics: list[str] | None = None  # None: every applicable offline metric
    progress: bool = True
    dataset_options: dict[str, Any] = field(default_factory=dict)  # e.g. smaller splits in tests
    weights: str = "pinned"  # feature networks: "pinned" or "random" (numbers labelled not comparable)
    resume: bool = True  # continue a killed training run of the same key from its checkpoint
    # Indices of the training split's clips to train on (None: all of them), e.g. a recipe that
    # holds identity x action cells out; part of the training key and recorded in stage.json.
    train_clips: tuple[int, ...] | None = None
    # Cap every training stage's optimiser steps (quick checks that every method runs on a dataset,
    # e.g. the `--methods all` test on each dataset's test files; such numbers mean nothing). Applied
    # to the resolved config, so it is part of the key and of config.json.
    max_train_steps: int | None = None
    # Quick checks only: evaluate on the first ``max_clips`` test clips and at most ``max_samples``
    # samples per context (the protocol record and the keys say so).
    max_clips: int | None = None
    max_samples: int | None = None
    # A reference run of the network at its seeded initialisation, never trained (``<method>@init``):
    # the scale a trained number is read against (issue: "does it learn at all?").
    untrained: bool = False
    # A baseline run on a variant of the dataset that another method of the same benchmark needs
    # (``Method.dataset_options``, e.g. P2P's ``two_ended``): ``<method>@<variant>`` (``copy_last@two_ended``),
    # so that variant's protocol table has its scale rows too (benchmark/run.py ``variant_references``).
    variant: str = ""
    # Numeric options of training (benchmark.training.runtime): fp32 | tf32 | bf16, cuDNN autotuning,
    # deterministic kernels, torch.compile. Recorded in stage.json / the manifest / the training key.
    precision: str = "fp32"
    cudnn_benchmark: bool = False
    deterministic: bool = False
    compile: bool = False

    def runtime_options(self):
        from benchmark.training.runtime import RuntimeOptions

        return RuntimeOptions(precision=self.precision, cudnn_benchmark=self.cudnn_benchmark,
                              deterministic=self.deterministic, compile=self.compile)
    # One seed per RunSpec: ``--seeds`` makes one RunSpec per (method, seed) in the runner
    # (benchmark/run.py); reports and the drift check pool them (benchmark/seeds.py).

    @property
    def run_name(self) -> str:
        """The run's name in folders and results: the method, ``<method>@init`` for an untrained reference,
        ``<method>@<variant>`` for a baseline on a dataset variant."""
        name = self.method + P.UNTRAINED if self.untrained else self.method
        return f"{name}@{self.variant}" if self.variant else name

    @property
    def run_dir(self) -> Path:
        return P.run_dir(self.out, self.dataset, self.run_name, self.profile, self.seed)


def reference_for(spec: RunSpec, ds: VideoDataset, task: str) -> tuple[Protocol, SplitData]:
    """The test protocol of ``task`` and its reference clips under the run's quick-check limits
    (``max_clips``, ``max_samples``); what the sample, evaluate and verify stages all use."""
    protocol, ref = ds.reference(task, spec.max_clips)
    if spec.max_samples is not None and protocol.samples_per_context > spec.max_samples:
        protocol = protocol.replace(samples_per_context=spec.max_samples)
    return protocol, ref


def method_dataset_options(method: str, dataset: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``options`` plus the dataset options ``method`` needs (``Method.dataset_options``, e.g. P2P's
    ``two_ended``) that ``dataset``'s loader accepts; options given explicitly win.

    >>> method_dataset_options("p2p", "moving-shapes")
    {'two_ended': True}
    >>> method_dataset_options("copy_last", "moving-shapes", {"size": 32})
    {'size': 32}
    """
    import inspect

    needed = METHODS.get(method).dataset_options if method in METHODS else {}
    accepted = inspect.signature(DATASETS.get(dataset)).parameters
    return {**{k: v for k, v in needed.items() if k in accepted}, **(options or {})}


def open_dataset(spec: RunSpec) -> VideoDataset:
    """The run's dataset (its data root and options)."""
    return load_dataset(spec.dataset, spec.data_root, **spec.dataset_options)


def data_spec(ds: VideoDataset, tasks: tuple[str, ...] | list[str]) -> DataSpec:
    """What a method built for ``tasks`` on ``ds`` is told about the data (:meth:`DataSpec.of`)."""
    return DataSpec.of(ds, tasks)


def default_device(profile: str) -> str:
    """The device a run gets when none is asked for: ``auto`` (CUDA if present) for the ``paper``
    profile, which is sized for a GPU, and for imported official weights (``official``, paper-sized); ``cpu`` for ``cpu``/``smoke``, which are sized for a CPU and
    whose recorded numbers (the drift baseline) are CPU numbers.

    >>> default_device("paper"), default_device("cpu")
    ('auto', 'cpu')
    """
    return "auto" if profile in ("paper", IMPORTED_PROFILE) else "cpu"


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA if present, else the CPU; an explicit CUDA device that is not there is an
    error (never a silent fallback to the CPU: a paper profile on a CPU takes weeks)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available here (torch {torch.__version__}, "
                        f"torch.version.cuda={torch.version.cuda}); use --device cpu, or auto to take CUDA "
                        f"where present")
    return resolved


def build_method(spec: RunSpec, ds: VideoDataset) -> Method:
    """The method of ``spec`` built from its profile for ``ds`` (raises ProfileUnavailable when it cannot fit)."""
    cls = METHODS.get(spec.method)
    if not set(cls.tasks) & set(ds.protocols):
        raise UserError(f"method {spec.method!r} does {list(cls.tasks)}; dataset {ds.name!r} "
                        f"has protocols for {list(ds.protocols)}")
    dspec = data_spec(ds, cls.tasks)
    if spec.profile == IMPORTED_PROFILE:  # the config the import inferred from the official checkpoint
        from benchmark.official_import import imported_config

        if spec.overrides:
            raise UserError(f"--set does not apply to imported weights (profile {IMPORTED_PROFILE!r}): their "
                            f"architecture is the checkpoint's")
        config = imported_config(spec.run_dir, cls)
    else:
        config = cls.profile_config(spec.profile, dspec, spec.overrides)
    if spec.max_train_steps is not None:
        config = cap_train_steps(config, spec.max_train_steps)
    # Seeded construction: initial weights depend on the run's seed only, not on which methods were
    # built before in this process (an untrained reference run samples exactly these weights).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        method = cls(config, dspec)
    return method.to(resolve_device(spec.device))


def cap_train_steps(config: Any, steps: int) -> Any:
    """``config`` with its nested ``train: TrainConfig`` limited to ``steps`` optimiser steps (a config
    without one is returned as is). ``steps = 0`` ("derived at fit time", NAVSLP) counts as unlimited."""
    import dataclasses

    train = getattr(config, "train", None)
    if not (dataclasses.is_dataclass(config) and dataclasses.is_dataclass(train) and hasattr(train, "steps")):
        return config
    capped = steps if train.steps <= 0 else min(train.steps, steps)
    changes = {"steps": capped}
    for field_name in ("checkpoint_every", "log_every"):
        if hasattr(train, field_name):
            changes[field_name] = max(1, min(getattr(train, field_name), capped))
    return dataclasses.replace(config, train=dataclasses.replace(train, **changes))


def progress_bar(it, **kw):
    from tqdm.auto import tqdm

    if not kw.get("disable"):
        kw["disable"] = None  # shown on a terminal only (no carriage-return spam in CI logs)
    return tqdm(it, **kw)
