"""Fetch and verify the raw files of real datasets, as pinned in ``manifests/datasets.yaml``.

Raw files live in ``<data_root>/raw/<dataset>/<file name>``. ``fetch`` downloads each missing file
from its URLs in order (resuming a partial ``<name>.part`` with an HTTP ``Range`` request), checks
its size and hash, and renames it into place. When every URL fails (offline, dead link) it raises a
:class:`FetchError` naming every URL tried, the error of each, and the exact path where the user can
put the file by hand. ``verify`` checks what is on disk without touching the network.

Hashes: ``sha256`` where it is known; otherwise the hash type the source publishes (``sha1``,
``md5``). Each pinned hash carries a ``hash_status``: ``verified`` (checked against the real file by
a primary source) or ``unverified`` (published by third parties only). A mismatch against a verified
hash is an error; against an unverified one it is reported as a warning, since the pin itself may be
wrong. A file with no pinned hash is reported as such, with its sha256 so the user can pin it.

>>> m = load_manifest()
>>> "kth" in m
True
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from benchmark.utils import UserError, repo_root

log = logging.getLogger(__name__)
HASH_TYPES = ("sha256", "sha1", "md5")
CHUNK = 1 << 20


class FetchError(UserError):
    """A file could not be downloaded from any of its URLs."""


class VerifyError(UserError):
    """A raw file is missing, truncated or does not match its pinned hash."""


@dataclass
class RawFile:
    """One pinned raw file of a dataset."""

    name: str
    urls: list[str]
    size: int | None = None          # exact byte count when published
    approx_size: str | None = None   # e.g. "242 MiB" when only a rough size is known
    hashes: dict[str, str] = field(default_factory=dict)  # type -> hex
    hash_status: str = "unset"       # verified | unverified | unset
    required: bool = True
    note: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RawFile":
        hashes = {t: str(d[t]).lower() for t in HASH_TYPES if d.get(t)}
        return cls(name=d["name"], urls=list(d.get("urls", [])), size=d.get("size"),
                   approx_size=d.get("approx_size"), hashes=hashes,
                   hash_status=d.get("hash_status", "unverified" if hashes else "unset"),
                   required=d.get("required", True), note=d.get("note", ""))


def manifest_path() -> Path:
    return repo_root() / "manifests" / "datasets.yaml"


def load_manifest(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The parsed ``manifests/datasets.yaml``: ``{dataset: {"files": [...], ...}}``."""
    with open(path or manifest_path()) as f:
        return yaml.safe_load(f) or {}


def raw_files(dataset: str, manifest: dict[str, Any] | None = None) -> list[RawFile]:
    m = manifest if manifest is not None else load_manifest()
    if dataset not in m:
        raise UserError(f"dataset {dataset!r} has no entry in {manifest_path()}; "
                        f"datasets with raw files: {', '.join(m) or '(none)'}")
    return [RawFile.from_dict(d) for d in m[dataset].get("files", [])]


def raw_dir(data_root: str | os.PathLike, dataset: str) -> Path:
    """Where a dataset's raw files are kept (and where a user may put them by hand)."""
    return Path(data_root) / "raw" / dataset


def file_hashes(path: str | os.PathLike, types: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    hs = {t: hashlib.new(t) for t in types}
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            for h in hs.values():
                h.update(block)
    return {t: h.hexdigest() for t, h in hs.items()}


@dataclass
class FileReport:
    name: str
    path: Path
    status: str             # ok | missing | size-mismatch | hash-mismatch | unpinned
    message: str = ""
    sha256: str | None = None
    warning: bool = False   # a mismatch against an unverified hash: reported, not fatal

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "unpinned") or self.warning


