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

from benchmark import video as V
from benchmark.data.base import Protocol, SplitData, UnknownLabelError, VideoDataset
from benchmark.manifest import build_manifest, check_artifacts, code_version, validate_manifest
from benchmark.methods import DataSpec, Method, TrainData
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
        profile = self.profile if self.method != REAL else "data"
        return Path(self.out) / "runs" / self.dataset / self.method / profile / f"seed{self.seed}"


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
    # the weight pins too: a re-pinned network (e.g. a retrained moving-shapes evaluator) re-scores
    return sha256_tree([repo_root() / "benchmark" / "metrics", repo_root() / "manifests" / "weights.yaml"])


STAGE_FILES = {"train": "train/stage.json"}


def _stage_file(stage: str) -> str:
    """Where a stage's record lives: inside the folder that holds its outputs (one DVC out each)."""
    if stage in STAGE_FILES:
        return STAGE_FILES[stage]
    kind, _, task = stage.partition("/")
    folder = {"sample": "samples", "evaluate": "scores"}[kind]
    return f"{folder}/stage-{task}.json"


class Stages:
    """Per-stage records: the stage's content key and its outputs' sha256.

    Each record sits in the stage's own output folder (``train/``, ``samples/``, ``scores/``) so
    that DVC can track every stage's outputs without overlap.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def get(self, stage: str) -> dict[str, Any] | None:
        path = self.run_dir / _stage_file(stage)
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

    def record(self, stage: str, key: str, outputs: list[str], **info: Any) -> dict[str, Any]:
        rec = {"key": key, "outputs": {o: sha256_file(self.run_dir / o) for o in outputs}, **info}
        write_json_atomic(self.run_dir / _stage_file(stage), rec)
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

def stage_train(spec: RunSpec, ds: VideoDataset | None = None, method: Method | None = None
                ) -> tuple[Method, dict[str, Any]]:
    """Fit the method on the train split (or load the cached checkpoint); returns it and its record."""
    ds = ds or _dataset(spec)
    method = method or build_method(spec, ds)
    run_dir = spec.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in method.tasks if t in ds.protocols]
    train_split = ds.protocol(tasks[0], "train").split
    train = ds.load_split(train_split)
    labels = train_labels(ds, train, method)
    key_data = {"stage": "train", "method": spec.method, "profile": spec.profile,
                "config": method.config_dict(), "seed": spec.seed, "data": train.content_hash,
                "protocols": {t: ds.protocol(t, "train").to_dict() for t in tasks},
                "code": _code_hash(type(method))}
    if labels:  # only label-using methods depend on labels (the others' keys are unchanged)
        key_data["labels"] = {n: sha256_bytes(a.tobytes()) for n, a in labels.items()}
    key = sha256_json(key_data)
    stages = Stages(run_dir)
    train_dir = run_dir / "train"
    ckpt = train_dir / "model.pt"
    if stages.fresh("train", key):
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        method.load_state_dict(state["state"])
        method.to(method.device)
        return method, stages.get("train")
    from benchmark.training import distributed as D

    main = D.is_main_process()  # under torchrun every rank trains; only rank 0 writes
    if main:
        write_json_atomic(train_dir / "config.json", {"method": spec.method, "profile": spec.profile,
                                                     "seed": spec.seed, "config": method.config_dict()})
    data = TrainData(videos=train.videos, protocols={t: ds.protocol(t, "train") for t in tasks},
                     content_hash=train.content_hash, labels=labels)
    t0 = time.time()
    # A killed run of the *same* training (same key) left a checkpoint: resume from it (bitwise-equal
    # weights on CPU). A checkpoint of another config/seed/code is stale and never resumed.
    pending = train_dir / "pending.json"
    same = pending.exists() and read_json(pending).get("key") == key
    resume = spec.resume and same and (train_dir / "checkpoint.pt").exists()
    if main and not resume:
        (train_dir / "checkpoint.pt").unlink(missing_ok=True)
    if main:
        write_json_atomic(pending, {"key": key})
    summary = method.fit(data, train_dir, seed=spec.seed, resume=resume, progress=spec.progress and main) or {}
    seconds = time.time() - t0
    if not main:
        return method, {"key": key, "seconds": seconds}
    with atomic_path(ckpt) as tmp:
        torch.save({"state": method.state_dict(), "method": spec.method, "profile": spec.profile,
                    "config": method.config_dict(), "seed": spec.seed, "code": code_version()}, tmp)
    outputs = ["train/model.pt", "train/config.json"]
    if (train_dir / "train_log.jsonl").exists():
        outputs.append("train/train_log.jsonl")
    pending.unlink(missing_ok=True)
    rec = stages.record("train", key, outputs, seconds=seconds, summary=_jsonable(summary), resumed=resume,
                        data={"split": train_split, "sha256": train.content_hash, "num_videos": len(train),
                              "labels": _label_summary(ds, labels)},
                        world_size=D.get_world_size())
    return method, rec


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


def generate_samples(method: Method, task: str, protocol: Protocol, ref: SplitData, *, seed: int,
                     progress: bool = True) -> np.ndarray:
    """Run the method over the test protocol: uint8 ``(N, T, C, H, W)`` videos.

    Synthesis: ``N`` = number of reference clips, ``T`` = protocol frames. Prediction: for each
    test clip, ``k`` samples, each stored as context + prediction (``N = B * k``, sample-major
    within a clip).
    """
    n = len(ref)
    out: list[np.ndarray] = []
    bar = _progress(range(0, n, EVAL_BATCH), desc=f"{method.name}: sampling {task}", unit="batch",
                    disable=not progress, leave=False)
    with torch.no_grad():
        for start in bar:
            stop = min(start + EVAL_BATCH, n)
            if task == "synthesis":
                x = method.generate(stop - start, protocol.num_frames, seed=_batch_seed(seed, start))
                V.check_videos(x, f"{method.name} samples")
                out.append(V.to_uint8(x.cpu()).numpy())
            else:
                k = protocol.samples_per_context if method.stochastic else 1
                clip = V.to_float(np.asarray(ref.videos[start:stop]))
                context = clip[:, :protocol.context_frames].to(method.device)
                pred = method.predict(context, protocol.future_frames, k, seed=_batch_seed(seed, start))
                if pred.ndim != 6 or pred.shape[2] != protocol.future_frames or pred.shape[0] != stop - start:
                    raise UserError(f"{method.name}.predict returned shape {tuple(pred.shape)}; expected "
                                    f"(B={stop - start}, k, p={protocol.future_frames}, C, H, W)")
                k = pred.shape[1]
                V.check_videos(pred.flatten(0, 1).cpu(), f"{method.name} predictions")
                ctx = context.cpu().unsqueeze(1).expand(-1, k, -1, -1, -1, -1)
                full = torch.cat([ctx, pred.cpu()], dim=2).flatten(0, 1)  # (B*k, c+p, C, H, W)
                out.append(V.to_uint8(full).numpy())
    return np.concatenate(out)


def stage_sample(spec: RunSpec, method: Method, task: str, ds: VideoDataset | None = None,
                 train_key: str = "") -> dict[str, Any]:
    ds = ds or _dataset(spec)
    protocol, ref = reference_clips(ds, task)
    run_dir = spec.run_dir
    rel = f"samples/{task}.npz"
    key = sha256_json({"stage": "sample", "train": train_key, "task": task, "protocol": protocol.to_dict(),
                       "reference": ref.content_hash, "seed": spec.seed, "code": _code_hash(type(method))})
    stages = Stages(run_dir)
    if stages.fresh(f"sample/{task}", key):
        return stages.get(f"sample/{task}")
    t0 = time.time()
    videos = generate_samples(method, task, protocol, ref, seed=spec.seed + 1, progress=spec.progress)
    k = len(videos) // len(ref)
    V.save_npz(run_dir / rel, videos, num_samples=np.array(k), context_frames=np.array(protocol.context_frames))
    gallery = f"samples/{task}.gif"
    write_gallery(run_dir / gallery, videos, ref, task, protocol, k)
    extra = {}
    with torch.no_grad():
        views = method.visualize(task, GALLERY_VIDEOS // 2, protocol.num_frames, seed=spec.seed + 1)
    for name, view in views.items():
        extra[name] = f"samples/{task}_{name}.gif"
        V.write_video(run_dir / extra[name], V.video_grid(V.check_videos(view.cpu(), name), ncol=4), fps=4)
    return stages.record(f"sample/{task}", key, [rel, gallery, *extra.values()], seconds=time.time() - t0,
                         num_samples=k, num_videos=len(videos), extra_galleries=extra)


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

def applicable_metrics(task: str, requested: list[str] | None = None, dataset: str | None = None) -> list[str]:
    """Registered metrics for ``task`` (and ``dataset``): the requested ones, or by default every one
    needing no download (no pretrained weights, or weights that ship with the code). A metric defined
    on some datasets only (``cls.datasets``) is skipped on any other, and by default when ``dataset``
    is not given."""
    names = requested if requested is not None else METRICS.list()
    out = []
    for name in names:
        cls = METRICS.get(name)
        if task not in cls.tasks:
            if requested is not None:
                log.info("metric %s does not apply to %s; skipped", name, task)
            continue
        only = getattr(cls, "datasets", None)
        if only is not None and (dataset not in only if dataset is not None else requested is None):
            if requested is not None:
                log.info("metric %s is defined on %s only, not %s; skipped", name, ", ".join(only), dataset)
            continue
        if requested is None and getattr(cls, "requires_weights", False) and not getattr(cls, "weights_shipped", False):
            continue
        out.append(name)
    return out


def compute_metrics(task: str, protocol: Protocol, samples: np.ndarray, k: int, ref: SplitData,
                    metric_names: list[str], *, real_reference: np.ndarray | None = None,
                    progress: bool = True, label: str = "", weights: str = "pinned",
                    cache_dir: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stream the metrics over batches. Returns ``(values, protocols)``.

    ``samples`` is uint8 ``(N, T, C, H, W)`` (prediction: ``N = B * k`` full clips). For ``set``
    metrics the real side is ``real_reference`` if given, else the reference clips.
    """
    metrics = {name: METRICS.build(name, **_weight_kwargs(name, weights, cache_dir)) for name in metric_names}
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
    return Path(spec.out) / "cache" / "features"


