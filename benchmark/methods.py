"""The method contract: what every reproduced paper (``methods/<name>/``) implements.

A method is a subclass of :class:`Method` registered with ``@METHODS.register("<name>")`` (the
decorator sets the class's ``name``). It declares the tasks it can do (``synthesis`` and/or
``prediction``), whether it is stochastic, and its profiles: functions of the dataset's
:class:`DataSpec` returning a config (``paper``: the paper's architecture/hyperparameters;
``cpu``: learns on a small CPU; ``smoke``: tiny, for tests). A profile that cannot fit a dataset
raises :class:`ProfileUnavailable` with a one-line reason.

Every ``generate``/``predict`` call gets one :class:`Conditioning`: the batch size, the number of
frames to produce and the optional inputs the dataset protocol provides (context frames, first or
end frame, class labels, per-step actions, target times). The harness calls them through
:meth:`Method.sample`, which validates the inputs, seeds the global RNGs and checks the output
shape and range, so every method gets the same checks. Video tensors follow the harness contract
``(N, T, C, H, W)`` float in [0, 1].

Training may come in ordered stages (:meth:`Method.stages`, e.g. an autoencoder, then a prior over
its codes): the harness calls :meth:`Method.fit` once per stage, each under its own folder with its
own cache key, resume and log, and restores the earlier stages' weights before a later one.

>>> import torch
>>> cond = Conditioning(batch_size=2, num_frames=3, context=torch.zeros(2, 4, 1, 8, 8))
>>> cond.provided(), cond.context_frames, cond.times().tolist()
(('context',), 4, [4.0, 5.0, 6.0])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import Tensor

from benchmark.data.base import CONDITIONING_FIELDS, Protocol, TaskProtocols

# CONDITIONING_FIELDS: the optional inputs of a Conditioning, in the order they are documented. A
# dataset Protocol names the ones it provides in ``conditioning``; a method names the ones it needs
# in Method.conditioning_inputs. (Defined with the protocols, which the data package owns.)
__all__ = ["CONDITIONING_FIELDS", "Conditioning", "DataSpec", "Method", "ProfileUnavailable", "TrainData",
           "SINGLE_STAGE", "describe_method"]
#: The stage list of a method trained in one go (its outputs live in ``train/`` itself).
SINGLE_STAGE: tuple[str, ...] = ("train",)


class ProfileUnavailable(Exception):
    """Raised by a profile function that cannot fit a dataset; the message is a one-line reason
    (e.g. "needs 64x64 frames, the dataset has 128x128"). ``benchmark list`` shows it and
    ``benchmark run --methods all`` skips the method with it instead of failing."""


@dataclass(frozen=True)
class Conditioning:
    """Everything one ``generate``/``predict`` call is given (tensors on the method's device, float in [0, 1]).

    Attributes:
        batch_size: ``B``: videos to synthesise, or contexts to continue.
        num_frames: frames to produce: synthesis ``T``; prediction ``p`` (the future only).
        num_samples: ``k`` samples per context (deterministic methods may return 1).
        context: ``(B, c, C, H, W)`` context frames (prediction).
        first_frame: ``(B, C, H, W)`` a still image the video starts from.
        end_frame: ``(B, C, H, W)`` two-ended prediction: the frame the produced sequence must end
            at (frame ``c + p - 1`` of the clip).
        labels: name -> ``(B,)`` int64 class indices (e.g. ``"action"``).
        actions: ``(B, c + p, A)`` per-step action vectors (action-conditioned prediction).
        target_times: ``(p,)`` float times of the frames to produce, in frame units with the first
            context frame at ``t = 0`` (default ``c, c+1, ..., c+p-1``; continuous-time models).
    """

    batch_size: int
    num_frames: int
    num_samples: int = 1
    context: Tensor | None = None
    first_frame: Tensor | None = None
    end_frame: Tensor | None = None
    labels: Mapping[str, Tensor] = field(default_factory=dict)
    actions: Tensor | None = None
    target_times: Tensor | None = None

    def __post_init__(self) -> None:
        b = self.batch_size
        if b < 1 or self.num_frames < 1 or self.num_samples < 1:
            raise ValueError(f"Conditioning: batch_size, num_frames and num_samples must be >= 1, got "
                             f"{b}, {self.num_frames}, {self.num_samples}")
        shapes = {"context": 5, "first_frame": 4, "end_frame": 4, "actions": 3}
        for name, ndim in shapes.items():
            x = getattr(self, name)
            if x is not None and (not isinstance(x, Tensor) or x.ndim != ndim or x.shape[0] != b):
                what = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"Conditioning.{name}: expected a {ndim}-D tensor with batch size {b}, got {what}")
        for name, y in self.labels.items():
            if not isinstance(y, Tensor) or y.shape != (b,) or y.dtype != torch.int64:
                what = (tuple(y.shape), y.dtype) if isinstance(y, Tensor) else type(y).__name__
                raise ValueError(f"Conditioning.labels[{name!r}]: expected int64 ({b},), got {what}")
        if self.target_times is not None and tuple(self.target_times.shape) != (self.num_frames,):
            raise ValueError(f"Conditioning.target_times: expected ({self.num_frames},), "
                             f"got {tuple(self.target_times.shape)}")

    @property
    def context_frames(self) -> int:
        """``c``: the number of context frames (0 without context)."""
        return 0 if self.context is None else int(self.context.shape[1])

    def provided(self) -> tuple[str, ...]:
        """Names of the optional fields that are set, in :data:`CONDITIONING_FIELDS` order."""
        return tuple(f for f in CONDITIONING_FIELDS
                     if (bool(self.labels) if f == "labels" else getattr(self, f) is not None))

    def times(self) -> Tensor:
        """``(num_frames,)`` float times of the frames to produce (``target_times`` or ``c .. c+p-1``)."""
        if self.target_times is not None:
            return self.target_times
        c = self.context_frames
        return torch.arange(c, c + self.num_frames, dtype=torch.float32)

    def to(self, device: torch.device | str) -> "Conditioning":
        """The same conditioning with every tensor on ``device``."""
        move = lambda x: None if x is None else x.to(device)  # noqa: E731
        return dataclasses.replace(self, context=move(self.context), first_frame=move(self.first_frame),
                                   end_frame=move(self.end_frame), actions=move(self.actions),
                                   target_times=move(self.target_times),
                                   labels={k: v.to(device) for k, v in self.labels.items()})

    def select(self, index: slice) -> "Conditioning":
        """The conditioning of the videos ``index`` of the batch (e.g. ``slice(0, 32)`` to chunk)."""
        cut = lambda x: None if x is None else x[index]  # noqa: E731
        labels = {k: v[index] for k, v in self.labels.items()}
        size = len(range(*index.indices(self.batch_size)))
        return dataclasses.replace(self, batch_size=size, context=cut(self.context),
                                   first_frame=cut(self.first_frame), end_frame=cut(self.end_frame),
                                   actions=cut(self.actions), labels=labels)

    def describe(self) -> dict[str, Any]:
        """A JSON-able record of what was given (field names and shapes, label names), for manifests."""
        fields: dict[str, Any] = {}
        for f in self.provided():
            if f == "labels":
                fields[f] = sorted(self.labels)
            else:
                fields[f] = list(getattr(self, f).shape)
        return {"num_frames": self.num_frames, "num_samples": self.num_samples, "fields": fields}


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know about the data it is built for.

    ``labels``: the dataset's per-clip class labels, name -> number of classes (e.g.
    ``{"action": 6, "identity": 25}`` on KTH), so a profile can size a conditional head.
    ``train_frames``: frames of every training video (clips of at most that many frames can be cut
    for training; e.g. 20 on KTH, whose prediction protocol trains on 20-frame windows); None: unknown.
    ``action_dim``: A of the per-step action vectors the dataset records (4 on BAIR), 0 if none; a
    protocol provides them when its ``conditioning`` has ``"actions"``.
    """

    dataset: str
    channels: int
    resolution: tuple[int, int]
    protocols: dict[str, TaskProtocols]
    labels: dict[str, int] = field(default_factory=dict)
    train_frames: int | None = None
    action_dim: int = 0

    @classmethod
    def of(cls, ds: Any, tasks: tuple[str, ...] | list[str]) -> "DataSpec":
        """The spec of dataset ``ds`` (a :class:`~benchmark.data.base.VideoDataset`) for the ``tasks``
        it shares with a method; frames and channels come from the first shared task's test protocol."""
        common = [t for t in tasks if t in ds.protocols]
        any_protocol = ds.protocols[common[0]].test if common else next(iter(ds.protocols.values())).test
        split = ds.protocols[common[0]].train.split if common else "train"
        return cls(dataset=ds.name, channels=any_protocol.channels, resolution=any_protocol.resolution,
                   protocols={t: ds.protocols[t] for t in common},
                   labels={name: len(s.classes) for name, s in ds.label_specs().items()},
                   train_frames=ds.train_frames(split), action_dim=ds.action_dim())

    def train_protocol(self, task: str) -> Protocol:
        return self.protocols[task].train

    def test_protocol(self, task: str) -> Protocol:
        return self.protocols[task].test


@dataclass
class TrainData:
    """Training clips for a method: uint8 ``videos`` ``(N, T, C, H, W)`` of the train split, the
    training protocol of each task the method is trained for, and the class labels the method asked
    for (:meth:`Method.label_inputs`): name -> ``(N,)`` int64 indices in ``[0, DataSpec.labels[name])``;
    ``actions``: float32 ``(N, T, A)`` per-step actions aligned with ``videos`` when a training protocol
    provides ``"actions"`` (action-conditioned prediction), else None. ``sources``: int64 ``(N,)`` id of
    the source clip each item was cut from (a real dataset's training split holds every window of
    each clip, so several items share a source; ascending window offsets within a source), or None
    when every item is its own video."""

    videos: np.ndarray
    protocols: dict[str, Protocol]
    content_hash: str = ""
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    actions: np.ndarray | None = None
    sources: np.ndarray | None = None

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

    Subclasses set the class attributes, the ``profiles`` and ``generate``/``predict`` for their
    tasks, and (if ``trainable``) ``fit``. The harness calls them through :meth:`sample` (input
    checks, seeding, output checks). Methods never import each other; shared building blocks live
    in ``methods/common``. ``methods/_template/`` is a commented example to copy.
    """

    name: ClassVar[str] = ""  # set by @METHODS.register("name"); never written by hand
    tasks: ClassVar[tuple[str, ...]] = ()
    stochastic: ClassVar[bool] = False
    trainable: ClassVar[bool] = False
    #: False where sampling needs state that only fitting makes (a GMM over codes, learned latents): such
    #: a method has no untrained reference row (``<method>@init``) and none is attempted
    samples_untrained: ClassVar[bool] = True
    #: set on a trivial predictor that is shown for scale and never ranked (results.json ``reference``,
    #: as an untrained network's ``@init`` row): e.g. ``"trivial fill"`` for a prediction that erases
    #: every object, which paired pixel metrics can score above any learned method
    reference_row: ClassVar[str | None] = None
    paper: ClassVar[str] = ""  # citation shown in `benchmark list` and reports
    #: profile name -> function(DataSpec) -> config dataclass (raises ProfileUnavailable when it cannot fit)
    profiles: ClassVar[dict[str, Callable[[DataSpec], Any]]] = {}
    #: dataset options this method's task needs, applied where a dataset accepts them (P2P:
    #: ``{"two_ended": True}``, the start + end frame protocol); recorded like any dataset option.
    dataset_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any, spec: DataSpec) -> None:
        self.config = config
        self.spec = spec
        self.device = torch.device("cpu")

    # --------------------------------------------------------------------------- construction ---
    @classmethod
    def profile_config(cls, profile: str, spec: DataSpec, overrides: dict[str, Any] | None = None) -> Any:
        """The config of profile ``profile`` for ``spec`` with ``overrides`` applied (raises
        :class:`ProfileUnavailable` when the profile cannot fit the dataset)."""
        if profile not in cls.profiles:  # e.g. a method without a `cpu` profile yet: skipped, with the reason
            raise ProfileUnavailable(f"{cls.name} has no {profile!r} profile (it has {', '.join(sorted(cls.profiles))})")
        config = cls.profiles[profile](spec)
        if overrides:
            from benchmark.config import apply_overrides

            config = apply_overrides(config, overrides)
        return config

    @classmethod
    def from_profile(cls, profile: str, spec: DataSpec, overrides: dict[str, Any] | None = None) -> "Method":
        """Build from profile ``profile`` for ``spec`` (raises :class:`ProfileUnavailable` when it cannot fit)."""
        return cls(cls.profile_config(profile, spec, overrides), spec)

    @classmethod
    def hand_aid(cls, config: dict[str, Any]) -> str | None:
        """What a run with this resolved config (``config_dict()``, as in config.json) adds BY HAND -- not
        learned, not in the paper -- that helps it on the data, e.g. object positions tracked from the
        context pixels; None when nothing. Read off the config, so a ``--set`` that turns the aid off
        also drops the mark: results.json ``hand_aid``, and the leaderboard marks the row (§) so a reader
        knows it is partly engineered, not only learned."""
        return None

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

    def conditioning_inputs(self, task: str) -> tuple[str, ...]:
        """Optional :class:`Conditioning` fields (besides ``context`` for prediction) this configured
        method needs for ``task``, e.g. ``("end_frame",)``. A protocol that does not provide them
        cannot be run (the harness says so). Default: none."""
        return ()

    # ------------------------------------------------------------------------------ training ---
    def stages(self) -> tuple[str, ...]:
        """Ordered training stages. Default ``("train",)``: one stage whose outputs live in ``train/``.
        Several (e.g. ``("autoencoder", "gmm")``): each in ``train/<stage>/`` with its own cache key,
        resume and log; before a later stage the harness restores the earlier stages' weights."""
        return SINGLE_STAGE

    def stage_config(self, stage: str) -> dict[str, Any]:
        """The part of the config that stage ``stage`` depends on (its cache key). Default: all of it.
        A later stage's key also chains the earlier stage's key, so an earlier change reaches it."""
        return self.config_dict()

    def check_stage(self, stage: str) -> None:
        """Raise a clear error when ``stage`` is not one of :meth:`stages`."""
        if stage not in self.stages():
            raise ValueError(f"{self.name}: no training stage {stage!r}; its stages are {list(self.stages())} "
                             f"(fit each in that order)")

    def fit(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
            progress: bool = True, stage: str = "train") -> dict[str, Any]:
        """Train stage ``stage`` on ``data`` writing checkpoints/logs under ``run_dir``; returns a summary dict."""
        return {}

    def fit_stages(self, data: TrainData, run_dir: Path, *, seed: int, resume: bool = False,
                   progress: bool = True) -> dict[str, Any]:
        """Fit every stage in order, without the harness's caching (tests, scripts): stage ``s`` writes
        to ``run_dir`` (single stage) or ``run_dir/<s>``, and the state goes through a
        ``state_dict`` round trip between stages as it does in the harness. Returns stage -> summary."""
        import copy

        stages, out = self.stages(), {}
        for stage in stages:
            folder = Path(run_dir) if tuple(stages) == SINGLE_STAGE else Path(run_dir) / stage
            out[stage] = self.fit(data, folder, seed=seed, resume=resume, progress=progress, stage=stage)
            self.load_state_dict(copy.deepcopy(self.state_dict()))
            self.to(self.device)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to sample again (weights + any fitted non-torch state)."""
        return {name: m.state_dict() for name, m in self.modules().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, m in self.modules().items():
            m.load_state_dict(state[name])

    # ----------------------------------------------------------------------------- inference ---
    def generate(self, cond: Conditioning, *, seed: int) -> Tensor:
        """Synthesis: ``(cond.batch_size, cond.num_frames, C, H, W)`` in [0, 1]."""
        raise NotImplementedError(f"{self.name} does not do synthesis")

    def predict(self, cond: Conditioning, *, seed: int) -> Tensor:
        """Prediction from ``cond.context (B, c, C, H, W)``: ``(B, k, cond.num_frames, C, H, W)`` in [0, 1]
        with ``k = cond.num_samples`` (deterministic methods may return ``k = 1``)."""
        raise NotImplementedError(f"{self.name} does not do prediction")

    def visualize(self, task: str, cond: Conditioning, *, seed: int) -> dict[str, Tensor]:
        """Optional extra views for the report, e.g. VGAN's background/foreground/mask streams.

        Returns name -> float ``(N, T, C, H, W)`` in [0, 1] (C may be 1 for masks); default none.
        """
        return {}

    def log_likelihood(self, videos: Tensor, cond: Conditioning) -> Tensor:
        """Optional: ``(B,)`` log-likelihood in nats of each video ``(B, T, C, H, W)`` (values are
        the 256 uint8 levels / 255) over the frames :meth:`likelihood_protocol` says count; the
        harness turns it into the ``bits_per_dim`` metric. ``cond`` holds the context (prediction)."""
        raise NotImplementedError(f"{self.name} has no likelihood")

    def likelihood_protocol(self) -> dict[str, Any]:
        """How :meth:`log_likelihood` scores: ``frames`` (``"all"``, or ``"future"``: prediction
        frames ``c .. c+p-1`` only) and ``dequantization`` (e.g. ``"uniform"``, ``"none (discrete)"``)."""
        return {"frames": "all", "dequantization": "none (discrete 256 levels)"}

    @classmethod
    def has_likelihood(cls) -> bool:
        """Whether this method implements :meth:`log_likelihood`."""
        return cls.log_likelihood is not Method.log_likelihood

    # ------------------------------------------------------------------ the harness's entry points ---
    @staticmethod
    def rng(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
        """A ``torch.Generator`` on ``device`` seeded with ``seed`` (use it for all sampling noise)."""
        return torch.Generator(device=device).manual_seed(int(seed))

    def check_conditioning(self, task: str, cond: Conditioning) -> None:
        """Inputs a method may rely on: the fields it needs are there and frames fit the data spec."""
        if task not in self.tasks:
            raise ValueError(f"{self.name} does {list(self.tasks)}, not {task}")
        missing = [f for f in self.conditioning_inputs(task) if f not in cond.provided()]
        if task == "prediction" and cond.context is None:
            missing.insert(0, "context")
        if missing:
            given = list(cond.provided()) or "none"
            raise ValueError(f"{self.name}: {task} needs conditioning {missing}; given {given}")
        frame = (self.spec.channels, *self.spec.resolution)
        for name in ("context", "first_frame", "end_frame"):
            x = getattr(cond, name)
            if x is not None and tuple(x.shape[-3:]) != frame:
                raise ValueError(f"{self.name}: conditioning {name} has frames {tuple(x.shape[-3:])} (C, H, W), "
                                 f"the method was built for {frame}")

    def check_output(self, task: str, cond: Conditioning, out: Tensor) -> Tensor:
        """The shape/range contract of :meth:`generate` / :meth:`predict` outputs (clear errors)."""
        from benchmark.video import check_videos

        frame = (self.spec.channels, *self.spec.resolution)
        if task == "synthesis":
            want = (cond.batch_size, cond.num_frames, *frame)
            if not isinstance(out, Tensor) or tuple(out.shape) != want:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"{self.name}.generate returned {got}; expected (B, T, C, H, W) = {want}")
            return check_videos(out, f"{self.name} samples")
        k_ok = (cond.num_samples,) if self.stochastic else tuple(sorted({1, cond.num_samples}))
        if (not isinstance(out, Tensor) or out.ndim != 6 or out.shape[1] not in k_ok
                or (out.shape[0], *out.shape[2:]) != (cond.batch_size, cond.num_frames, *frame)):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"{self.name}.predict returned {got}; expected (B, k, p, C, H, W) = "
                             f"({cond.batch_size}, {'|'.join(map(str, k_ok))}, {cond.num_frames}, "
                             f"{', '.join(map(str, frame))})")
        check_videos(out.flatten(0, 1), f"{self.name} predictions")
        return out

    def sample(self, task: str, cond: Conditioning, *, seed: int) -> Tensor:
        """What the harness calls: checks ``cond``, runs :meth:`generate` (synthesis) or
        :meth:`predict` (prediction) with the global RNGs seeded from ``seed`` (and restored
        afterwards), checks the output and returns it on the CPU."""
        self.check_conditioning(task, cond)
        cond = cond.to(self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(int(seed))
            out = self.generate(cond, seed=seed) if task == "synthesis" else self.predict(cond, seed=seed)
        return self.check_output(task, cond, out.detach().cpu())

    def score_likelihood(self, videos: Tensor, cond: Conditioning) -> Tensor:
        """What the harness calls for ``bits_per_dim``: ``(B,)`` float64 nats, finite, one per video."""
        with torch.no_grad():
            nats = self.log_likelihood(videos.to(self.device), cond.to(self.device))
        nats = torch.as_tensor(nats).detach().double().cpu()
        if nats.shape != (len(videos),) or not bool(torch.isfinite(nats).all()):
            raise ValueError(f"{self.name}.log_likelihood returned {tuple(nats.shape)} (finite: "
                             f"{bool(torch.isfinite(nats).all())}); expected ({len(videos)},) finite nats")
        return nats


def describe_method(cls: type[Method]) -> dict[str, Any]:
    return {"name": cls.name, "tasks": list(cls.tasks), "stochastic": cls.stochastic,
            "trainable": cls.trainable, "profiles": sorted(cls.profiles), "paper": cls.paper,
            "likelihood": cls.has_likelihood()}
