"""The training stage(s): fit the method on the train split, or load what a previous run trained.

A single-stage method (``Method.stages() == ("train",)``) trains into ``train/``; a multi-stage one
into ``train/<stage>/`` per stage, in order, each with its own content key (chaining the previous
stage's key), resume, log and record. Before a later stage the earlier stage's weights are restored
from its ``model.pt`` (a ``state_dict`` round trip), so a fresh process trains as a continuing one.

Resume: a killed training of the *same* key continues from its ``checkpoint.pt`` (bitwise-equal
weights on CPU). A checkpoint left by a training of another key (config, seed, data or code
changed) is refused with a message; ``--no-resume`` starts over.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import paths as P
from benchmark.data.base import SplitData, UnknownLabelError, VideoDataset
from benchmark.manifest import code_version
from benchmark.methods import SINGLE_STAGE, Method, TrainData
from benchmark.stages.cache import Stages, code_key, must_compute
from benchmark.stages.spec import IMPORTED_PROFILE, RunSpec, build_method, open_dataset
from benchmark.utils import UserError, atomic_path, read_json, sha256_bytes, sha256_json, write_json_atomic


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


def train_actions(ds: VideoDataset, train: SplitData, method: Method, tasks: list[str]) -> np.ndarray | None:
    """``(N, T, A)`` float32 actions of the training clips when a training protocol provides
    ``"actions"`` and the method conditions on them (:meth:`Method.conditioning_inputs`), else None."""
    for task in tasks:
        proto = ds.protocol(task, "train")
        if "actions" in proto.conditioning and "actions" in method.conditioning_inputs(task):
            try:
                return np.asarray(ds.clip_actions(train, proto), np.float32)
            except (UnknownLabelError, ValueError) as e:
                raise UserError(f"{ds.name} protocol {proto.name} provides actions: {e}") from e
    return None


def clip_sources(data: SplitData) -> np.ndarray | None:
    """``(N,)`` int64 source clip (store segment) of each item of ``data``, or None when the items carry
    no ``segment`` in their metadata (each item is then its own video)."""
    if not data.meta or any("segment" not in m for m in data.meta):
        return None
    return np.asarray([int(m["segment"]) for m in data.meta], np.int64)


def training_data(spec: RunSpec, ds: VideoDataset, method: Method) -> tuple[TrainData, SplitData, str, dict[str, Any]]:
    """The clips the method trains on (``spec.train_clips`` of the train split, or all of it), its
    labels, the split name and what keys them."""
    tasks = [t for t in method.tasks if t in ds.protocols]
    split = ds.protocol(tasks[0], "train").split
    train = ds.load_split(split)
    labels = train_labels(ds, train, method)
    actions = train_actions(ds, train, method, tasks)
    videos = train.videos
    content = train.content_hash
    sources = clip_sources(train)
    if spec.train_clips is not None:
        keep = np.asarray(spec.train_clips, np.int64)
        if len(keep) == 0 or keep.min() < 0 or keep.max() >= len(train):
            raise UserError(f"train_clips must index the {len(train)} clips of the {split} split")
        videos = train.videos[keep]
        labels = {k: v[keep] for k, v in labels.items()}
        actions = None if actions is None else actions[keep]
        sources = None if sources is None else sources[keep]
        content = sha256_json({"split": train.content_hash, "clips": keep.tolist()})
    data = TrainData(videos=videos, protocols={t: ds.protocol(t, "train") for t in tasks},
                     content_hash=content, labels=labels, actions=actions, sources=sources)
    key = {"data": content, "dataset": ds.identity(),
           "protocols": {t: ds.protocol(t, "train").to_dict() for t in tasks}}
    if labels:  # only label-using methods depend on labels (the others' keys are unchanged)
        key["labels"] = {n: sha256_bytes(np.ascontiguousarray(a).tobytes()) for n, a in labels.items()}
    if actions is not None:  # likewise only action-conditioned training depends on actions
        key["actions"] = sha256_bytes(np.ascontiguousarray(actions).tobytes())
    return data, train, split, key


def stage_train(spec: RunSpec, ds: VideoDataset | None = None, method: Method | None = None, *,
                only: str | None = None) -> tuple[Method, dict[str, Any]]:
    """Fit the method's training stages in order (or load each cached one); returns the method with
    the weights of its last stage and that stage's record (whose ``key`` the sample stage chains).

    Each stage (:meth:`Method.stages`) has its own folder (:func:`benchmark.paths.train_dir`),
    content key, resume and log; a later stage's key chains the earlier one's, and before it the
    earlier stage's weights are restored from its ``model.pt`` (a ``state_dict`` round trip).
    ``only``: train up to that stage (the earlier ones must be trained already) and stop there.
    """
    ds = ds or open_dataset(spec)
    method = method or build_method(spec, ds)
    stages = tuple(method.stages())
    if only is not None and only not in stages:
        raise UserError(f"{spec.method} has no training stage {only!r}; its stages are {list(stages)}")
    run_dir = spec.run_dir
    if spec.profile == IMPORTED_PROFILE:  # weights imported from an official checkpoint: never trained here
        from benchmark.official_import import load_imported

        return method, load_imported(run_dir, method, spec.method, spec.dataset)
    run_dir.mkdir(parents=True, exist_ok=True)
    data, _, train_split, data_key = training_data(spec, ds, method)
    labels = data.labels
    base = {"stage": "train", "method": spec.method, "profile": spec.profile, "seed": spec.seed, **data_key,
            "code": code_key(type(method))}
    from benchmark.training import distributed as D
    from benchmark.training import runtime

    options = spec.runtime_options()
    try:
        options.check_device(method.device)
    except ValueError as e:
        raise UserError(f"{spec.method}: {e}") from e
    hardware = D.training_hardware(method.device, options)
    keyed = D.keyed_hardware(hardware)
    if keyed != D.keyed_hardware(D.SINGLE_CPU_FP32):  # weights trained on other hardware are another cache
        base["hardware"] = keyed                      # entry; default CPU fp32 runs keep their keys
    records = Stages(run_dir)
    if spec.untrained:
        return method, _record_untrained(spec, method, records, base)
    with runtime.applied(options):
        method, rec, to_load = _train_stages(spec, ds, method, stages, only, base, data, train_split, labels,
                                             hardware, records)
    if to_load is not None and (D.is_main_process() or to_load.exists()):
        _load_weights(method, to_load)
    return method, rec


def _train_stages(spec, ds, method, stages, only, base, data, train_split, labels, hardware, records):
    """The stages of :func:`stage_train`, in order, under the run's numeric options."""
    run_dir = spec.run_dir
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
            must_compute(run_dir, name)
            if to_load is not None:  # the earlier stages' weights, as a fresh process would see them
                _load_weights(method, to_load)
            rec = _fit_stage(spec, ds, method, data, stage, rel, name, key, train_split, labels, hardware)
            to_load = run_dir / rel / P.MODEL
        previous = key
        if stage == only:
            break
    return method, rec, to_load


