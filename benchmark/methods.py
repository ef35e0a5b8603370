"""The method contract: what every reproduced paper (``methods/<name>/``) implements.

A method is registered in :data:`benchmark.registry.METHODS` by a subclass of :class:`Method`.
It declares the tasks it can do (``synthesis`` and/or ``prediction``), whether it is stochastic,
and its profiles (``paper``: the paper's architecture/hyperparameters; ``smoke``: tiny, for CPU).
Video tensors follow the harness contract ``(N, T, C, H, W)`` float in [0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from benchmark.data.base import Protocol, TaskProtocols


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data it is built for.

    ``labels``: the dataset's per-clip class labels, name -> number of classes (e.g.
    ``{"action": 6, "identity": 25}`` on KTH), so a profile can size a conditional head.
    """

    dataset: str
    channels: int
    resolution: tuple[int, int]
    protocols: dict[str, TaskProtocols]
    labels: dict[str, int] = field(default_factory=dict)

    def train_protocol(self, task: str) -> Protocol:
        return self.protocols[task].train

    def test_protocol(self, task: str) -> Protocol:
        return self.protocols[task].test


@dataclass
class TrainData:
    """Training clips for a method: uint8 ``videos`` ``(N, T, C, H, W)`` of the train split, the
    training protocol of each task the method is trained for, and the class labels the method asked
    for (:meth:`Method.label_inputs`): name -> ``(N,)`` int64 indices in ``[0, DataSpec.labels[name])``."""

    videos: np.ndarray
    protocols: dict[str, Protocol]
    content_hash: str = ""
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def label(self, name: str, method: str) -> np.ndarray:
        """The ``(N,)`` labels called ``name``; a clear error when the data has none of that name."""
        if name not in self.labels:
            have = ", ".join(sorted(self.labels)) or "none"
            raise ValueError(f"{method}: the training data has no {name!r} labels (given: {have})")
        arr = np.asarray(self.labels[name], np.int64)
        if arr.shape != (len(self.videos),):
            raise ValueError(f"{method}: {name!r} labels have shape {arr.shape}, expected one per training "
                             f"video ({len(self.videos)},)")
        return arr


class Method:
    """Base class of a registered method.

    Subclasses set the class attributes, implement ``profiles`` and ``generate``/``predict`` for
    their tasks, and (if ``trainable``) ``fit``. Methods never import each other; shared building
    blocks live in ``methods/common``.
    """

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ()
    stochastic: ClassVar[bool] = False
    trainable: ClassVar[bool] = False
    paper: ClassVar[str] = ""  # citation shown in `benchmark list` and reports
    #: profile name -> function(DataSpec) -> config dataclass
    profiles: ClassVar[dict[str, Callable[[DataSpec], Any]]] = {}

    def __init__(self, config: Any, spec: DataSpec) -> None:
        self.config = config
        self.spec = spec
        self.device = torch.device("cpu")

    # --------------------------------------------------------------------------- construction ---
    @classmethod
    def from_profile(cls, profile: str, spec: DataSpec, overrides: dict[str, Any] | None = None) -> "Method":
        if profile not in cls.profiles:
            raise ValueError(f"method {cls.name!r} has no profile {profile!r}; profiles: {sorted(cls.profiles)}")
        config = cls.profiles[profile](spec)
        if overrides:
            from benchmark.config import apply_overrides

            config = apply_overrides(config, overrides)
        return cls(config, spec)

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else dict(self.config or {})

    def to(self, device: torch.device | str) -> "Method":
        self.device = torch.device(device)
        for m in self.modules().values():
            m.to(self.device)
        return self

    def modules(self) -> dict[str, torch.nn.Module]:
        """The ``nn.Module``s whose weights make up this method (empty for untrained baselines)."""
        return {}

    def label_inputs(self) -> tuple[str, ...]:
        """Names of the dataset labels this configured method trains with (``TrainData.labels``);
        the harness passes exactly these, and they key its training cache. Default: none."""
        return ()

    # ------------------------------------------------------------------------------ training ---
    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True) -> dict[str, Any]:
        """Train on ``data`` writing checkpoints/logs under ``run_dir``; returns a summary dict."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to sample again (weights + any fitted non-torch state)."""
        return {name: m.state_dict() for name, m in self.modules().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, m in self.modules().items():
            m.load_state_dict(state[name])

    # ----------------------------------------------------------------------------- inference ---
    def generate(self, num_videos: int, num_frames: int, *, seed: int) -> torch.Tensor:
        """Unconditional synthesis: ``(num_videos, num_frames, C, H, W)`` in [0, 1]."""
        raise NotImplementedError(f"{self.name} does not do synthesis")

    def visualize(self, task: str, num_videos: int, num_frames: int, *, seed: int) -> dict[str, torch.Tensor]:
        """Optional extra views for the report, e.g. VGAN's background/foreground/mask streams.

        Returns name -> float ``(N, T, C, H, W)`` in [0, 1] (C may be 1 for masks); default none.
        """
        return {}

    def predict(self, context: torch.Tensor, num_future: int, num_samples: int, *, seed: int) -> torch.Tensor:
        """Prediction from ``context`` ``(B, c, C, H, W)``: ``(B, k, num_future, C, H, W)`` in [0, 1].

        Deterministic methods may return ``k = 1`` whatever ``num_samples`` is.
        """
        raise NotImplementedError(f"{self.name} does not do prediction")


def describe_method(cls: type[Method]) -> dict[str, Any]:
    return {"name": cls.name, "tasks": list(cls.tasks), "stochastic": cls.stochastic,
            "trainable": cls.trainable, "profiles": sorted(cls.profiles), "paper": cls.paper}
