"""``benchmark data fetch|verify|prepare|info NAME``: the dataset verbs (a CLI plugin).

    benchmark data fetch kth --data-root data          download (resume) + verify the raw files
    benchmark data verify kth --data-root data         check the raw files on disk (no network)
    benchmark data prepare kth --data-root data --option split=savp --option size=64
    benchmark data info kth --part test --json         per part: source videos, clips, frame shape
    benchmark data info kth -o split=svg               the parts under another split scheme
    benchmark data list-clips kth --out manifests/splits/kth-svg-test.csv

``--option key=value`` passes dataset constructor options (YAML-parsed values), e.g. the split
scheme; they are recorded by the dataset's ``identity()``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from benchmark.utils import UserError


def _options(items: list[str] | None) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--option expects key=value, got {item!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def _dataset(args: argparse.Namespace):
    from benchmark.data import load_dataset

    opts = _options(getattr(args, "option", None))
    if getattr(args, "skip_corrupt", False):
        opts["on_corrupt"] = "skip"
    if getattr(args, "workers", None):
        opts["workers"] = args.workers
    try:
        return load_dataset(args.name, args.data_root, **opts)
    except TypeError as e:
        raise UserError(f"dataset {args.name!r}: bad --option ({e})") from e


def _root(args: argparse.Namespace) -> Path:
    from benchmark.data.real import default_data_root

    return args.data_root or default_data_root()


def _manifest_name(args: argparse.Namespace) -> str:
    from benchmark.registry import DATASETS

    cls = DATASETS.get(args.name)
    return getattr(cls, "manifest_name", "") or args.name


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from benchmark.data import fetch as F

    reports = F.fetch(_manifest_name(args), _root(args), names=args.file or None, timeout=args.timeout,
                      retries=args.retries, progress=not args.no_progress)
    for r in reports:
        print(("WARNING " if r.warning else "") + r.message)
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from benchmark.data import fetch as F

    name = _manifest_name(args)
    reports = F.verify(name, _root(args), names=args.file or None)
    required = {rf.name: rf.required for rf in F.raw_files(name)}
    bad = 0
    for r in reports:
        if r.status == "missing" and not required.get(r.name, True):
            print(f"{r.path}: not present (optional)")
            continue
        print(("WARNING " if r.warning else "" if r.ok else "FAIL ") + r.message)
        bad += not r.ok
    if args.json:
        print(json.dumps([{"name": r.name, "path": str(r.path), "status": r.status, "ok": r.ok,
                           "sha256": r.sha256, "message": r.message} for r in reports], indent=2))
    return 1 if bad else 0


def cmd_data_prepare(args: argparse.Namespace) -> int:
    ds = _dataset(args)
    if not hasattr(ds, "prepare"):
        raise UserError(f"dataset {args.name!r} has no prepare step")
    print(ds.prepare())
    excluded = ds.excluded() if hasattr(ds, "excluded") else []
    for e in excluded:
        print(f"excluded: {e['item']}: {e['reason']}", file=sys.stderr)
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    ds = _dataset(args)
    if args.split and args.split not in ds.splits:
        raise UserError(part_error(args.name, args.split, tuple(ds.splits), type(ds)))
    info: dict[str, Any] = ds.info()
    splits = [args.split] if args.split else list(ds.splits)
    info["identity"] = ds.identity()
    info["split_info"] = {}
    for s in splits:
        if hasattr(ds, "split_info"):
            info["split_info"][s] = ds.split_info(s)
            continue
        d = ds.load_split(s)
        info["split_info"][s] = {"num_videos": len(d), "num_clips": len(d),
                                 "frame_shape": list(d.videos.shape[2:]), "frames": int(d.videos.shape[1]),
                                 "sha256": d.content_hash}
    print(json.dumps(info, indent=2, default=str) if args.json else _plain_info(info))
    return 0


def part_error(name: str, part: str, parts: tuple[str, ...], cls: type) -> str:
    """The error for ``--part``/``--split`` naming something that is not a part (train/test) of the
    dataset: "split" also names a dataset's split *scheme* (KTH's ``svg``), which is an option.

    >>> class Kth:
    ...     def __init__(self, split="svg"): ...
    >>> "-o split=svg" in part_error("kth", "svg", ("train", "test"), Kth)
    True
    """
    import inspect

    text = f"{name} has no part {part!r} (its parts: {', '.join(parts)}); --part (alias --split) picks one of those"
    try:
        takes_scheme = "split" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        takes_scheme = False
    if takes_scheme:
        text += (f". A split scheme such as {part!r} is a dataset option: "
                 f"`benchmark data info {name} -o split={part}` (with --part test to show one part)")
    return text


def _plain_info(info: dict[str, Any]) -> str:
    lines = [f"{info['name']}: {info.get('description', '')}"]
    for s, v in info["split_info"].items():
        lines.append(f"  {s}: {v['num_videos']} videos, {v['num_clips']} clips, {v['frames']} frames of "
                     f"{'x'.join(map(str, v['frame_shape']))}")
        for name, n in v.get("protocol_clips", {}).items():
            lines.append(f"      {name}: {n} clips")
    return "\n".join(lines)


def cmd_data_list_clips(args: argparse.Namespace) -> int:
    ds = _dataset(args)
    if not hasattr(ds, "list_clips"):
        raise UserError(f"dataset {args.name!r} cannot list its clips")
    protocol = ds.protocol(args.task, args.phase)
    rows = ds.list_clips(protocol)
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(out, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
    finally:
        if args.out:
            out.close()
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Register ``benchmark data ...`` on the top-level sub-parsers."""
    p = sub.add_parser("data", help="dataset tools: fetch, verify, prepare, info")
    dsub = p.add_subparsers(dest="data_verb", required=True)

    def common(q: argparse.ArgumentParser, options: bool = True) -> None:
        q.add_argument("name", help="registered dataset name")
        q.add_argument("--data-root", type=Path, default=None, help="default $VIDBENCH_DATA or ./data")
        if options:
            q.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                           help="dataset option, e.g. split=savp, size=128 (repeatable)")

    q = dsub.add_parser("fetch", help="download the raw files (resumable) and verify them")
    common(q, options=False)
    q.add_argument("--file", action="append", help="only this raw file (repeatable)")
    q.add_argument("--timeout", type=float, default=30.0, help="seconds a connection may stall")
    q.add_argument("--retries", type=int, default=2, help="retries per file after a failed download")
    q.add_argument("--no-progress", action="store_true", help="hide progress bars")
    q.set_defaults(fn=cmd_data_fetch)

    q = dsub.add_parser("verify", help="check the raw files on disk (size, pinned hashes)")
    common(q, options=False)
    q.add_argument("--file", action="append", help="only this raw file (repeatable)")
    q.add_argument("--json", action="store_true", help="also print the reports as JSON")
    q.set_defaults(fn=cmd_data_verify)

    q = dsub.add_parser("prepare", help="decode/generate a dataset once into the cache")
    common(q)
    q.add_argument("--skip-corrupt", action="store_true",
                   help="leave out videos that cannot be decoded (recorded in the store's index.json)")
    q.add_argument("--workers", type=int, default=0, help="decoding processes")
    q.set_defaults(fn=cmd_data_prepare)

    q = dsub.add_parser("info", help="splits, source videos, clip counts and frame shapes")
    common(q)
    q.add_argument("--part", "--split", dest="split", default=None,
                   help="one part of the dataset (train, test, ...; default: all). A split *scheme* such as "
                        "KTH's svg is a dataset option: -o split=svg")
    q.add_argument("--json", action="store_true", help="print JSON instead of text")
    q.set_defaults(fn=cmd_data_info)

    q = dsub.add_parser("list-clips", help="the clips of a protocol as CSV (for manifests/splits)")
    common(q)
    q.add_argument("--task", default="prediction", help="task of the protocol (prediction, synthesis)")
    q.add_argument("--phase", default="test", choices=("train", "test"), help="the protocol's train or test side")
    q.add_argument("--out", type=Path, default=None, help="CSV file to write (default: stdout)")
    q.set_defaults(fn=cmd_data_list_clips)
