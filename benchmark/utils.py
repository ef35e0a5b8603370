"""Small shared helpers: hashing, atomic writes, canonical JSON."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def cache_home() -> Path:
    """vidbench's own cache folder (file hashes, parsed sources): ``$VIDBENCH_CACHE``, else
    ``$XDG_CACHE_HOME/vidbench`` (default ``~/.cache/vidbench``)."""
    root = os.environ.get("VIDBENCH_CACHE")
    return Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidbench"


#: files at least this big have their sha256 remembered (smaller ones hash faster than a lookup pays)
HASH_CACHE_MIN_BYTES = 1 << 20
#: a file changed this recently (ns) is hashed again: a second write within the timestamp resolution
#: could leave size, mtime and ctime equal (git's "racily clean" rule)
_RACY_NS = 2_000_000_000
_file_hashes: dict[str, list[Any]] | None = None
_file_hashes_dirty = False


def _hash_store() -> dict[str, list[Any]]:
    global _file_hashes
    if _file_hashes is None:
        try:
            loaded = json.loads((cache_home() / "file-hashes-v1.json").read_text())
            _file_hashes = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _file_hashes = {}
        atexit.register(_save_hash_store)
    return _file_hashes


def _save_hash_store(limit: int = 20000) -> None:
    if not _file_hashes_dirty or _file_hashes is None:
        return
    keep = _file_hashes
    if len(keep) > limit:  # forget files that are gone, then the oldest entries
        keep = {k: v for k, v in keep.items() if os.path.exists(k)}
        keep = dict(list(keep.items())[-limit:])
    path = cache_home() / "file-hashes-v1.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(keep, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:  # a cache that cannot be written only costs hashing again
        pass


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes.

    A file of :data:`HASH_CACHE_MIN_BYTES` or more whose size, mtime, ctime and inode are those it
    had when it was hashed (and that was not changed in the last two seconds) reuses the remembered
    digest (in :func:`cache_home`), as git and DVC do: any write changes the ctime, so changed bytes
    are always hashed again, while a cached rerun does not re-read every weight and sample file."""
    global _file_hashes_dirty
    where = os.path.abspath(path)
    st = os.stat(where)
    signature = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    remember = (st.st_size >= HASH_CACHE_MIN_BYTES
                and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS)
    if remember:
        hit = _hash_store().get(where)
        if hit is not None and hit[0] == signature:
            return hit[1]
    h = hashlib.sha256()
    with open(where, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    if remember:
        _hash_store()[where] = [signature, digest]
        _file_hashes_dirty = True
    return digest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_array(arr: np.ndarray) -> str:
    """Hash of an array's dtype, shape and bytes (C order)."""
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256()
    h.update(f"{arr.dtype.str}|{arr.shape}|".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, for hashing configs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def sha256_json(obj: Any) -> str:
    return sha256_bytes(canonical_json(obj).encode())


def sha256_tree(paths: list[str | os.PathLike], suffixes: tuple[str, ...] = (".py",)) -> str:
    """Hash of the source files under ``paths`` (relative names + bytes), for content-keyed caches."""
    h = hashlib.sha256()
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files.extend(f for f in p.rglob("*") if f.is_file() and f.suffix in suffixes
                         and "__pycache__" not in f.parts)
    for f in sorted(files):
        h.update(str(f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it onto ``path`` only on success.

    A crash, a full disk or Ctrl-C leaves the previous file (if any) untouched. ``mode`` (e.g.
    ``0o600`` for secrets) replaces the usual umask-based permissions; the temporary file is
    created 0600, so a secret is never readable by others, not even briefly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes),
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, (0o666 & ~_umask()) if mode is None else mode)  # mkstemp makes 0600
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str, mode: int | None = None) -> Path:
    with atomic_path(path, mode) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def repo_root() -> Path:
    """The project checkout (parent of the ``benchmark`` package)."""
    return Path(__file__).resolve().parent.parent


class UserError(Exception):
    """An error a user can fix; the CLI prints its message (no traceback) and exits non-zero."""
