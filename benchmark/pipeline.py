"""The stages of one run: train -> sample -> evaluate -> results.json + manifest.json.

Each stage is a function (and a CLI verb / DVC stage). A stage records its *content key* (a hash of
everything its output depends on: config, seeds, input-data hashes, the source code of the code
that computes it) and the sha256 of its outputs in ``<run_dir>/stages.json``; re-running a stage
whose key and outputs still match is a no-op. This caches by content, not by file age.

Run folder: ``<out>/runs/<dataset>/<method>/<profile>/seed<seed>/``.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import paths as P
from benchmark import video as V
from benchmark.data.base import Protocol, SplitData, UnknownLabelError, VideoDataset
from benchmark.manifest import build_manifest, check_artifacts, code_version, validate_manifest
from benchmark.methods import SINGLE_STAGE, Conditioning, DataSpec, Method, ProfileUnavailable, TrainData
from benchmark.registry import DATASETS, METHODS, METRICS
from benchmark.results import REAL, SCHEMA
from benchmark.utils import (UserError, atomic_path, read_json, repo_root, sha256_bytes, sha256_file, sha256_json,
                             sha256_tree, write_json_atomic)

log = logging.getLogger(__name__)
EVAL_BATCH = 32
GALLERY_VIDEOS = 16
PREDICTION_GALLERY_CONTEXTS = 4


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

    @property
    def run_dir(self) -> Path:
        return P.run_dir(self.out, self.dataset, self.method, self.profile, self.seed)


# ------------------------------------------------------------------------------ helpers ---

def load_dataset(name: str, data_root: Path | None = None, **options: Any) -> VideoDataset:
    kwargs = {"root": data_root} if data_root is not None else {}
    return DATASETS.build(name, **kwargs, **options)


def _dataset(spec: "RunSpec") -> VideoDataset:
    return load_dataset(spec.dataset, spec.data_root, **spec.dataset_options)


def data_spec(ds: VideoDataset, tasks: tuple[str, ...] | list[str]) -> DataSpec:
    common = [t for t in tasks if t in ds.protocols]
    any_protocol = ds.protocols[common[0]].test if common else next(iter(ds.protocols.values())).test
    return DataSpec(dataset=ds.name, channels=any_protocol.channels, resolution=any_protocol.resolution,
                    protocols={t: ds.protocols[t] for t in common},
                    labels={name: len(s.classes) for name, s in ds.label_specs().items()})


def train_labels(ds: VideoDataset, train: SplitData, method: Method) -> dict[str, np.ndarray]:
    """The class labels ``method`` trains with (its :meth:`~Method.label_inputs`) for the clips of ``train``."""
    names = method.label_inputs()
    try:
        return ds.clip_labels(train, names)
    except UnknownLabelError as e:
        raise UserError(f"{e}. {method.name} is configured to train with the labels {list(names)}; pick a "
                        f"labelled dataset or turn that off in its config (e.g. --set condition_on= for "
                        f"mocogan, --set static_label= --set transient_label= for navslp)") from e
    except ValueError as e:  # a clip whose metadata lacks the label or has an unknown class
        raise UserError(f"{e}; the prepared data does not match the dataset's label definition (prepare it "
                        f"again with `benchmark data prepare {ds.name}`)") from e


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _code_hash(*objs: Any) -> str:
    """Hash of the source folders of the given modules/classes (plus the training loop)."""
    root = repo_root()
    paths = {root / "benchmark" / "training", root / "benchmark" / "methods.py"}
    for o in objs:
        f = Path(inspect.getfile(o))
        paths.add(f.parent if f.name == "__init__.py" or f.parent.name != "benchmark" else f)
    return sha256_tree(sorted(paths))


def _metric_code_hash() -> str:
    return sha256_tree([repo_root() / "benchmark" / "metrics"])


class Stages:
    """Per-stage records: the stage's content key and its outputs' sha256.

    Each record sits in the stage's own output folder (``train/``, ``samples/``, ``scores/``) so
    that DVC can track every stage's outputs without overlap.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def get(self, stage: str) -> dict[str, Any] | None:
        path = self.run_dir / P.stage_file(stage)
        return read_json(path) if path.exists() else None

    def fresh(self, stage: str, key: str) -> bool:
        rec = self.get(stage)
        if not rec or rec.get("key") != key:
            return False
        for rel, digest in rec.get("outputs", {}).items():
            p = self.run_dir / rel
            if not p.is_file() or sha256_file(p) != digest:
                return False
        return True

    def record(self, name: str, key: str, outputs: list[str], /, **info: Any) -> dict[str, Any]:
        rec = {"key": key, "outputs": {o: sha256_file(self.run_dir / o) for o in outputs}, **info}
        write_json_atomic(self.run_dir / P.stage_file(name), rec)
        return rec