def stage_evaluate(spec: RunSpec, task: str, ds: VideoDataset | None = None) -> dict[str, Any]:
    """Score the saved samples of ``task``; returns the task entry of results.json."""
    ds = ds or _dataset(spec)
    protocol, ref = reference_clips(ds, task)
    run_dir = spec.run_dir
    rel = f"samples/{task}.npz"
    samples_path = run_dir / rel
    if not samples_path.exists():
        raise UserError(f"{samples_path}: no samples; run `benchmark sample {spec.method} --dataset "
                        f"{spec.dataset}` first")
    names = applicable_metrics(task, spec.metrics, ds.name)
    key = sha256_json({"stage": "evaluate", "samples": sha256_file(samples_path), "task": task,
                       "protocol": protocol.to_dict(), "reference": ref.content_hash, "metrics": names,
                       "code": _metric_code_hash(), **({"weights": spec.weights} if spec.weights != "pinned" else {})})
    stages = Stages(run_dir)
    out_rel = f"scores/{task}.json"
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
                                        cache_dir=feature_cache_dir(spec))
    entry = {"protocol": protocol.to_dict() | {"samples_per_context_used": k},
             "reference": {"dataset": ds.name, "split": protocol.split, "num_clips": len(ref),
                           "sha256": ref.content_hash},
             "metric_protocols": protocols, "metrics": values, "samples": rel,
             "gallery": f"samples/{task}.gif",
             "extra_galleries": (Stages(run_dir).get(f"sample/{task}") or {}).get("extra_galleries", {}),
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

def write_results(spec: RunSpec, tasks: dict[str, Any], train_record: dict[str, Any] | None,
                  config: dict[str, Any], timings: dict[str, float]) -> Path:
    """Write results.json and manifest.json for a run (atomically)."""
    run_dir = spec.run_dir
    comparable = all(v.get("comparable", (v.get("extra") or {}).get("comparable", True)) is not False
                     for t in tasks.values() for v in t["metrics"].values())
    results = {"schema": SCHEMA, "method": spec.method, "dataset": spec.dataset,
               "profile": spec.profile if spec.method != REAL else "data", "seeds": [spec.seed],
               "comparable": comparable, "tasks": tasks,
               "train_log": "train/train_log.jsonl" if (run_dir / "train/train_log.jsonl").exists() else None,
               "manifest": "manifest.json"}
    write_json_atomic(run_dir / "results.json", results)
    artifacts = ["results.json", *(f for t in tasks.values() for f in (t["samples"], t["gallery"]) if f)]
    artifacts += [f for t in tasks.values() for f in t.get("extra_galleries", {}).values()]
    artifacts += [f"scores/{t}.json" for t in tasks]
    for f in ("train/model.pt", "train/config.json", "train/train_log.jsonl"):
        if (run_dir / f).exists():
            artifacts.append(f)
    dataset = {**_dataset(spec).identity(), "tasks": {t: v["reference"] for t, v in tasks.items()}}
    if train_record:
        dataset["train"] = train_record.get("data")
    manifest = build_manifest(
        run_dir=run_dir, config={"method": spec.method, "profile": spec.profile, "overrides": spec.overrides,
                                 "model": config, "device": spec.device,
                                 "dataset_options": spec.dataset_options},
        seeds=[spec.seed], dataset=dataset,
        metric_protocols={t: v["metric_protocols"] for t, v in tasks.items()}, timings=timings,
        artifacts=artifacts, extra={"results": {t: {k: v["value"] for k, v in e["metrics"].items()}
                                                for t, e in tasks.items()}})
    write_json_atomic(run_dir / "manifest.json", manifest)
    return run_dir / "results.json"


def run_method(spec: RunSpec) -> Path:
    """train -> sample -> evaluate for every task the method and dataset share (each cached)."""
    ds = _dataset(spec)
    method, train_rec = stage_train(spec, ds)
    for task in (t for t in method.tasks if t in ds.protocols):
        stage_sample(spec, method, task, ds, train_key=train_rec["key"])
    return evaluate_run(spec, ds)


def evaluate_run(spec: RunSpec, ds: VideoDataset | None = None) -> Path:
    """Score every task's saved samples and write results.json + manifest.json."""
    ds = ds or _dataset(spec)
    cls = METHODS.get(spec.method)
    stages = Stages(spec.run_dir)
    train_rec = stages.get("train")
    if train_rec is None:
        raise UserError(f"{spec.run_dir}: not trained; run `benchmark train {spec.method} --dataset {spec.dataset}`")
    timings: dict[str, float] = {"train_s": float(train_rec.get("seconds", 0.0))}
    tasks = {}
    for task in (t for t in cls.tasks if t in ds.protocols):
        srec = stages.get(f"sample/{task}")
        if srec is None:
            raise UserError(f"{spec.run_dir}: no {task} samples; run `benchmark sample {spec.method} "
                            f"--dataset {spec.dataset}`")
        tasks[task] = stage_evaluate(spec, task, ds)
        timings[f"sample_{task}_s"] = float(srec.get("seconds", 0.0))
        timings[f"evaluate_{task}_s"] = float(tasks[task].get("seconds", 0.0))
    config = read_json(spec.run_dir / "train" / "config.json").get("config", {})
    return write_results(spec, tasks, train_rec, config, timings)


def run_real(spec: RunSpec) -> Path:
    """The "real data" bound: metrics of the real test clips (set metrics: test vs val split)."""
    ds = _dataset(spec)
    run_dir = spec.run_dir
    t0 = time.time()
    tasks = {}
    for task in ds.tasks():
        protocol, ref = reference_clips(ds, task)
        names = [n for n in applicable_metrics(task, spec.metrics, ds.name) if METRICS.get(n).kind != "paired"]
        key = sha256_json({"stage": "real", "task": task, "protocol": protocol.to_dict(),
                           "reference": ref.content_hash, "metrics": names, "code": _metric_code_hash(),
                           **({"weights": spec.weights} if spec.weights != "pinned" else {})})
        stages = Stages(run_dir)
        out_rel = f"scores/{task}.json"
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
        rel = f"samples/{task}.npz"
        V.save_npz(run_dir / rel, np.asarray(ref.videos[:GALLERY_VIDEOS]))
        gallery = f"samples/{task}.gif"
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
        values, _ = compute_metrics(task, protocol, samples, k, ref, names, progress=False, label="verify")
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

