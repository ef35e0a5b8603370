"""TEMPLATE config and profiles. Replace the docstring with: the paper (title, venue, arXiv id),
the official code (repository + commit) and where each ``paper`` number comes from.

A config is one frozen, typed dataclass: architecture fields, optimiser fields and a nested
``train: TrainConfig`` (steps, global batch size, checkpoint/log cadence) that the shared loop
reads. ``benchmark run --set width=32 --set train.steps=500`` overrides any field; unknown keys are
an error, so every knob a user may turn must be a field here.

Profiles are *functions of the dataset* (:class:`~benchmark.methods.DataSpec`: channels,
resolution, the train/test protocols of each task, label classes): they size the model for the
data instead of assuming 64x64 RGB. Three of them:

* ``paper``: the paper's architecture and hyperparameters (for a GPU). If the paper's model cannot
  fit the dataset, raise :class:`~benchmark.methods.ProfileUnavailable` with a one-line reason;
  ``benchmark list`` shows it and ``--methods all`` skips the method on that dataset.
* ``cpu``: small enough to learn on a 2-core CPU in ~30-40 s (the main job's profile).
* ``smoke``: the same code paths, tiny; seconds (the tests use it). Keep it fast on every dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.methods import DataSpec, ProfileUnavailable
from benchmark.training.loop import TrainConfig


@dataclass(frozen=True)
class TemplateConfig:
    """Architecture and optimisation of the template's next-frame predictor."""

    channels: int = 3               # from the dataset (DataSpec.channels)
    resolution: tuple[int, int] = (64, 64)
    width: int = 64                 # conv channels; the paper's value goes in the paper profile
    lr: float = 1e-3                # Adam learning rate (cite where the value comes from)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=50_000, batch_size=32, checkpoint_every=5_000, log_every=100))


def _frames_fit(spec: DataSpec, task: str = "prediction") -> None:
    """Example of a profile refusing a dataset: here the model needs frames of at least 8x8."""
    h, w = spec.resolution
    if min(h, w) < 8:
        raise ProfileUnavailable(f"needs frames of at least 8x8, {spec.dataset} has {h}x{w}")


def paper(spec: DataSpec) -> TemplateConfig:
    _frames_fit(spec)
    return TemplateConfig(channels=spec.channels, resolution=tuple(spec.resolution))


def cpu(spec: DataSpec) -> TemplateConfig:
    _frames_fit(spec)
    return TemplateConfig(channels=spec.channels, resolution=tuple(spec.resolution), width=16,
                          train=TrainConfig(steps=300, batch_size=16, checkpoint_every=100, log_every=10))


def smoke(spec: DataSpec) -> TemplateConfig:
    _frames_fit(spec)
    return TemplateConfig(channels=spec.channels, resolution=tuple(spec.resolution), width=4,
                          train=TrainConfig(steps=4, batch_size=4, checkpoint_every=2, log_every=2))


PROFILES = {"paper": paper, "cpu": cpu, "smoke": smoke}