def verify_file(rf: RawFile, path: Path) -> FileReport:
    """Check one raw file's presence, size and hashes."""
    if not path.is_file():
        return FileReport(rf.name, path, "missing", f"{path}: missing")
    size = path.stat().st_size
    if rf.size is not None and size != rf.size:
        kind = "truncated" if size < rf.size else "larger than expected"
        return FileReport(rf.name, path, "size-mismatch",
                          f"{path}: {size} bytes, expected {rf.size} ({kind}; delete it and fetch again)")
    types = tuple(dict.fromkeys(("sha256", *rf.hashes)))
    got = file_hashes(path, types)
    for t, want in rf.hashes.items():
        if got[t] != want:
            unverified = rf.hash_status != "verified"
            msg = (f"{path}: {t} {got[t]} does not match the pinned {t} {want} "
                   f"({rf.hash_status} pin{'; the pin itself may be wrong' if unverified else ''})")
            return FileReport(rf.name, path, "hash-mismatch", msg, got["sha256"], warning=unverified)
    if not rf.hashes:
        return FileReport(rf.name, path, "unpinned", f"{path}: no published hash to check; sha256 {got['sha256']}",
                          got["sha256"])
    pinned = ", ".join(f"{t} ({rf.hash_status})" for t in rf.hashes)
    return FileReport(rf.name, path, "ok", f"{path}: OK ({pinned})", got["sha256"])


def verify(dataset: str, data_root: str | os.PathLike, manifest: dict[str, Any] | None = None,
           names: list[str] | None = None) -> list[FileReport]:
    """Check every (or the named) raw file of ``dataset`` on disk; never downloads."""
    d = raw_dir(data_root, dataset)
    return [verify_file(rf, d / rf.name) for rf in raw_files(dataset, manifest)
            if names is None or rf.name in names]


