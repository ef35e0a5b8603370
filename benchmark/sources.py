"""Source hashes for cache keys: the code a stage runs is every project module it imports.

:func:`module_closure` follows the import statements of a module (module level *and* inside
functions, since lazy imports run too) through the project's own packages (``benchmark``,
``methods``) and returns the set of module names reached. ``from pkg import Name`` counts the module
that *defines* ``Name`` (so ``from methods.common import LSTMStack`` depends on
``methods/common/recurrent.py``, not on every building block re-exported by
``methods/common/__init__.py``); ``import pkg.mod`` and ``from pkg import mod`` count the module.
:func:`source_hash` hashes the bytes of those files, so editing a shared block changes the keys of
exactly the stages whose code imports it.

>>> "benchmark.utils" in module_closure("benchmark.sources")
True
>>> len(source_hash("benchmark.sources")) == 64
True
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
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


def _defining_module(package: str, name: str) -> str:
    """The module that defines ``package.name`` (a submodule, or the ``__module__`` of the object)."""
    if _is_module(f"{package}.{name}"):
        return f"{package}.{name}"
    try:
        obj = getattr(importlib.import_module(package), name)
    except (ImportError, AttributeError):
        return package
    owner = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isfunction(obj)) else None
    return owner if owner and _in_project(owner) and _is_module(owner) else package


@lru_cache(maxsize=None)
def _direct_imports(name: str) -> frozenset[str]:
    origin = _origin(name)
    if origin is None:
        return frozenset()
    tree = ast.parse(Path(origin).read_text(), filename=origin)
    is_package = Path(origin).name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _in_project(a.name))
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve_relative(name, is_package, node.level, node.module) if node.level else node.module
            if not mod or not _in_project(mod):
                continue
            for alias in node.names:
                found.add(mod if alias.name == "*" else _defining_module(mod, alias.name))
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