def build_method(spec: RunSpec, ds: VideoDataset) -> Method:
    cls = METHODS.get(spec.method)
    if not set(cls.tasks) & set(ds.protocols):
        raise UserError(f"method {spec.method!r} does {list(cls.tasks)}; dataset {ds.name!r} "
                        f"has protocols for {list(ds.protocols)}")
    method = cls.from_profile(spec.profile, data_spec(ds, cls.tasks), spec.overrides)
    return method.to(resolve_device(spec.device))


def _progress(it, **kw):
    from tqdm.auto import tqdm

    if not kw.get("disable"):
        kw["disable"] = None  # shown on a terminal only (no carriage-return spam in CI logs)
    return tqdm(it, **kw)


# -------------------------------------------------------------------------------- train ---

def stage_train(spec: RunSpec, ds: VideoDataset | None = None, method: Method | None = None, *,
                only: str | None = None) -> tuple[Method, dict[str, Any]]:
    """Fit the method's training stages in order (or load each cached one); returns the method with
    the weights of its last stage and that stage's record (whose ``key`` the sample stage chains).

    Each stage (:meth:`Method.stages`) has its own folder (:func:`benchmark.paths.train_dir`),
    content key, resume and log; a later stage's key chains the earlier one's, and before it the
    earlier stage's weights are restored from its ``model.pt`` (a ``state_dict`` round trip).
    ``only``: train up to that stage (the earlier ones must be trained already) and stop there.
    """
    ds = ds or _dataset(spec)
    method = method or build_method(spec, ds)
    stages = tuple(method.stages())
    if only is not None and only not in stages:
        raise UserError(f"{spec.method} has no training stage {only!r}; its stages are {list(stages)}")
    run_dir = spec.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in method.tasks if t in ds.protocols]
    train_split = ds.protocol(tasks[0], "train").split
    train = ds.load_split(train_split)
    labels = train_labels(ds, train, method)
    base = {"stage": "train", "method": spec.method, "profile": spec.profile, "seed": spec.seed,
            "data": train.content_hash, "protocols": {t: ds.protocol(t, "train").to_dict() for t in tasks},
            "code": _code_hash(type(method))}
    if labels:  # only label-using methods depend on labels (the others' keys are unchanged)
        base["labels"] = {n: sha256_bytes(a.tobytes()) for n, a in labels.items()}
    data = TrainData(videos=train.videos, protocols={t: ds.protocol(t, "train") for t in tasks},
                     content_hash=train.content_hash, labels=labels)
    records = Stages(run_dir)
    previous, to_load, rec = "", None, None
    for stage in stages:
        key_data = {**base, "config": method.stage_config(stage)}
        if stages != SINGLE_STAGE:
            key_data |= {"train_stage": stage, "previous": previous}
        key = sha256_json(key_data)
        name, rel = P.train_record(stages, stage), P.train_dir(stages, stage)
        if records.fresh(name, key):
            rec, to_load = records.get(name), run_dir / rel / P.MODEL
        elif only is not None and stages.index(stage) < stages.index(only):
            raise UserError(f"{spec.method}: training stage {stage!r} is not trained for this config/data/code; "
                            f"run `benchmark train {spec.method} --dataset {spec.dataset} --stage {stage}` "
                            f"first (or train without --stage)")
        else:
            if to_load is not None:  # the earlier stages' weights, as a fresh process would see them
                _load_weights(method, to_load)
            rec = _fit_stage(spec, ds, method, data, stage, rel, name, key, train_split, train, labels)
            to_load = run_dir / rel / P.MODEL
        previous = key
        if stage == only:
            break
    from benchmark.training import distributed as D

    if to_load is not None and (D.is_main_process() or to_load.exists()):
        _load_weights(method, to_load)
    return method, rec


def _load_weights(method: Method, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=False)
    method.load_state_dict(state["state"])
    method.to(method.device)


def _fit_stage(spec: RunSpec, ds: VideoDataset, method: Method, data: TrainData, stage: str, rel: str,
               name: str, key: str, train_split: str, train: SplitData, labels: dict[str, np.ndarray]
               ) -> dict[str, Any]:
    """Fit one training stage into ``<run>/<rel>/`` and record it (rank 0 writes; all ranks train)."""
    from benchmark.training import distributed as D

    run_dir = spec.run_dir
    stage_dir = run_dir / rel
    main = D.is_main_process()  # under torchrun every rank trains; only rank 0 writes
    if main:
        write_json_atomic(stage_dir / P.CONFIG, {"method": spec.method, "profile": spec.profile, "seed": spec.seed,
                                                 "stage": stage, "config": method.config_dict()})
    t0 = time.time()
    # A killed run of the *same* training (same key) left a checkpoint: resume from it (bitwise-equal
    # weights on CPU). A checkpoint of another config/seed/code is stale and never resumed.
    pending = stage_dir / P.PENDING
    same = pending.exists() and read_json(pending).get("key") == key
    resume = spec.resume and same and (stage_dir / P.CHECKPOINT).exists()
    if main and not resume:
        (stage_dir / P.CHECKPOINT).unlink(missing_ok=True)
    if main:
        write_json_atomic(pending, {"key": key})
    summary = method.fit(data, stage_dir, seed=spec.seed, resume=resume, progress=spec.progress and main,
                         stage=stage) or {}
    seconds = time.time() - t0
    if not main:
        D.barrier()  # rank 0 writes model.pt; the caller restores it on every rank
        return {"key": key, "seconds": seconds}
    with atomic_path(stage_dir / P.MODEL) as tmp:
        torch.save({"state": method.state_dict(), "method": spec.method, "profile": spec.profile, "stage": stage,
                    "config": method.config_dict(), "seed": spec.seed, "code": code_version()}, tmp)
    outputs = [f"{rel}/{P.MODEL}", f"{rel}/{P.CONFIG}"]
    if (stage_dir / P.TRAIN_LOG).exists():
        outputs.append(f"{rel}/{P.TRAIN_LOG}")
    pending.unlink(missing_ok=True)
    rec = Stages(run_dir).record(name, key, outputs, seconds=seconds, summary=_jsonable(summary), resumed=resume,
                                 data={"split": train_split, "sha256": train.content_hash, "num_videos": len(train),
                                       "labels": _label_summary(ds, labels)},
                                 world_size=D.get_world_size(),
                                 **({"stage": stage, "stages": list(method.stages())} if rel != "train" else {}))
    D.barrier()
    return rec


def train_outputs(run_dir: Path, stages: tuple[str, ...]) -> list[str]:
    """Run-relative files of every training stage that exist (model, config, log), stage by stage."""
    out = []
    for stage in stages:
        rel = P.train_dir(stages, stage)
        out += [f"{rel}/{f}" for f in (P.MODEL, P.CONFIG, P.TRAIN_LOG) if (run_dir / rel / f).exists()]
    return out