def _download(url: str, part: Path, timeout: float, progress: Callable[[int, int | None], None] | None) -> None:
    """Download ``url`` into ``part``, resuming from its current size with a Range request."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "vidbench-fetch/1"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # range not satisfiable: the part file is already complete
            return
        raise
    with resp:
        status = getattr(resp, "status", 200)
        if have and status != 206:  # the server ignored the range: start over
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with open(part, "ab" if have else "wb") as f:
            done = have
            while block := resp.read(CHUNK):
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done < total:
            raise OSError(f"connection closed after {done} of {total} bytes (run fetch again to resume)")


def _try_url(url: str, part: Path, timeout: float, retries: int,
             progress: Callable[[int, int | None], None] | None) -> str | None:
    """Download ``url`` into ``part`` with retries; ``None`` on success, else the error text."""
    for attempt in range(retries + 1):
        try:
            _download(url, part, timeout, progress)
            return None
        except (urllib.error.URLError, OSError, ValueError) as e:
            err = f"{url}: {getattr(e, 'reason', None) or e}"
            if isinstance(e, urllib.error.HTTPError) and e.code in (401, 403, 404, 410):
                return err
            if attempt < retries:
                time.sleep(min(2 ** attempt, 10))
    return err


def fetch(dataset: str, data_root: str | os.PathLike, manifest: dict[str, Any] | None = None,
          names: list[str] | None = None, timeout: float = 30.0, retries: int = 2,
          progress: bool = False) -> list[FileReport]:
    """Download the missing raw files of ``dataset`` (resuming partial ones) and verify each.

    Raises:
        FetchError: a file could not be obtained from any URL; the message names every URL tried
            (with its error) and the exact path where the file can be placed by hand.
        VerifyError: a downloaded file does not match a verified pin.
    """
    d = raw_dir(data_root, dataset)
    d.mkdir(parents=True, exist_ok=True)
    reports, failures = [], []
    for rf in raw_files(dataset, manifest):
        if names is not None and rf.name not in names:
            continue
        path = d / rf.name
        if path.is_file():
            rep = verify_file(rf, path)
            if rep.ok:
                reports.append(rep)
                continue
            log.warning("%s; downloading again", rep.message)
            path.unlink()
        part = path.with_name(path.name + ".part")
        errors: list[str] = []
        for url in rf.urls:
            err = _try_url(url, part, timeout, retries, _progress_bar(rf, progress))
            if err:
                errors.append(err)
                continue
            rep = verify_file(rf, part)
            if rep.ok:
                os.replace(part, path)
                reports.append(FileReport(rf.name, path, rep.status, rep.message.replace(str(part), str(path)),
                                          rep.sha256, rep.warning))
                break
            errors.append(f"{url}: downloaded, but {rep.message}")
            part.unlink(missing_ok=True)
        else:
            failures.append((rf, path, errors))
    if failures:
        lines = [f"could not fetch {len(failures)} file(s) of {dataset!r}:"]
        for rf, path, errors in failures:
            lines.append(f"  {rf.name}{f' ({rf.note})' if rf.note else ''}")
            lines += [f"    tried {e}" for e in errors] or ["    (no URL is known)"]
            pin = ", ".join(f"{t} {h} ({rf.hash_status})" for t, h in rf.hashes.items()) or "no published hash"
            size = f"{rf.size} bytes" if rf.size else (rf.approx_size or "size unknown")
            lines.append(f"    download it yourself and place it at: {path}  [{size}; {pin}]")
        lines.append(f"then run: benchmark data verify {dataset} --data-root {data_root}")
        raise FetchError("\n".join(lines))
    return reports


def _progress_bar(rf: RawFile, enabled: bool) -> Callable[[int, int | None], None] | None:
    """A tqdm byte counter, opened on the first received block (so dead links print no bar)."""
    if not enabled:
        return None
    state: dict[str, Any] = {}

    def update(done: int, total: int | None) -> None:
        if "bar" not in state:
            from tqdm.auto import tqdm

            state["bar"] = tqdm(total=total or rf.size, unit="B", unit_scale=True, desc=rf.name, leave=False)
        bar = state["bar"]
        bar.update(done - bar.n)

    return update


def require(dataset: str, data_root: str | os.PathLike, names: list[str] | None = None,
            manifest: dict[str, Any] | None = None, strict: bool = True) -> dict[str, Path]:
    """Paths of the raw files ``prepare`` needs; a missing or truncated file is a clear error.

    Hash checks are left to ``verify`` (hashing tens of GB on every prepare would be slow); the
    store key uses the files' sizes and modification times plus any pinned hash.
    """
    d = raw_dir(data_root, dataset)
    out, problems = {}, []
    for rf in raw_files(dataset, manifest):
        if names is not None and rf.name not in names:
            continue
        p = d / rf.name
        if not p.is_file():
            if rf.required:
                problems.append(f"{p}: missing (run `benchmark data fetch {dataset} --data-root {data_root}`, "
                                f"or download it from {' or '.join(rf.urls) or '(no known URL)'} and place it there)")
            continue
        if rf.size is not None and p.stat().st_size != rf.size:
            msg = f"{p}: {p.stat().st_size} bytes, expected {rf.size} (truncated or wrong file)"
            if strict:
                problems.append(msg)
                continue
            log.warning("%s; using it anyway (strict_inputs=False; the store records the actual size)", msg)
        out[rf.name] = p
    if problems:
        raise VerifyError(f"{dataset}: raw files are not ready:\n  " + "\n  ".join(problems))
    return out


def input_fingerprint(paths: dict[str, Path], manifest_files: list[RawFile] | None = None) -> dict[str, Any]:
    """What identifies the raw inputs for a store key: name, size and (cheap) sha256 of each file.

    Files up to 64 MiB are hashed fully; larger ones by size + pinned hash + the sha256 of their
    first and last MiB, which catches a replaced or re-encoded archive without rereading GBs.
    """
    pins = {rf.name: rf.hashes for rf in (manifest_files or [])}
    out: dict[str, Any] = {}
    for name, p in sorted(paths.items()):
        size = p.stat().st_size
        if size <= 64 * CHUNK:
            digest = file_hashes(p)["sha256"]
        else:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                h.update(f.read(CHUNK))
                f.seek(size - CHUNK)
                h.update(f.read(CHUNK))
            digest = "ends:" + h.hexdigest()
        out[name] = {"size": size, "sha256": digest, "pinned": pins.get(name, {})}
    return out


def copy_into_place(src: str | os.PathLike, dataset: str, data_root: str | os.PathLike) -> Path:
    """Copy a file the user downloaded elsewhere into the raw folder (helper for scripts)."""
    dst = raw_dir(data_root, dataset) / Path(src).name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst
