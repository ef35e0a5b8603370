"""Official released checkpoints as run folders: ``benchmark weights import-official METHOD FILE...``.

Older papers released ``torch.save({<name>: <nn.Module object>, ..., 'opt': <argparse.Namespace>})``
files (SVG's ``svglp_*.pth`` / ``svgfp_*.pth``, DRNet's ``model.pth`` of ``train_drnet.py`` plus
``train_lstm.py``'s). This module

1. reads each file with the restricted unpickler of :mod:`benchmark.legacy_checkpoint` (nothing in
   the file is imported or run; a global outside its allow-list is refused);
2. flattens every pickled module into ``(class path, state dict)`` and the saved ``opt`` into plain
   fields;
3. hands them to the method's ``from_official(networks, options, data_spec)``, which infers the
   config (backbone, channels, frame size, |z|, g_dim, LSTM sizes, ...) from the class paths, the
   tensor shapes and ``opt``, refuses a mismatch with the dataset, and maps the weights onto ours
   (name by name, checking kinds and shapes);
4. writes a run folder like a trained run's under the profile ``official``
   (``runs/<dataset>/<method>/official/seed<seed>/train[/<stage>]/``: ``model.pt``, ``config.json``,
   ``stage.json``), with the provenance -- each source file's name and sha256, "imported from an
   official checkpoint", :data:`MAPPING_VERSION`, the networks' class paths and the saved ``opt``.

``benchmark sample|evaluate METHOD --dataset D --profile official`` then use those weights as they
would a trained run's (the training stage is never re-run for this profile; a changed or missing
weights file is an error naming the import command), and the manifest carries the provenance.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

import torch

from benchmark import paths as P
from benchmark.methods import ProfileUnavailable
from benchmark.utils import UserError, atomic_path, read_json, sha256_file, sha256_json, write_json_atomic

#: The profile (run-folder level) of imported weights.
IMPORTED_PROFILE = "official"
#: Version of the official -> ours mapping (bump when a method's ``official.py`` maps differently).
MAPPING_VERSION = "official-import/1"
NOTE = "imported from an official checkpoint (not trained here)"


class OfficialImportError(UserError):
    """The files cannot be imported for this method (the message says why and what to do)."""


class NotImported(UserError, ProfileUnavailable):
    """No imported weights in a run folder of profile ``official``: a :class:`UserError` (the CLI
    prints it) that is also :class:`~benchmark.methods.ProfileUnavailable` (``benchmark run
    --profile official`` skips such a method with the reason instead of failing it)."""


def _jsonable(value: Any) -> Any:
    """A saved ``opt`` field as JSON (class references by their path, tensors by their shape)."""
    from benchmark.legacy_checkpoint import PickledObject, class_path

    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return f"<tensor {tuple(value.shape)}>"
    if isinstance(value, PickledObject) or (isinstance(value, type) and issubclass(value, PickledObject)):
        return f"<{class_path(value)}>"
    return repr(value)


def read_official(files: list[Path]) -> tuple[dict[str, tuple[str, dict[str, torch.Tensor]]], dict[str, Any],
                                                list[dict[str, Any]]]:
    """``(networks, options, sources)`` of one or more official checkpoint files, read safely.

    ``networks``: entry name -> ``(class path, state dict)`` of every pickled module (or state dict)
    in the files; ``options``: the saved ``opt`` fields (merged; the first file wins a conflict);
    ``sources``: per file its name, sha256, entries and ``opt`` (for the provenance record).

    Raises :class:`~benchmark.legacy_checkpoint.UnsafeCheckpointError` for a file that names a global
    outside the allow-list, :class:`OfficialImportError` for two files defining the same network.
    """
    from benchmark.legacy_checkpoint import PickledObject, class_path, load_checkpoint, module_state

    networks: dict[str, tuple[str, dict[str, torch.Tensor]]] = {}
    options: dict[str, Any] = {}
    sources = []
    for f in files:
        tree = load_checkpoint(f)
        if not isinstance(tree, dict):
            raise OfficialImportError(f"{f}: expected a dict of networks and 'opt' (the official train scripts' "
                                      f"torch.save), got {type(tree).__name__}")
        opt = tree.get("opt")
        fields = opt.fields() if isinstance(opt, PickledObject) else (dict(opt) if isinstance(opt, dict) else {})
        entries = {}
        for name, obj in tree.items():
            if name == "opt" or not (isinstance(obj, PickledObject) or isinstance(obj, dict)):
                continue
            if name in networks:
                raise OfficialImportError(f"{f}: network {name!r} is also in an earlier file; give each network once")
            networks[name] = (class_path(obj), dict(module_state(obj)))
            entries[name] = networks[name][0] or "state_dict"
        for k, v in fields.items():
            options.setdefault(k, v)
        sources.append({"file": Path(f).name, "sha256": sha256_file(f), "entries": entries,
                        "opt": {k: _jsonable(v) for k, v in sorted(fields.items())}})
    return networks, options, sources


#: Upstream ``opt.dataset`` (SVG, train_drnet.py) / ``opt.data`` (train_lstm.py) -> our dataset and
#: the attributes the opened dataset must have.
UPSTREAM_DATASETS: dict[str, tuple[str, dict[str, Any]]] = {
    "smmnist": ("mmnist", {"motion": "stochastic"}), "kth": ("kth", {}), "bair": ("bair", {}),
    "moving_mnist": ("mmnist", {}),
}


def check_dataset(options: dict[str, Any], ds: Any, allow_other: bool = False) -> str | None:
    """The upstream dataset the checkpoint was trained on (``opt.dataset``/``opt.data``), checked
    against the dataset it is imported for: a different one is refused unless ``allow_other``.

    >>> class D: name, motion = "mmnist", "deterministic"
    >>> check_dataset({"dataset": "smmnist"}, D())
    Traceback (most recent call last):
    ...
    benchmark.official_import.OfficialImportError: the checkpoint was trained on 'smmnist' (upstream opt.dataset), our mmnist with motion='stochastic'; this dataset is mmnist with motion='deterministic': import it for that dataset (e.g. -o motion=stochastic), or pass --allow-other-dataset to score it here anyway
    """
    theirs = options.get("dataset", options.get("data"))
    if not isinstance(theirs, str) or theirs not in UPSTREAM_DATASETS or allow_other:
        return theirs if isinstance(theirs, str) else None
    name, attrs = UPSTREAM_DATASETS[theirs]
    actual = {k: getattr(ds, k, None) for k in attrs}
    if ds.name != name or actual != attrs:
        want = name + "".join(f" with {k}={v!r}" for k, v in attrs.items())
        have = ds.name + "".join(f" with {k}={v!r}" for k, v in actual.items() if ds.name == name)
        hint = "".join(f" -o {k}={v}" for k, v in attrs.items())
        raise OfficialImportError(f"the checkpoint was trained on {theirs!r} (upstream opt.dataset), our {want}; "
                                  f"this dataset is {have}: import it for that dataset"
                                  f"{f' (e.g.{hint})' if hint and ds.name == name else ''}, or pass "
                                  f"--allow-other-dataset to score it here anyway")
    return theirs


def name_mapping(method: Any, networks: dict[str, tuple[str, dict[str, torch.Tensor]]]) -> dict[str, dict[str, str]]:
    """Per network, upstream's state entry -> ours, as the weights were copied (recorded with the import;
    ``{}`` for a method whose model does not name its networks as upstream's checkpoint entries)."""
    from methods.common.state_mapping import pair_state_by_order

    nets = getattr(getattr(method, "model", None), "networks", None)
    if nets is None:
        return {}
    return {name: {theirs: ours for ours, theirs in pair_state_by_order(net, networks[name][1], name)}
            for name, net in nets().items() if name in networks}