def _label_summary(ds: VideoDataset, labels: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per label used in training: its classes and how many training clips each has."""
    specs = ds.label_specs()
    return {n: {"classes": [str(c) for c in specs[n].classes],
                "counts": np.bincount(a, minlength=len(specs[n].classes)).tolist()} for n, a in labels.items()}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return np.asarray(obj).tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


# ------------------------------------------------------------------------------- sample ---

def _batch_seed(seed: int, start: int) -> int:
    return (seed * 1_000_003 + start) % (2**63 - 1)


def reference_clips(ds: VideoDataset, task: str) -> tuple[Protocol, SplitData]:
    protocol = ds.protocol(task, "test")
    return protocol, ds.clips(protocol)


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
            fields["labels"] = {k: torch.from_numpy(np.asarray(v[index], np.int64)) for k, v in (inputs or
                                                                                                 ReferenceInputs()).labels.items()}
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
    bar = _progress(range(0, n, EVAL_BATCH), desc=f"{method.name}: sampling {task}", unit="batch",
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
    import json

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, nats=np.asarray(nats, np.float64), dims=np.array(int(protocol["dims"])),
                 protocol=np.array(json.dumps(protocol, sort_keys=True)))


def load_likelihoods(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """``(nats (N,), protocol)`` as written by :func:`save_likelihoods`."""
    import json

    with np.load(path) as z:
        return np.asarray(z["nats"], np.float64), json.loads(str(z["protocol"]))


def stage_sample(spec: RunSpec, method: Method, task: str, ds: VideoDataset | None = None,
                 train_key: str = "") -> dict[str, Any]:
    ds = ds or _dataset(spec)
    protocol, ref = reference_clips(ds, task)
    why_not = check_compatible(method, task, protocol)
    if why_not:
        raise UserError(why_not)
    run_dir = spec.run_dir
    rel = P.samples(task)
    key = sha256_json({"stage": "sample", "train": train_key, "task": task, "protocol": protocol.to_dict(),
                       "reference": ref.content_hash, "seed": spec.seed, "code": _code_hash(type(method))})
    stages = Stages(run_dir)
    if stages.fresh(f"sample/{task}", key):
        return stages.get(f"sample/{task}")
    t0 = time.time()
    inputs = reference_inputs(ds, protocol, ref)
    videos = generate_samples(method, task, protocol, ref, seed=spec.seed + 1, progress=spec.progress, inputs=inputs)
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
                         num_samples=k, num_videos=len(videos), extra_galleries=extra, **info)


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


# ----------------------------------------------------------------------------- evaluate ---

def applicable_metrics(task: str, requested: list[str] | None = None, *, likelihood: bool = False) -> list[str]:
    """Registered metrics for ``task``: the requested ones, or every one needing no pretrained
    weights. ``likelihood``-kind metrics (``bits_per_dim``) apply only when the method scored
    likelihoods (``likelihood=True``)."""
    names = requested if requested is not None else METRICS.list()
    out = []
    for name in names:
        cls = METRICS.get(name)
        if task not in cls.tasks:
            if requested is not None:
                log.info("metric %s does not apply to %s; skipped", name, task)
            continue
        if cls.kind == "likelihood" and not likelihood:
            if requested is not None:
                log.info("metric %s needs a likelihood model; skipped", name)
            continue
        if requested is None and getattr(cls, "requires_weights", False):
            continue
        out.append(name)
    return out


def compute_metrics(task: str, protocol: Protocol, samples: np.ndarray, k: int, ref: SplitData,
                    metric_names: list[str], *, real_reference: np.ndarray | None = None,
                    progress: bool = True, label: str = "", weights: str = "pinned",
                    cache_dir: Path | None = None,
                    likelihood: tuple[np.ndarray, dict[str, Any]] | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stream the metrics over batches. Returns ``(values, protocols)``.

    ``samples`` is uint8 ``(N, T, C, H, W)`` (prediction: ``N = B * k`` full clips). For ``set``
    metrics the real side is ``real_reference`` if given, else the reference clips. ``likelihood``:
    ``(nats (N_ref,), likelihood protocol)`` of the reference clips, for ``likelihood`` metrics.
    """
    metrics = {}
    for name in metric_names:
        kwargs = _weight_kwargs(name, weights, cache_dir)
        if METRICS.get(name).kind == "likelihood":
            if likelihood is None:
                raise UserError(f"metric {name} needs the method's likelihoods of the reference clips")
            kwargs["likelihood_protocol"] = likelihood[1]
        metrics[name] = METRICS.build(name, **kwargs)
    n_ref = len(ref)
    c = protocol.context_frames
    bar = _progress(range(0, n_ref, EVAL_BATCH), desc=f"{label}: scoring {task}", unit="batch",
                    disable=not progress, leave=False)
    for start in bar:
        stop = min(start + EVAL_BATCH, n_ref)
        target = V.to_float(np.asarray(ref.videos[start:stop]))
        fake = V.to_float(samples[start * k:stop * k])
        for m in metrics.values():
            if m.kind == "paired":
                b = stop - start
                pred = fake.view(b, k, *fake.shape[1:])[:, :, c:]
                m.update(pred, target[:, c:])
            elif m.kind == "intrinsic":
                m.update(fake.view(stop - start, k, *fake.shape[1:])[:, 0])
            elif m.kind == "set":
                m.update(fake.view(stop - start, k, *fake.shape[1:])[:, 0], real=False)
            elif m.kind == "likelihood":
                m.update(torch.from_numpy(likelihood[0][start:stop]), dims=int(likelihood[1]["dims"]))
    for m in metrics.values():
        if m.kind == "set":
            real = real_reference if real_reference is not None else ref.videos
            for start in range(0, len(real), EVAL_BATCH):
                m.update(V.to_float(np.asarray(real[start:start + EVAL_BATCH])), real=True)
    values: dict[str, Any] = {}
    protocols: dict[str, Any] = {}
    for name, m in metrics.items():
        for key, mv in m.compute().items():
            d = mv.to_dict()
            if d.get("higher_is_better") is None:
                d["higher_is_better"] = type(m).higher_is_better
            values[key] = d
        protocols[name] = {"kind": m.kind, **m.protocol()}
        if m.kind == "set":
            protocols[name]["conditioning_frames_included"] = task == "prediction" and c > 0
    return values, protocols


def _weight_kwargs(name: str, weights: str, cache_dir: Path | None) -> dict[str, Any]:
    """Pretrained-network metrics get the weights mode and the feature cache folder."""
    if not getattr(METRICS.get(name), "requires_weights", False):
        return {}
    return {"weights": weights, **({"cache_dir": cache_dir} if cache_dir is not None else {})}


def feature_cache_dir(spec: "RunSpec") -> Path:
    return P.feature_cache_dir(spec.out)


def stage_evaluate(spec: RunSpec, task: str, ds: VideoDataset | None = None) -> dict[str, Any]:
    """Score the saved samples of ``task``; returns the task entry of results.json."""
    ds = ds or _dataset(spec)
    protocol, ref = reference_clips(ds, task)
    run_dir = spec.run_dir
    rel = P.samples(task)
    samples_path = run_dir / rel
    if not samples_path.exists():
        raise UserError(f"{samples_path}: no samples; run `benchmark sample {spec.method} --dataset "
                        f"{spec.dataset}` first")
    lik_path = run_dir / P.likelihoods(task)
    sample_rec = Stages(run_dir).get(f"sample/{task}") or {}
    has_lik = "likelihood" in sample_rec and lik_path.exists()
    names = applicable_metrics(task, spec.metrics, likelihood=has_lik)
    key = sha256_json({"stage": "evaluate", "samples": sha256_file(samples_path), "task": task,
                       "protocol": protocol.to_dict(), "reference": ref.content_hash, "metrics": names,
                       "code": _metric_code_hash(), **({"weights": spec.weights} if spec.weights != "pinned" else {}),
                       **({"likelihood": sha256_file(lik_path)} if has_lik else {})})
    stages = Stages(run_dir)
    out_rel = P.scores(task)
    if stages.fresh(f"evaluate/{task}", key):
        return read_json(run_dir / out_rel)
    t0 = time.time()
    with np.load(samples_path) as z:
        k = int(z["num_samples"]) if "num_samples" in z else 1
    samples = V.load_npz(samples_path)
    if len(samples) != len(ref) * k:
        raise UserError(f"{samples_path}: {len(samples)} videos, expected {len(ref)} clips x k={k}; "
                        f"re-run the sample stage")
    values, protocols = compute_metrics(task, protocol, samples, k, ref, names, progress=spec.progress,
                                        label=spec.method, weights=spec.weights,
                                        cache_dir=feature_cache_dir(spec),
                                        likelihood=load_likelihoods(lik_path) if has_lik else None)
    entry = {"protocol": protocol.to_dict() | {"samples_per_context_used": k},
             "reference": {"dataset": ds.name, "split": protocol.split, "num_clips": len(ref),
                           "sha256": ref.content_hash},
             "metric_protocols": protocols, "metrics": values, "samples": rel,
             "gallery": P.gallery(task),
             "extra_galleries": sample_rec.get("extra_galleries", {}),
             "conditioning": sample_rec.get("conditioning", {}),
             **({"likelihoods": P.likelihoods(task)} if has_lik else {}),
             "seconds": time.time() - t0}
    _warn_small_n(spec.method, task, values)
    write_json_atomic(run_dir / out_rel, entry)
    stages.record(f"evaluate/{task}", key, [out_rel])
    return entry


def _warn_small_n(method: str, task: str, values: dict[str, Any]) -> None:
    for name, v in values.items():
        if v.get("ci_low") is None or (isinstance(v.get("ci_low"), float) and math.isnan(v["ci_low"])):
            if v.get("n", 0) < 2 and name not in ("fvd",):
                log.warning("%s/%s: %s has n=%s, too few samples for a confidence interval",
                            method, task, name, v.get("n"))


# ------------------------------------------------------------------- results & manifest ---

def read_train_records(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The training-stage records of a run, in stage order: ``{"train": rec}`` for a single-stage
    method, ``{stage: rec, ...}`` for a multi-stage one (empty when nothing is trained). A stage
    listed by the records but not trained is an error naming the command that trains it."""
    single = run_dir / P.stage_file("train")
    if single.exists():
        return {"train": read_json(single)}
    found = {r["stage"]: r for r in (read_json(f) for f in sorted((run_dir / "train").glob(f"*/{P.STAGE_RECORD}")))
             if "stage" in r}
    if not found:
        return {}
    order = next(iter(found.values())).get("stages") or sorted(found)
    missing = [st for st in order if st not in found]
    if missing:
        raise UserError(f"{run_dir}: training stage(s) {missing} not trained; run `benchmark train` for this "
                        f"method (it trains every stage in order)")
    return {st: found[st] for st in order}


def write_results(spec: RunSpec, tasks: dict[str, Any], train_records: dict[str, dict[str, Any]] | None,
                  config: dict[str, Any], timings: dict[str, float]) -> Path:
    """Write results.json and manifest.json for a run (atomically)."""
    run_dir = spec.run_dir
    comparable = all(v.get("comparable", (v.get("extra") or {}).get("comparable", True)) is not False
                     for t in tasks.values() for v in t["metrics"].values())
    stages = tuple(train_records or ())
    logs = {st: f"{P.train_dir(stages, st)}/{P.TRAIN_LOG}" for st in stages
            if (run_dir / P.train_dir(stages, st) / P.TRAIN_LOG).exists()}
    results = {"schema": SCHEMA, "method": spec.method, "dataset": spec.dataset,
               "profile": spec.profile if spec.method != REAL else P.REAL_PROFILE, "seeds": [spec.seed],
               "comparable": comparable, "tasks": tasks,
               "train_log": list(logs.values())[-1] if logs else None,
               **({"train_logs": logs} if len(stages) > 1 else {}),
               "manifest": P.MANIFEST}
    write_json_atomic(run_dir / P.RESULTS, results)
    artifacts = [P.RESULTS, *(f for t in tasks.values() for f in (t["samples"], t["gallery"]) if f)]
    artifacts += [f for t in tasks.values() for f in t.get("extra_galleries", {}).values()]
    artifacts += [t["likelihoods"] for t in tasks.values() if t.get("likelihoods")]
    artifacts += [P.scores(t) for t in tasks]
    artifacts += train_outputs(run_dir, stages)
    dataset = {**_dataset(spec).identity(), "tasks": {t: v["reference"] for t, v in tasks.items()}}
    if train_records:
        dataset["train"] = list(train_records.values())[-1].get("data")
    extra: dict[str, Any] = {"results": {t: {k: v["value"] for k, v in e["metrics"].items()} for t, e in tasks.items()}}
    conditioning = {t: e["conditioning"] for t, e in tasks.items() if e.get("conditioning")}
    if conditioning:
        extra["conditioning"] = conditioning
    if len(stages) > 1:
        extra["training_stages"] = {st: rec.get("key") for st, rec in train_records.items()}
    manifest = build_manifest(
        run_dir=run_dir, config={"method": spec.method, "profile": spec.profile, "overrides": spec.overrides,
                                 "model": config, "device": spec.device,
                                 "dataset_options": spec.dataset_options},
        seeds=[spec.seed], dataset=dataset,
        metric_protocols={t: v["metric_protocols"] for t, v in tasks.items()}, timings=timings,
        artifacts=artifacts, extra=extra)
    write_json_atomic(run_dir / P.MANIFEST, manifest)
    return run_dir / P.RESULTS


class MethodSkipped(UserError):
    """A method that cannot run on a dataset at all (its profile cannot fit the data, or no task's
    protocol provides the conditioning it needs); ``benchmark run`` reports the one-line reason and
    goes on (it is not a failure)."""


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


def run_method(spec: RunSpec) -> Path:
    """train -> sample -> evaluate for every task the method and dataset share (each cached).

    Raises :class:`MethodSkipped` when the profile cannot fit the dataset or no task can run."""
    ds = _dataset(spec)
    try:
        method = build_method(spec, ds)
    except ProfileUnavailable as e:
        raise MethodSkipped(f"{spec.method}: profile {spec.profile!r} does not fit {ds.name}: {e}") from e
    tasks, why = runnable_tasks(method, ds)
    if not tasks:
        raise MethodSkipped("; ".join(why.values()))
    method, train_rec = stage_train(spec, ds, method)
    for task in tasks:
        stage_sample(spec, method, task, ds, train_key=train_rec["key"])
    return evaluate_run(spec, ds, tasks=tasks)


def evaluate_run(spec: RunSpec, ds: VideoDataset | None = None, tasks: list[str] | None = None) -> Path:
    """Score every task's saved samples and write results.json + manifest.json (``tasks``: the ones
    the method runs on this dataset; default: those of :func:`runnable_tasks`)."""
    ds = ds or _dataset(spec)
    cls = METHODS.get(spec.method)
    if tasks is None:
        tasks_run = [t for t in cls.tasks if t in ds.protocols]
        if any(Stages(spec.run_dir).get(f"sample/{t}") is None for t in tasks_run):
            tasks_run, _ = runnable_tasks(build_method(spec, ds), ds)
    else:
        tasks_run = list(tasks)
    stages = Stages(spec.run_dir)
    train_recs = read_train_records(spec.run_dir)
    if not train_recs:
        raise UserError(f"{spec.run_dir}: not trained; run `benchmark train {spec.method} --dataset {spec.dataset}`")
    timings: dict[str, float] = {"train_s": float(sum(r.get("seconds", 0.0) for r in train_recs.values()))}
    if len(train_recs) > 1:
        timings |= {f"train_{st}_s": float(r.get("seconds", 0.0)) for st, r in train_recs.items()}
    tasks = {}
    for task in tasks_run:
        srec = stages.get(f"sample/{task}")
        if srec is None:
            raise UserError(f"{spec.run_dir}: no {task} samples; run `benchmark sample {spec.method} "
                            f"--dataset {spec.dataset}`")
        tasks[task] = stage_evaluate(spec, task, ds)
        timings[f"sample_{task}_s"] = float(srec.get("seconds", 0.0))
        timings[f"evaluate_{task}_s"] = float(tasks[task].get("seconds", 0.0))
    last = P.train_dir(tuple(train_recs), list(train_recs)[-1])
    config = read_json(spec.run_dir / last / P.CONFIG).get("config", {})
    return write_results(spec, tasks, train_recs, config, timings)


def run_real(spec: RunSpec) -> Path:
    """The "real data" bound: metrics of the real test clips (set metrics: test vs val split)."""
    ds = _dataset(spec)
    run_dir = spec.run_dir
    t0 = time.time()
    tasks = {}
    for task in ds.tasks():
        protocol, ref = reference_clips(ds, task)
        names = [n for n in applicable_metrics(task, spec.metrics) if METRICS.get(n).kind not in ("paired", "likelihood")]
        key = sha256_json({"stage": "real", "task": task, "protocol": protocol.to_dict(),
                           "reference": ref.content_hash, "metrics": names, "code": _metric_code_hash(),
                           **({"weights": spec.weights} if spec.weights != "pinned" else {})})
        stages = Stages(run_dir)
        out_rel = P.scores(task)
        if stages.fresh(f"evaluate/{task}", key):
            tasks[task] = read_json(run_dir / out_rel)
            continue
        other = None
        if any(METRICS.get(n).kind == "set" for n in names) and "val" in ds.splits:
            other = ds.clips(protocol.replace(split="val", num_videos=None)).videos
        # The real clips play the role of samples (k = 1); set metrics compare them with `other`.
        values, protocols = compute_metrics(task, protocol, np.asarray(ref.videos), 1, ref, names,
                                            real_reference=other, progress=spec.progress, label="real",
                                            weights=spec.weights, cache_dir=feature_cache_dir(spec))
        rel = P.samples(task)
        V.save_npz(run_dir / rel, np.asarray(ref.videos[:GALLERY_VIDEOS]))
        gallery = P.gallery(task)
        V.write_video(run_dir / gallery, V.video_grid(np.asarray(ref.videos[:GALLERY_VIDEOS]), ncol=4), fps=4)
        tasks[task] = {"protocol": protocol.to_dict() | {"samples_per_context_used": 1},
                       "reference": {"dataset": ds.name, "split": protocol.split, "num_clips": len(ref),
                                     "sha256": ref.content_hash},
                       "metric_protocols": protocols, "metrics": values, "samples": rel,
                       "gallery": gallery, "seconds": time.time() - t0}
        write_json_atomic(run_dir / out_rel, tasks[task])
        stages.record(f"evaluate/{task}", key, [out_rel])
    return write_results(spec, tasks, None, {}, {"wall_s": time.time() - t0})


# ------------------------------------------------------------------------------- verify ---

def verify_run(path: Path, *, data_root: Path | None = None, rtol: float = 1e-6) -> list[str]:
    """Re-hash every artifact and recompute the metrics from the saved samples.

    Returns the list of mismatches (empty when the run verifies).
    """
    path = Path(path)
    run_dir = path.parent if path.is_file() else path
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise UserError(f"{manifest_path}: no manifest; pass a run folder or its manifest.json")
    manifest = read_json(manifest_path)
    problems = validate_manifest(manifest)
    problems += check_artifacts(run_dir, manifest)
    results = read_json(run_dir / "results.json") if (run_dir / "results.json").exists() else None
    if results is None:
        return problems + ["results.json missing"]
    if results["method"] == REAL:
        return problems  # real-data rows are recomputed by re-running `benchmark evaluate real`
    ds = load_dataset(results["dataset"], data_root, **manifest["config"].get("dataset_options", {}))
    for task, entry in results["tasks"].items():
        protocol, ref = reference_clips(ds, task)
        if ref.content_hash != entry["reference"]["sha256"]:
            problems.append(f"{task}: reference clips hash {ref.content_hash[:12]}… != recorded "
                            f"{entry['reference']['sha256'][:12]}… (dataset changed)")
            continue
        samples_path = run_dir / entry["samples"]
        if not samples_path.exists():
            problems.append(f"{task}: samples {entry['samples']} missing")
            continue
        with np.load(samples_path) as z:
            k = int(z["num_samples"]) if "num_samples" in z else 1
        samples = V.load_npz(samples_path)
        names = sorted(entry["metric_protocols"])
        lik = entry.get("likelihoods")
        values, _ = compute_metrics(task, protocol, samples, k, ref, names, progress=False, label="verify",
                                    likelihood=load_likelihoods(run_dir / lik) if lik else None)
        for key, recorded in entry["metrics"].items():
            new = values.get(key, {}).get("value")
            old = recorded["value"]
            if new is None:
                problems.append(f"{task}/{key}: could not be recomputed")
            elif not (old == new or (isinstance(old, float) and isinstance(new, float)
                                     and (math.isclose(old, new, rel_tol=rtol, abs_tol=1e-9)
                                          or (math.isnan(old) and math.isnan(new))))):
                problems.append(f"{task}/{key}: recorded {old!r}, recomputed {new!r}")
    return problems

