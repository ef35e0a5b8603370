"""The sample stage: run the trained method over the test protocol, one :class:`Conditioning` per batch.

Synthesis: as many videos as reference clips, of the protocol's length. Prediction: ``k`` samples
per test clip, each stored as context + prediction (``samples/<task>.npz``, sample-major within a
clip). The batch's conditioning holds exactly what the protocol provides (:func:`conditioning_for`)
and is recorded with the samples. Methods with a likelihood also score every reference clip here
(``samples/<task>_likelihood.npz``), for ``bits_per_dim``. Galleries: ``samples/<task>.gif`` and the
method's extra views.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import paths as P
from benchmark import video as V
from benchmark.data.base import Protocol, SplitData, UnknownLabelError, VideoDataset
from benchmark.methods import Conditioning, Method
from benchmark.stages.cache import Stages, code_key, must_compute
from benchmark.stages.spec import EVAL_BATCH, RunSpec, open_dataset, progress_bar, reference_for
from benchmark.utils import UserError, atomic_path, sha256_json

GALLERY_VIDEOS = 16
PREDICTION_GALLERY_CONTEXTS = 4


def _batch_seed(seed: int, start: int) -> int:
    return (seed * 1_000_003 + start) % (2**63 - 1)


@dataclass
class ReferenceInputs:
    """The per-clip conditioning a protocol provides beyond the frames (for all reference clips):
    ``labels`` name -> ``(N,)`` int64, ``actions`` ``(N, T, A)`` float32."""

    labels: dict[str, np.ndarray] = field(default_factory=dict)
    actions: np.ndarray | None = None


def reference_inputs(ds: VideoDataset, protocol: Protocol, clips: SplitData) -> ReferenceInputs:
    """What ``protocol.conditioning`` asks for of the clips ``clips``, read from the dataset."""
    out = ReferenceInputs()
    try:
        if "labels" in protocol.conditioning:
            out.labels = ds.clip_labels(clips)
        if "actions" in protocol.conditioning:
            out.actions = np.asarray(ds.clip_actions(clips, protocol), np.float32)
    except (UnknownLabelError, ValueError) as e:
        raise UserError(f"{ds.name} protocol {protocol.name} provides {list(protocol.conditioning)}: {e}") from e
    return out


def conditioning_for(task: str, protocol: Protocol, clips: torch.Tensor, *, num_samples: int = 1,
                     inputs: ReferenceInputs | None = None, index: slice | None = None) -> Conditioning:
    """The :class:`Conditioning` of one batch of reference clips ``(B, c + p, C, H, W)`` float in [0, 1]
    under ``protocol``: context frames for prediction plus exactly the fields the protocol provides
    (``inputs``: the dataset's labels/actions of all reference clips, ``index``: this batch's rows)."""
    c, p = protocol.context_frames, protocol.future_frames
    fields: dict[str, Any] = {}
    if task == "prediction":
        fields["context"] = clips[:, :c]
    index = index if index is not None else slice(0, len(clips))
    for name in protocol.conditioning:
        if name == "first_frame":
            fields["first_frame"] = clips[:, 0]
        elif name == "end_frame":  # the frame the produced sequence must end at (frame c+p-1)
            fields["end_frame"] = clips[:, c + p - 1]
        elif name == "labels":
            labels = (inputs or ReferenceInputs()).labels
            fields["labels"] = {k: torch.from_numpy(np.asarray(v[index], np.int64)) for k, v in labels.items()}
        elif name == "actions":
            if inputs is None or inputs.actions is None:
                raise UserError(f"protocol {protocol.name} provides actions but none were read from the dataset")
            fields["actions"] = torch.from_numpy(np.ascontiguousarray(inputs.actions[index]))
        elif name == "target_times":
            fields["target_times"] = torch.arange(c, c + p, dtype=torch.float32)
    num_frames = p if task == "prediction" else protocol.num_frames
    return Conditioning(batch_size=len(clips), num_frames=num_frames, num_samples=num_samples, **fields)


def conditioning_record(task: str, protocol: Protocol, method: Method, num_samples: int,
                        inputs: ReferenceInputs) -> dict[str, Any]:
    """What the method was given, for results.json and the manifest."""
    given = (["context"] if task == "prediction" else []) + list(protocol.conditioning)
    rec: dict[str, Any] = {"given": given, "num_frames": protocol.future_frames if task == "prediction"
                           else protocol.num_frames, "num_samples": num_samples,
                           "method_needs": list(method.conditioning_inputs(task))}
    if task == "prediction":
        rec["context_frames"] = protocol.context_frames
    if inputs.labels:
        rec["labels"] = sorted(inputs.labels)
    if inputs.actions is not None:
        rec["action_dim"] = int(inputs.actions.shape[-1])
    return rec


def check_compatible(method: Method, task: str, protocol: Protocol) -> str | None:
    """Why ``method`` cannot run ``protocol`` (a conditioning field it needs that the protocol does
    not provide), or None when it can."""
    missing = [f for f in method.conditioning_inputs(task) if f not in protocol.conditioning]
    if missing:
        have = ", ".join(protocol.conditioning) or "none"
        return (f"{method.name} needs {'+'.join(missing)} conditioning for {task}; protocol {protocol.name} "
                f"provides {have}")
    return None


def runnable_tasks(method: Method, ds: VideoDataset) -> tuple[list[str], dict[str, str]]:
    """The tasks ``method`` runs on ``ds`` and, for the others it shares with ``ds``, why not."""
    tasks, why = [], {}
    for task in (t for t in method.tasks if t in ds.protocols):
        reason = check_compatible(method, task, ds.protocol(task, "test"))
        if reason:
            why[task] = reason
        else:
            tasks.append(task)
    return tasks, why


def generate_samples(method: Method, task: str, protocol: Protocol, ref: SplitData, *, seed: int,
                     progress: bool = True, inputs: ReferenceInputs | None = None) -> np.ndarray:
    """Run the method over the test protocol: uint8 ``(N, T, C, H, W)`` videos.

    Synthesis: ``N`` = number of reference clips, ``T`` = protocol frames. Prediction: for each
    test clip, ``k`` samples, each stored as context + prediction (``N = B * k``, sample-major
    within a clip). Each batch's :class:`Conditioning` comes from :func:`conditioning_for`.
    """
    n = len(ref)
    out: list[np.ndarray] = []
    k = protocol.samples_per_context if (task == "prediction" and method.stochastic) else 1
    bar = progress_bar(range(0, n, EVAL_BATCH), desc=f"{method.name}: sampling {task}", unit="batch",
                    disable=not progress, leave=False)
    for start in bar:
        stop = min(start + EVAL_BATCH, n)
        clip = V.to_float(np.asarray(ref.videos[start:stop]))
        cond = conditioning_for(task, protocol, clip, num_samples=k, inputs=inputs, index=slice(start, stop))
        x = method.sample(task, cond, seed=_batch_seed(seed, start))
        if task == "synthesis":
            out.append(V.to_uint8(x).numpy())
        else:
            kk = x.shape[1]
            ctx = cond.context.unsqueeze(1).expand(-1, kk, -1, -1, -1, -1)
            full = torch.cat([ctx, x], dim=2).flatten(0, 1)  # (B*k, c+p, C, H, W)
            out.append(V.to_uint8(full).numpy())
    return np.concatenate(out)


def score_likelihoods(method: Method, task: str, protocol: Protocol, ref: SplitData, *,
                      inputs: ReferenceInputs | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """``(N,)`` float64 nats of every reference clip under the method and the likelihood protocol
    (the method's :meth:`~Method.likelihood_protocol` + ``frames_counted`` and ``dims``)."""
    lp = dict(method.likelihood_protocol())
    frames = lp.get("frames", "all")
    if frames not in ("all", "future"):
        raise UserError(f"{method.name}.likelihood_protocol(): frames must be 'all' or 'future', got {frames!r}")
    # "future": the frames after the context (all of them in synthesis, which has no context)
    counted = protocol.future_frames if frames == "future" else protocol.num_frames
    c, (h, w) = protocol.channels, protocol.resolution
    nats = []
    for start in range(0, len(ref), EVAL_BATCH):
        stop = min(start + EVAL_BATCH, len(ref))
        clip = V.to_float(np.asarray(ref.videos[start:stop]))
        cond = conditioning_for(task, protocol, clip, inputs=inputs, index=slice(start, stop))
        method.check_conditioning(task, cond)
        nats.append(method.score_likelihood(clip, cond).numpy())
    return np.concatenate(nats), {**lp, "frames_counted": counted, "dims": counted * c * h * w}


def save_likelihoods(path: Path, nats: np.ndarray, protocol: dict[str, Any]) -> None:
    """Write per-video nats and the likelihood protocol atomically (``nats``, ``dims``, ``protocol`` JSON)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, nats=np.asarray(nats, np.float64), dims=np.array(int(protocol["dims"])),
                 protocol=np.array(json.dumps(protocol, sort_keys=True)))


def load_likelihoods(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """``(nats (N,), protocol)`` as written by :func:`save_likelihoods`."""
    with np.load(path) as z:
        return np.asarray(z["nats"], np.float64), json.loads(str(z["protocol"]))


def stage_sample(spec: RunSpec, method: Method, task: str, ds: VideoDataset | None = None,
                 train_key: str = "") -> dict[str, Any]:
    """Sample ``task`` with the trained ``method`` (or reuse the cached samples); returns the record."""
    ds = ds or open_dataset(spec)
    protocol, ref = reference_for(spec, ds, task)
    why_not = check_compatible(method, task, protocol)
    if why_not:
        raise UserError(why_not)
    run_dir = spec.run_dir
    rel = P.samples(task)
    key = sha256_json({"stage": "sample", "train": train_key, "task": task, "protocol": protocol.to_dict(),
                       "reference": ref.content_hash, "seed": spec.seed,
                       "code": code_key(type(method), "benchmark.stages.sample")})
    stages = Stages(run_dir)
    if stages.fresh(f"sample/{task}", key):
        return stages.get(f"sample/{task}")
    must_compute(run_dir, f"sample/{task}")
    t0 = time.time()
    inputs = reference_inputs(ds, protocol, ref)
    t_gen = time.perf_counter()
    videos = generate_samples(method, task, protocol, ref, seed=spec.seed + 1, progress=spec.progress, inputs=inputs)
    generate_s = time.perf_counter() - t_gen  # the method's sampling alone: no saving, galleries or likelihoods
    k = len(videos) // len(ref)
    V.save_npz(run_dir / rel, videos, num_samples=np.array(k), context_frames=np.array(protocol.context_frames))
    gallery = P.gallery(task)
    write_gallery(run_dir / gallery, videos, ref, task, protocol, k)
    outputs = [rel, gallery]
    extra = {}
    shown = min(GALLERY_VIDEOS // 2, len(ref))
    view_cond = conditioning_for(task, protocol, V.to_float(np.asarray(ref.videos[:shown])), inputs=inputs,
                                 index=slice(0, shown))
    with torch.no_grad():
        views = method.visualize(task, view_cond.to(method.device), seed=spec.seed + 1)
    for name, view in views.items():
        extra[name] = P.view_gallery(task, name)
        V.write_video(run_dir / extra[name], V.video_grid(V.check_videos(view.cpu(), name), ncol=4), fps=4)
    info: dict[str, Any] = {"conditioning": conditioning_record(task, protocol, method, k, inputs)}
    if method.has_likelihood():
        nats, lp = score_likelihoods(method, task, protocol, ref, inputs=inputs)
        save_likelihoods(run_dir / P.likelihoods(task), nats, lp)
        outputs.append(P.likelihoods(task))
        info["likelihood"] = lp
    return stages.record(f"sample/{task}", key, [*outputs, *extra.values()], seconds=time.time() - t0,
                         num_samples=k, num_videos=len(videos), distinct_videos=V.count_distinct(videos),
                         generate_s=generate_s,
                         videos_per_s=len(videos) / max(generate_s, 1e-9), extra_galleries=extra, **info)


def write_gallery(path: Path, videos: np.ndarray, ref: SplitData, task: str, protocol: Protocol, k: int) -> None:
    """An animated GIF grid: synthesis -> 4x4 samples; prediction -> per context, ground truth then
    up to 3 samples, predicted frames outlined in red."""
    if task == "synthesis":
        grid = V.video_grid(videos[:GALLERY_VIDEOS], ncol=4)
    else:
        m = min(k, 3)
        tiles = []
        for b in range(min(PREDICTION_GALLERY_CONTEXTS, len(ref))):
            tiles.append(np.asarray(ref.videos[b]))
            for s in range(m):
                v = videos[b * k + s].copy()
                v[protocol.context_frames:] = _outline(v[protocol.context_frames:])
                tiles.append(v)
        grid = V.video_grid(np.stack(tiles), ncol=1 + m)
    V.write_video(path, grid, fps=4)


def _outline(frames: np.ndarray) -> np.ndarray:
    """Red 1-px border on uint8 frames ``(T, C, H, W)`` (marks predicted frames in galleries)."""
    red = np.array([255, 0, 0], np.uint8)[: frames.shape[1], None]
    if frames.shape[1] == 1:
        red = np.array([[255]], np.uint8)
    for sl in (np.s_[:, :, 0, :], np.s_[:, :, -1, :]):
        frames[sl] = red
    frames[:, :, :, 0] = red
    frames[:, :, :, -1] = red
    return frames
