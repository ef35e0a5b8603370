"""Pinned pretrained weights for the feature networks (FVD's I3D, IS's Inception and C3D, MCS's VGG16,
LPIPS's AlexNet, the moving-shapes evaluator): the registry read from ``manifests/weights.yaml`` and the
``benchmark weights`` verbs.

Nothing is ever downloaded. A metric asks :func:`resolve` for its file; a missing file or a hash
mismatch is a :class:`WeightsError` naming the file, the expected hash and how to obtain it.
``--weights random`` builds the networks with seeded random weights instead (pipeline tests): such a
number is labelled "not comparable" everywhere (:class:`ResolvedWeights.comparable` is False).

    benchmark weights status [--json]
    benchmark weights install NAME FILE      # checks the hash, copies into the weights dir
    benchmark weights train-embedded         # retrains the shipped moving-shapes evaluator (same hash)
    benchmark weights import-official METHOD FILE... --dataset D   # official SVG/DRNet checkpoints
                                             # -> a run folder (benchmark/official_import.py)

The weights dir is ``$VIDBENCH_WEIGHTS`` (default ``~/.cache/vidbench/weights``).

>>> from benchmark.weights import random_weights
>>> random_weights("i3d_kinetics400").comparable
False
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmark.utils import UserError, atomic_path, repo_root, sha256_file

MODES = ("pinned", "random")
RANDOM_SEED = 0


class WeightsError(UserError):
    """A feature network's weights are missing, mismatched or malformed."""


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    file: str
    source: str = ""
    recipe: str = ""
    sha256: str | None = None
    sha256_prefix: str | None = None
    kind: str = "file"  # file | directory | package
    format: str = ""

    def how_to_obtain(self) -> str:
        return (f"get it from {self.source}; {self.recipe}".strip("; ") if self.source else self.recipe)

    def expected(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.sha256_prefix:
            return f"sha256 starting {self.sha256_prefix} (full hash not yet pinned)"
        return "no pinned sha256 yet (unverified)"


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a network's weights come from, as recorded in every metric protocol."""

    name: str
    mode: str  # pinned | random
    path: str | None
    sha256: str
    verified: bool  # full pinned hash matched (or the torch.hub prefix, where only that is known)
    comparable: bool
    note: str = ""

    def record(self) -> dict[str, Any]:
        return asdict(self)


def manifest_path() -> Path:
    return Path(os.environ.get("VIDBENCH_WEIGHTS_MANIFEST", repo_root() / "manifests" / "weights.yaml"))


def weights_dir() -> Path:
    return Path(os.environ.get("VIDBENCH_WEIGHTS", Path.home() / ".cache" / "vidbench" / "weights"))


def load_specs() -> dict[str, WeightsSpec]:
    path = manifest_path()
    try:
        st = path.stat()
        return dict(_load_specs(str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    except OSError:
        return dict(_load_specs.__wrapped__(str(path), 0, 0, 0))


@functools.lru_cache(maxsize=4)
def _load_specs(path: str, size: int, mtime_ns: int, ctime_ns: int) -> dict[str, WeightsSpec]:
    """The pins of ``path``, parsed once per (size, mtime, ctime) of the file."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    out = {}
    for name, d in (data.get("weights") or {}).items():
        out[name] = WeightsSpec(name=name, file=d["file"], source=str(d.get("source", "")),
                                recipe=str(d.get("recipe", "")), sha256=d.get("sha256"),
                                sha256_prefix=d.get("sha256_prefix"), kind=d.get("kind", "file"),
                                format=str(d.get("format", "")))
    return out


def get_spec(name: str) -> WeightsSpec:
    specs = load_specs()
    if name not in specs:
        raise WeightsError(f"unknown weights {name!r}; pinned weights: {', '.join(specs)} ({manifest_path()})")
    return specs[name]


def default_path(spec: WeightsSpec) -> Path:
    if spec.kind == "package":
        import importlib.util

        pkg, _, rel = spec.file.partition("/")
        found = importlib.util.find_spec(pkg)
        if found is None or not found.submodule_search_locations:
            raise WeightsError(f"{spec.name}: package {pkg!r} is not installed; {spec.how_to_obtain()}")
        return Path(list(found.submodule_search_locations)[0]) / rel
    return weights_dir() / spec.file


def content_hash(path: Path) -> str:
    """sha256 of a file; for a directory (TF hub module) the sha256 over every file in it
    (``saved_model.pb``, ``tfhub_module.pb`` and ``variables/``: the weights live in ``variables/``),
    as lines ``relative/path <sha256 of the file>`` in sorted path order."""
    if path.is_dir():
        pb = path / "saved_model.pb"
        if not pb.is_file():
            raise WeightsError(f"{path}: not a SavedModel/hub module directory (no saved_model.pb)")
        files = sorted(f for f in path.rglob("*") if f.is_file())
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.relative_to(path).as_posix()} {sha256_file(f)}\n".encode())
        return h.hexdigest()
    return sha256_file(path)


def check_hash(spec: WeightsSpec, digest: str, path: Path) -> bool:
    """True when the pinned hash (or prefix) matches; False when nothing is pinned; raises on mismatch."""
    if spec.sha256:
        if digest != spec.sha256:
            raise WeightsError(f"{path}: sha256 {digest} does not match the pinned {spec.sha256} for "
                               f"{spec.name!r} ({spec.file}); {spec.how_to_obtain()}")
        return True
    if spec.sha256_prefix:
        if not digest.startswith(spec.sha256_prefix):
            raise WeightsError(f"{path}: sha256 {digest} does not start with the pinned prefix "
                               f"{spec.sha256_prefix} for {spec.name!r} ({spec.file}); {spec.how_to_obtain()}")
        return True
    return False


def install_hint(spec: "WeightsSpec") -> str:
    """``. Then `benchmark weights install NAME FILE``` unless the spec's own recipe already says how
    to install (it mostly does: the message would otherwise say it twice)."""
    if "weights install" in spec.how_to_obtain() or "train-embedded" in spec.how_to_obtain():
        return ""
    return f". Then `benchmark weights install {spec.name} FILE`"


def resolve(name: str, path: str | os.PathLike | None = None) -> ResolvedWeights:
    """Find and check the pinned weights ``name`` (or an explicit ``path``, which is hash-checked too).

    Raises:
        WeightsError: the file is missing or its hash differs from the pin.
    """
    spec = get_spec(name)
    p = Path(path) if path is not None else default_path(spec)
    if not p.exists():
        raise WeightsError(
            f"missing weights {spec.name!r}: {p} not found. Expected file {spec.file} ({spec.expected()}); "
            f"{spec.how_to_obtain()}{install_hint(spec)}. "
            f"(For pipeline tests only, `--weights random` runs with random weights; its numbers are "
            f"labelled not comparable.)")
    digest = content_hash(p)
    verified = check_hash(spec, digest, p)
    note = "" if verified else (f"no pinned sha256 for {spec.name} in manifests/weights.yaml: pin {digest} "
                                f"there once checked; until then numbers are not comparable")
    return ResolvedWeights(name=name, mode="pinned", path=str(p), sha256=digest, verified=verified,
                           comparable=verified, note=note)


def random_weights(name: str, seed: int = RANDOM_SEED) -> ResolvedWeights:
    return ResolvedWeights(name=name, mode="random", path=None, sha256=f"random-init-seed{seed}",
                           verified=False, comparable=False,
                           note="random weights (--weights random): for pipeline tests; not comparable")


def get_weights(name: str, mode: str = "pinned", path: str | os.PathLike | None = None) -> ResolvedWeights:
    if mode not in MODES:
        raise WeightsError(f"weights mode must be one of {MODES}, got {mode!r}")
    return random_weights(name) if mode == "random" else resolve(name, path)


def status() -> list[dict[str, Any]]:
    rows = []
    for spec in load_specs().values():
        row: dict[str, Any] = {"name": spec.name, "file": spec.file, "expected": spec.expected()}
        try:
            p = default_path(spec)
        except WeightsError as e:
            rows.append({**row, "present": False, "state": "missing", "detail": str(e)})
            continue
        row["path"] = str(p)
        if not p.exists():
            rows.append({**row, "present": False, "state": "missing", "detail": spec.how_to_obtain()})
            continue
        digest = content_hash(p)
        try:
            ok = check_hash(spec, digest, p)
            state = "verified" if ok else "unverified"
        except WeightsError:
            state = "MISMATCH"
        rows.append({**row, "present": True, "sha256": digest, "state": state})
    return rows


def install(name: str, source: str | os.PathLike) -> Path:
    """Check ``source`` against the pin of ``name`` and copy it into the weights dir."""
    spec = get_spec(name)
    src = Path(source)
    if not src.exists():
        raise WeightsError(f"{src}: no such file")
    if spec.kind == "package":
        raise WeightsError(f"{name} ships inside a package; {spec.how_to_obtain()}")
    digest = content_hash(src)
    verified = check_hash(spec, digest, src)
    dest = weights_dir() / spec.file
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest)
    else:
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    if not verified:
        print(f"warning: {name}: no pinned sha256; installed as unverified (sha256 {digest}). "
              f"Pin it in manifests/weights.yaml once checked against the official source.")
    return dest


# ---------------------------------------------------------------------------------- CLI ---

def cmd_status(args: argparse.Namespace) -> int:
    rows = status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"weights dir: {weights_dir()}")
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = f"sha256 {r['sha256'][:16]}…" if r.get("sha256") else r.get("detail", "")
        print(f"  {r['name']:<{w}}  {r['state']:<10}  {r['file']}  {extra}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    print(install(args.name, args.file))
    return 0


EMBEDDED = "moving_shapes_evaluator"


def cmd_train_embedded(args: argparse.Namespace) -> int:
    """Retrain the moving-shapes evaluator (deterministic on CPU) and compare its hash with the pin."""
    from benchmark.metrics.extractors.train_shapes_evaluator import TrainSetup, train_and_save

    spec = get_spec(EMBEDDED)
    out = Path(args.out) if args.out else default_path(spec)
    setup = TrainSetup(**({"steps": args.steps} if args.steps else {}))
    path = "this CPU's native kernels" if args.native else "the portable kernel path (a child process; ~3x slower)"
    print(f"training the moving-shapes evaluator ({setup.steps} steps, batch {setup.batch_size}, one thread, "
          f"{path}) -> {out}")
    s = train_and_save(out, setup, progress=not args.quiet, portable=not args.native)
    print(f"wrote {s['path']}: {s['bytes']} bytes, {s['parameters']} parameters, sha256 {s['sha256']}, "
          f"{s['seconds']:.0f} s training")
    for config, windows in s["heldout_accuracy"].items():
        for window, acc in windows.items():
            cells = "  ".join(f"{k} {v:.3f}" for k, v in acc.items())
            print(f"  held-out val accuracy, {config}, {window}: {cells}")
    if args.json:
        with atomic_path(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(s, indent=2))
    if spec.sha256 == s["sha256"]:
        print(f"matches the pinned sha256 of {EMBEDDED} in {manifest_path()}")
        return 0
    from benchmark.metrics.extractors.train_shapes_evaluator import KNOWN_OTHER_FILES

    kp = s["kernel_path"]
    known = KNOWN_OTHER_FILES.get(s["sha256"]) if kp["portable"] else None
    why = (f"a known other file, {known}" if known else
           "another setup, training code, PyTorch or OpenBLAS release, or a CPU on which the portable path is not "
           "measured yet (Intel CPUs: docs/moving_shapes_evaluator.md)" if kp["portable"] else
           "another setup, PyTorch version or CPU: --native trains with this CPU's own kernels, whose last bits "
           "differ between CPUs (the pin was made on the portable kernel path; drop --native)")
    print(f"differs from the pinned sha256 {spec.sha256} of {EMBEDDED} ({manifest_path()}): {why}. This run: "
          f"torch {kp['torch']}, {kp['cpu']}, ATen {kp['cpu_capability']}, MKL_CBWR {kp['mkl_cbwr']}, oneDNN "
          f"{'on' if kp['mkldnn'] else 'off'}, BLAS {kp.get('blas')}. If the new file is intended, pin its hash "
          f"there; otherwise restore the shipped file (git checkout {spec.file}).")
    return 1 if args.check else 0


def cmd_import_official(args: argparse.Namespace) -> int:
    from benchmark.official_import import cmd_import_official as run

    return run(args)


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="pinned feature-network weights: status, install, train-embedded; "
                       "import-official (official SVG/DRNet checkpoints -> a run)")
    wsub = p.add_subparsers(dest="weights_verb", required=True)
    q = wsub.add_parser("status", help="which pinned weights are present and verified")
    q.add_argument("--json", action="store_true", help="print JSON instead of text")
    q.set_defaults(fn=cmd_status)
    q = wsub.add_parser("install", help="check a downloaded file against its pin and place it")
    q.add_argument("name", help="pinned weights name (manifests/weights.yaml; `benchmark weights status`)")
    q.add_argument("file", type=Path, help="the file you downloaded")
    q.set_defaults(fn=cmd_install)
    q = wsub.add_parser("train-embedded", help="retrain the moving-shapes evaluator (on a portable kernel "
                        "path: reproduces the shipped file's sha256 on the two AMD EPYC CPU types measured, AVX2 "
                        "and AVX-512; Intel CPUs not measured yet)")
    q.add_argument("--out", help="where to write (default: the shipped file, benchmark/assets/...)")
    q.add_argument("--steps", type=int, help="training steps (default: the pinned setup's; other values give "
                   "another file)")
    q.add_argument("--native", action="store_true", help="train with this CPU's native kernels in this process "
                   "(~3x faster, for trials; the bytes then depend on the CPU and do not reproduce the pin)")
    q.add_argument("--json", help="also write the summary (sha256, accuracy, seconds) as JSON")
    q.add_argument("--check", action="store_true", help="exit 1 when the hash differs from the pin")
    q.add_argument("--quiet", action="store_true", help="no per-step loss lines")
    q.set_defaults(fn=cmd_train_embedded)
    q = wsub.add_parser("import-official", help="turn official released checkpoints (SVG, DRNet) into a run "
                        "folder of profile 'official', read without running any pickled code")
    q.add_argument("method", help="svg_lp, svg_fp or drnet")
    q.add_argument("files", nargs="+", type=Path,
                   help="the official file(s): SVG's model.pth; DRNet's train_drnet.py model.pth and "
                        "train_lstm.py model.pth together")
    q.add_argument("--dataset", required=True, help="the registered dataset the weights will be scored on")
    q.add_argument("--seed", type=int, default=0, help="seed of sampling (the run folder's seed<N>)")
    q.add_argument("--out", type=Path, default=Path("."), help="writes <out>/runs")
    q.add_argument("--data-root", type=Path, default=None, help="prepared data (default $VIDBENCH_DATA or ./data)")
    q.add_argument("--dataset-option", "-o", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. -o motion=stochastic for SVG's SM-MNIST (repeatable; pass the same "
                        "to sample and evaluate)")
    q.add_argument("--allow-other-dataset", action="store_true",
                   help="import even though the checkpoint's saved opt names another dataset (recorded)")
    q.set_defaults(fn=cmd_import_official)