def import_official(method: str, files: list[Path], dataset: str, *, out: Path = Path("."), seed: int = 0,
                    data_root: Path | None = None, dataset_options: dict[str, Any] | None = None,
                    allow_other_dataset: bool = False) -> Path:
    """Import official checkpoint ``files`` of ``method`` for ``dataset``; returns the run folder.

    The run folder is ``<out>/runs/<dataset>/<method>/official/seed<seed>``; ``seed`` only seeds
    sampling (the weights are the file's). A checkpoint whose saved ``opt`` names another dataset
    than ``dataset`` is refused unless ``allow_other_dataset``."""
    from benchmark.registry import METHODS
    from benchmark.stages.cache import Stages, code_key
    from benchmark.stages.spec import RunSpec, data_spec, open_dataset

    cls = METHODS.get(method)
    if not hasattr(cls, "from_official"):
        have = sorted(n for n in METHODS.list() if hasattr(METHODS.get(n), "from_official"))
        raise OfficialImportError(f"{method} has no importer for official checkpoints; methods that have one: "
                                  f"{', '.join(have)}")
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise OfficialImportError(f"{f}: no such file")
    networks, options, sources = read_official(files)
    spec = RunSpec(method=method, dataset=dataset, profile=IMPORTED_PROFILE, seed=seed, out=Path(out),
                   data_root=data_root, dataset_options=dict(dataset_options or {}))
    ds = open_dataset(spec)
    trained_on = check_dataset(options, ds, allow_other_dataset)
    try:
        m = cls.from_official(networks, options, data_spec(ds, cls.tasks))
    except (ValueError, KeyError) as e:  # OfficialCheckpointError, StateMappingError: say which file
        raise OfficialImportError(f"{method}: cannot import {', '.join(str(f) for f in files)}: {e}") from e
    stages = tuple(m.stages())
    covered = tuple(cls.official_stages(networks)) if hasattr(cls, "official_stages") else stages
    if covered != stages:
        missing = [s for s in stages if s not in covered]
        raise OfficialImportError(f"{method}: the file(s) provide the training stage(s) {list(covered)} only, not "
                                  f"{missing}; pass every official file together (e.g. drnet: train_drnet.py's "
                                  f"model.pth and train_lstm.py's model.pth)")
    provenance = {"note": NOTE, "mapping_version": MAPPING_VERSION, "sources": sources, "trained_on": trained_on,
                  "allow_other_dataset": bool(allow_other_dataset),
                  "networks": {k: v[0] for k, v in networks.items()}, "name_mapping": name_mapping(m, networks)}
    config = m.config_dict()
    config_class = f"{type(m.config).__module__}.{type(m.config).__qualname__}"
    run_dir = spec.run_dir
    records = Stages(run_dir)
    previous = ""
    from benchmark.manifest import code_version

    for stage in stages:
        rel = P.train_dir(stages, stage)
        stage_dir = run_dir / rel
        stage_dir.mkdir(parents=True, exist_ok=True)
        for leftover in (P.CHECKPOINT, P.PENDING, P.TRAIN_LOG):  # of an earlier training in this folder
            (stage_dir / leftover).unlink(missing_ok=True)
        write_json_atomic(stage_dir / P.CONFIG, {"method": method, "profile": IMPORTED_PROFILE, "seed": seed,
                                                 "stage": stage, "config": config, "config_class": config_class,
                                                 "imported": provenance})
        with atomic_path(stage_dir / P.MODEL) as tmp:
            torch.save({"state": m.state_dict(), "method": method, "profile": IMPORTED_PROFILE, "stage": stage,
                        "config": config, "seed": seed, "code": code_version(), "imported": provenance}, tmp)
        key = sha256_json({"stage": "train", "method": method, "imported": [s["sha256"] for s in sources],
                           "mapping": MAPPING_VERSION, "config": config, "train_stage": stage,
                           "previous": previous, "code": code_key(cls)})
        records.record(P.train_record(stages, stage), key, [f"{rel}/{P.MODEL}", f"{rel}/{P.CONFIG}"],
                       seconds=0.0, summary={"imported": True, "note": NOTE}, imported=provenance,
                       data={"note": NOTE, "num_videos": 0},
                       **({"stage": stage, "stages": list(stages)} if rel != "train" else {}),
                       created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        previous = key
    return run_dir


# ------------------------------------------------------------------- the "official" profile ---

def _last_config(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    cfgs = sorted(run_dir.glob(f"train/**/{P.CONFIG}"))
    recs = [(p, read_json(p)) for p in cfgs]
    recs = [(p, r) for p, r in recs if r.get("imported")]
    if not recs:
        raise NotImported(f"{run_dir}: no imported official weights; run `benchmark weights import-official "
                          f"METHOD FILE --dataset D` first (profile {IMPORTED_PROFILE!r} is for imported weights only)")
    return recs[-1]


def imported_config(run_dir: Path, method_cls: type) -> Any:
    """The config recorded by the import in ``run_dir`` (a dataclass of ``method_cls``'s package)."""
    from benchmark.config import from_dict

    _, rec = _last_config(run_dir)
    path = str(rec.get("config_class", ""))
    package = method_cls.__module__.rsplit(".", 1)[0] + "."
    if not path.startswith(package):  # never import a name a JSON file chose outside the method's package
        raise UserError(f"{run_dir}: config class {path!r} is not in {package[:-1]}; re-import the weights")
    module, _, name = path.rpartition(".")
    return from_dict(getattr(importlib.import_module(module), name), rec["config"])


def load_imported(run_dir: Path, method: Any, method_name: str, dataset: str) -> dict[str, Any]:
    """Load the imported weights of ``run_dir`` into ``method``; returns the last stage's record.

    The records' output hashes must still match (a weights file changed after the import is refused)."""
    from benchmark.stages.cache import Stages

    stages = tuple(method.stages())
    records = Stages(run_dir)
    again = f"re-run `benchmark weights import-official {method_name} FILE --dataset {dataset}`"
    rec = None
    for stage in stages:
        name = P.train_record(stages, stage)
        rec = records.get(name)
        if not rec or not rec.get("imported"):
            raise UserError(f"{run_dir}: no imported weights for training stage {stage!r}; {again}")
        if not records.fresh(name, rec["key"]):
            raise UserError(f"{run_dir}/{P.train_dir(stages, stage)}: the imported weights changed since the "
                            f"import (sha256 differs from stage.json); {again}")
    state = torch.load(run_dir / P.train_dir(stages, stages[-1]) / P.MODEL, map_location="cpu", weights_only=False)
    method.load_state_dict(state["state"])
    method.to(method.device)
    return rec


# ------------------------------------------------------------------------------------ CLI ---

def cmd_import_official(args: argparse.Namespace) -> int:
    from benchmark.data.cli import _options
    from benchmark.stages.spec import method_dataset_options

    options = method_dataset_options(args.method, args.dataset, _options(getattr(args, "dataset_option", None)))
    run_dir = import_official(args.method, args.files, args.dataset, out=args.out, seed=args.seed,
                              data_root=args.data_root, dataset_options=options,
                              allow_other_dataset=args.allow_other_dataset)
    print(f"{run_dir}: {args.method} imported from {', '.join(str(f) for f in args.files)} "
          f"(mapping {MAPPING_VERSION}); score it with `benchmark sample {args.method} --dataset {args.dataset} "
          f"--profile {IMPORTED_PROFILE}` then `benchmark evaluate {args.method} --dataset {args.dataset} "
          f"--profile {IMPORTED_PROFILE}`")
    return 0