def _record_untrained(spec: RunSpec, method: Method, records: Stages, base: dict[str, Any]) -> dict[str, Any]:
    """An untrained reference run's one "training" record: no fit, no weights file (the weights are the
    seeded construction's, :func:`~benchmark.stages.spec.build_method`), the config it was built from."""
    key = sha256_json({**base, "config": method.config_dict(), "untrained": True})
    if records.fresh("train", key):
        return records.get("train")
    must_compute(spec.run_dir, "train")
    from benchmark.training import distributed as D

    if not D.is_main_process():
        return {"key": key}
    write_json_atomic(spec.run_dir / "train" / P.CONFIG,
                      {"method": spec.method, "profile": spec.profile, "seed": spec.seed, "stage": "train",
                       "untrained": True, "config": method.config_dict()})
    return records.record("train", key, [f"train/{P.CONFIG}"], seconds=0.0,
                          summary={"untrained": True, "note": "the network at its seeded initialisation; never trained"})


def _load_weights(method: Method, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=False)
    method.load_state_dict(state["state"])
    method.to(method.device)


def _resume_decision(spec: RunSpec, stage_dir: Path, key: str) -> bool:
    """Whether to resume ``stage_dir/checkpoint.pt``: only a killed training of the same key. A
    checkpoint of an interrupted training with another key is refused (never resumed, never silently
    deleted) unless ``--no-resume``; a finished training's last checkpoint is simply superseded."""
    ckpt, pending = stage_dir / P.CHECKPOINT, stage_dir / P.PENDING
    if not (ckpt.exists() and pending.exists()):
        return False
    theirs = read_json(pending).get("key", "")
    if theirs == key:
        return spec.resume
    if spec.resume:
        raise UserError(f"{ckpt} belongs to an interrupted training with another config, seed, data or code "
                        f"(key {theirs[:12]}…, this run {key[:12]}…); it is not resumed. Re-run with --no-resume "
                        f"to start this training over (that checkpoint is then deleted).")
    return False


def _fit_stage(spec: RunSpec, ds: VideoDataset, method: Method, data: TrainData, stage: str, rel: str,
               name: str, key: str, train_split: str, labels: dict[str, np.ndarray],
               hardware: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit one training stage into ``<run>/<rel>/`` and record it (rank 0 writes; all ranks train)."""
    from benchmark.training import distributed as D

    run_dir = spec.run_dir
    stage_dir = run_dir / rel
    main = D.is_main_process()  # under torchrun every rank trains; only rank 0 writes
    if main:
        write_json_atomic(stage_dir / P.CONFIG, {"method": spec.method, "profile": spec.profile, "seed": spec.seed,
                                                 "stage": stage, "config": method.config_dict()})
    t0 = time.time()
    resume = _resume_decision(spec, stage_dir, key)
    if main and not resume:
        (stage_dir / P.CHECKPOINT).unlink(missing_ok=True)
    pending = stage_dir / P.PENDING
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
    rec = Stages(run_dir).record(name, key, outputs, seconds=seconds, summary=jsonable(summary), resumed=resume,
                                 data={"split": train_split, "sha256": data.content_hash,
                                       "num_videos": len(data.videos), "labels": _label_summary(ds, labels),
                                       **({"clips": list(spec.train_clips)} if spec.train_clips is not None else {})},
                                 world_size=D.get_world_size(),
                                 hardware=hardware or D.training_hardware(method.device),
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


def _label_summary(ds: VideoDataset, labels: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per label used in training: its classes and how many training clips each has."""
    specs = ds.label_specs()
    return {n: {"classes": [str(c) for c in specs[n].classes],
                "counts": np.bincount(a, minlength=len(specs[n].classes)).tolist()} for n, a in labels.items()}


def jsonable(obj: Any) -> Any:
    """``obj`` with tensors/arrays as lists and numpy scalars as Python numbers (for JSON records)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return np.asarray(obj).tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
