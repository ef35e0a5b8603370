"""Source hashes for cache keys: the code a stage runs is every project module it imports.

:func:`module_closure` follows the import statements of a module (module level *and* inside
functions, since lazy imports run too) through the project's own packages (``benchmark``,
``methods``) and returns the set of module names reached. ``from pkg import Name`` counts the module
that *defines* ``Name`` (so ``from methods.common import LSTMStack`` depends on
``methods/common/recurrent.py``, not on every building block re-exported by
``methods/common/__init__.py``); ``import pkg.mod`` and ``from pkg import mod`` count the module.
:func:`source_hash` hashes the bytes of those files, so editing a shared block changes the keys of
exactly the stages whose code imports it. The sources are read, never imported (``from m import Name``
is resolved from ``m``'s source where it says; only otherwise is ``m`` imported to ask the object), and
what parsing a file found is kept by content hash in :func:`facts_cache_file`, so a rerun whose
stages are cached neither imports the metric libraries nor re-parses every file.

>>> "benchmark.utils" in module_closure("benchmark.sources")
True
>>> len(source_hash("benchmark.sources")) == 64
True
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

#: Top-level packages whose modules count as "this project's code".
PROJECT_PACKAGES = ("benchmark", "methods")
#: Modules whose own imports are not followed (their bytes still count): the registry and the package
#: ``__init__`` files that import every dataset/metric/method only to register them. Registering a
#: name does not change what a stage computes; the modules a stage really uses are reached directly.
NOT_FOLLOWED = frozenset({"benchmark.registry", "benchmark.data", "benchmark.metrics", "methods"})


def _in_project(name: str) -> bool:
    return name.split(".")[0] in PROJECT_PACKAGES


def read_source(path: Path) -> bytes:
    """The bytes hashed for one source file (a seam for tests that simulate an edit)."""
    return Path(path).read_bytes()


@lru_cache(maxsize=None)
def _origin(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _is_module(name: str) -> bool:
    return _origin(name) is not None


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


#: bump when :func:`_parse_facts` changes what it records
_FACTS_VERSION = 1
_facts_store: dict[str, Any] | None = None
_facts_used: set[str] = set()
_facts_dirty = False


def facts_cache_file() -> Path:
    """Where the import facts of parsed source files are kept between processes (by content hash),
    in :func:`benchmark.utils.cache_home`."""
    from benchmark.utils import cache_home

    return cache_home() / f"source-imports-v{_FACTS_VERSION}.json"


def _store() -> dict[str, Any]:
    global _facts_store
    if _facts_store is None:
        try:
            _facts_store = json.loads(facts_cache_file().read_text())
            if not isinstance(_facts_store, dict):
                _facts_store = {}
        except (OSError, ValueError):
            _facts_store = {}
        atexit.register(_save_store)
    return _facts_store


def _save_store() -> None:
    """Write the facts back (atomically) when new files were parsed; a store of mostly stale entries
    (files since edited) is trimmed to the ones this process used. A failure only costs a re-parse."""
    if not _facts_dirty or _facts_store is None:
        return
    keep = _facts_store if len(_facts_store) <= 2 * max(len(_facts_used), 256) else \
        {k: v for k, v in _facts_store.items() if k in _facts_used}
    path = facts_cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(keep, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass


def _parse_facts(source: bytes, origin: str) -> dict[str, Any]:
    """The import facts of one source file: every import statement (module level and inside
    functions) and the names its top level binds."""
    tree = ast.parse(source, filename=origin)
    imports: list[list[Any]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.append(["import", [a.name for a in node.names]])
        elif isinstance(node, ast.ImportFrom):
            imports.append(["from", node.module, node.level, [a.name for a in node.names]])
    defined: dict[str, str] = {}
    top_imports: dict[str, list[Any]] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defined[node.name] = "def"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defined[n.id] = "value"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    top_imports[alias.asname or alias.name] = [node.module, node.level, alias.name]
    return {"imports": imports, "defined": defined, "top_imports": top_imports}


@lru_cache(maxsize=None)
def _file_facts(origin: str) -> dict[str, Any]:
    """:func:`_parse_facts` of ``origin``, parsed once per content (kept in :func:`facts_cache_file`)."""
    global _facts_dirty
    source = Path(origin).read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    store = _store()
    _facts_used.add(digest)
    facts = store.get(digest)
    if facts is None:
        facts = store[digest] = _parse_facts(source, origin)
        _facts_dirty = True
    return facts


def _is_package(name: str) -> bool:
    origin = _origin(name)
    return origin is not None and Path(origin).name == "__init__.py"


@lru_cache(maxsize=None)
def _top_level_names(name: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """What module ``name``'s source binds at top level, read without importing it: name -> ``"def"``
    (a class or function defined there) or ``"value"`` (anything else assigned), and name ->
    ``(module, original name)`` for ``from module import original as name`` of project modules."""
    origin = _origin(name)
    if origin is None:
        return {}, {}
    facts = _file_facts(origin)
    is_package = Path(origin).name == "__init__.py"
    imported: dict[str, tuple[str, str]] = {}
    for alias, (module, level, original) in facts["top_imports"].items():
        mod = _resolve_relative(name, is_package, level, module) if level else module
        if mod and _in_project(mod):
            imported[alias] = (mod, original)
    return dict(facts["defined"]), imported


def _static_owner(module: str, name: str, depth: int = 0) -> tuple[str, str] | None:
    """``(module that defines name, "def" | "value")`` following ``from x import name`` re-exports in
    the source; None when the source does not say (then the module is imported to ask the object)."""
    if depth > 20 or not _is_module(module):
        return None
    if _is_package(module) and _is_module(f"{module}.{name}"):
        return None
    defined, imported = _top_level_names(module)
    if name in imported:  # a later top-level definition could rebind it: ask the object then
        if name in defined:
            return None
        src, original = imported[name]
        if _is_package(src) and _is_module(f"{src}.{original}"):
            return None
        owner = _static_owner(src, original, depth + 1)
        return None if owner is None else (owner if owner[1] == "def" else (module, "value"))
    if name in defined:
        return module, defined[name]
    return None


def _defining_module(package: str, name: str) -> str:
    """The module that defines ``package.name`` (a submodule, or the ``__module__`` of the object).

    Read from the sources where they say (so hashing the code of a metric does not import
    torchmetrics); otherwise ``package`` is imported and the object asked."""
    if _is_package(package) and _is_module(f"{package}.{name}"):
        return f"{package}.{name}"
    owner = _static_owner(package, name)
    if owner is not None:
        return owner[0] if owner[1] == "def" or owner[0] == package else package
    try:
        obj = getattr(importlib.import_module(package), name)
    except (ImportError, AttributeError):
        return package
    owner_name = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isfunction(obj)) else None
    return owner_name if owner_name and _in_project(owner_name) and _is_module(owner_name) else package


@lru_cache(maxsize=None)
def _direct_imports(name: str) -> frozenset[str]:
    origin = _origin(name)
    if origin is None:
        return frozenset()
    is_package = Path(origin).name == "__init__.py"
    found: set[str] = set()
    for statement in _file_facts(origin)["imports"]:
        if statement[0] == "import":
            found.update(a for a in statement[1] if _in_project(a))
        else:
            _, module, level, names = statement
            mod = _resolve_relative(name, is_package, level, module) if level else module
            if not mod or not _in_project(mod):
                continue
            for alias in names:
                found.add(mod if alias == "*" else _defining_module(mod, alias))
    return frozenset(m for m in found if _is_module(m))


def module_closure(*roots: str) -> set[str]:
    """Every project module the modules ``roots`` import, transitively (``roots`` included)."""
    seen: set[str] = set()
    stack = [r for r in roots if _in_project(r)]
    while stack:
        name = stack.pop()
        if name in seen or not _is_module(name):
            continue
        seen.add(name)
        if name not in NOT_FOLLOWED:
            stack.extend(_direct_imports(name) - seen)
    return seen


def _module_name(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    return obj.__name__ if inspect.ismodule(obj) else obj.__module__


def source_files(*objs: Any) -> list[Path]:
    """The files of :func:`module_closure` of the modules of ``objs`` (modules, classes or names), sorted."""
    names = module_closure(*(_module_name(o) for o in objs))
    return sorted(Path(_origin(n)) for n in names)


def source_hash(*objs: Any, extra: Iterable[str] = ()) -> str:
    """sha256 over the project files ``objs`` import (paths relative to the project, and bytes)."""
    from benchmark.utils import repo_root

    root = repo_root()
    h = hashlib.sha256()
    for path in source_files(*objs, *extra):
        try:
            rel = path.resolve().relative_to(root)
        except ValueError:  # a module outside the checkout (e.g. a plugin): its absolute path
            rel = path
        h.update(f"{rel.as_posix()}\0".encode())
        h.update(read_source(path))
        h.update(b"\0")
    return h.hexdigest()
