"""Checks a method runs on its training data before it builds anything (a wrong profile for the
dataset or missing action vectors fail in a second, with a message, not after minutes of training)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_prediction_training(method: str, data: Any, cfg: Any) -> np.ndarray | None:
    """Check ``data`` (a ``TrainData``: ``videos (N, T, C, H, W)``, ``protocols``, optional ``actions``)
    against a prediction config (``context_frames``, ``future_frames``, ``channels``, ``resolution``,
    ``action_dim``); return the training actions ``(N, T, action_dim)`` float32, or None without actions."""
    proto = data.protocols.get("prediction")
    c, p = cfg.context_frames, cfg.future_frames
    if proto is not None and (proto.context_frames != c or proto.future_frames < p):
        raise ValueError(f"{method}: the config trains on {c}+{p} frame clips, the training protocol gives "
                         f"{proto.context_frames}+{proto.future_frames}; build it from this dataset's profile")
    n, t, ch, h, w = data.videos.shape
    if (ch, h, w) != (cfg.channels, *cfg.resolution):
        raise ValueError(f"{method}: training frames are {ch}x{h}x{w}, the model was built for "
                         f"{cfg.channels}x{cfg.resolution[0]}x{cfg.resolution[1]}")
    if not cfg.action_dim:
        return None
    acts = getattr(data, "actions", None)
    if acts is None or np.asarray(acts).shape != (n, t, cfg.action_dim):
        raise ValueError(f"{method}: action-conditioned training needs TrainData.actions (N, T, {cfg.action_dim}) "
                         "aligned with the videos")
    return np.asarray(acts, np.float32)
