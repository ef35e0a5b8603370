"""One registry type (timm-style) for methods, datasets, metrics and feature extractors.

>>> from benchmark.registry import Registry
>>> R = Registry("toy")
>>> @R.register("a")
... class A: ...
>>> R.list()
['a']

Entries are *declared* up front (name, the module that registers it, and optionally the facts that
listing and reporting read) and the module is imported on first :meth:`Registry.get`: the package
``__init__`` files of ``benchmark.data``, ``benchmark.metrics`` and ``methods`` declare their entries
this way, so ``benchmark list`` and ``--help`` import no feature-network library (torchmetrics,
torchvision, TensorFlow, lpips) and a cached rerun imports only the code it needs.

>>> L = Registry("toy")
>>> L.declare("json_decoder", "json.decoder", kind="parser")
>>> L.list(), L.is_loaded("json_decoder"), L.info("json_decoder").kind
(['json_decoder'], False, 'parser')
"""

from __future__ import annotations

import fnmatch
import importlib
from types import MappingProxyType
from typing import Any, Callable, Generic, Mapping, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


class Facts:
    """What a declaration says about an entry, read as attributes (``facts.kind``) without importing it.

    Missing attributes raise ``AttributeError``, so ``getattr(facts, "x", default)`` works as on a class.
    """

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", MappingProxyType({"name": name, **values}))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("declared facts are read-only")

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        return f"Facts({dict(self._values)!r})"


class _Declared:
    """A declared entry whose module is not imported yet."""

    __slots__ = ("module", "facts")

    def __init__(self, module: str, facts: Facts) -> None:
        self.module, self.facts = module, facts


def _same(a: Any, b: Any) -> bool:
    """Equality that does not tell tuples from lists (declarations may write either)."""
    norm = lambda x: [norm(v) for v in x] if isinstance(x, (list, tuple)) else x  # noqa: E731
    return norm(a) == norm(b)


class Registry(Generic[T]):
    """Maps lowercase names to classes or factories. Registration order is kept.

    With ``sets_name=True`` (the method registry) ``register`` also sets the registered class's
    ``name`` attribute, so a name is written once, in the decorator:

    >>> M = Registry("method", sets_name=True)
    >>> @M.register("copy")
    ... class Copy:
    ...     name = ""
    >>> Copy.name
    'copy'

    :meth:`declare` adds a name whose module is imported on first use (lazy); ``defaults`` are the
    facts every declaration of this registry has unless it says otherwise (e.g. the metric base
    class's defaults), and ``register`` checks that the imported object agrees with its declaration.
    """

    def __init__(self, kind: str, sets_name: bool = False) -> None:
        self.kind = kind
        self.sets_name = sets_name
        self._entries: dict[str, T | _Declared] = {}
        self._fact_defaults: dict[str, Any] = {}
        self._declared_module: dict[str, str] = {}  # name -> module, kept after the import

    # ---------------------------------------------------------------------------- declaring ---
    def set_fact_defaults(self, **defaults: Any) -> None:
        """The facts a declaration has when it does not state them (checked like stated ones)."""
        self._fact_defaults = dict(defaults)

    def declare(self, name: str, module: str, **facts: Any) -> None:
        """Declare ``name``, registered by importing ``module`` (on first :meth:`get`), with the
        ``facts`` :meth:`info` returns without importing it; a duplicate name is an error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = _Declared(module, Facts(name, {**self._fact_defaults, **facts}))
        self._declared_module[name] = module

    def is_loaded(self, name: str) -> bool:
        """Whether ``name``'s module has been imported (its object is registered)."""
        _ensure_loaded()
        return name in self._entries and not isinstance(self._entries[name], _Declared)

    def module_of(self, name: str) -> str:
        """The module that registers ``name`` (without importing it)."""
        entry = self._lookup(name)
        return entry.module if isinstance(entry, _Declared) else entry.__module__  # type: ignore[union-attr]

    def info(self, name: str) -> Any:
        """``name``'s facts without importing it: its declared :class:`Facts`, or the registered object
        itself once imported (or when it was never declared), whose attributes say the same."""
        entry = self._lookup(name)
        return entry.facts if isinstance(entry, _Declared) else entry

    def declared(self) -> dict[str, str]:
        """name -> module of every declared entry (loaded or not), in declaration order."""
        _ensure_loaded()
        return {n: self._declared_module[n] for n in self._entries if n in self._declared_module}

    # -------------------------------------------------------------------------- registering ---
    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name is an error. A declared
        name is registered by its declared module only, and the object must agree with the facts
        declared for it."""

        def deco(obj: T) -> T:
            declared = self._entries.get(name)
            if name in self._entries and not isinstance(declared, _Declared):
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if self.sets_name and isinstance(obj, type):
                own = obj.__dict__.get("name")
                if own and own != name:
                    raise ValueError(f"{self.kind} class {obj.__name__} says name={own!r} but is registered as "
                                     f"{name!r}; drop the class attribute (register() sets it)")
                obj.name = name  # type: ignore[attr-defined]
            if isinstance(declared, _Declared):
                self._check_declaration(name, obj, declared)
            self._entries[name] = obj
            return obj

        return deco

    def _check_declaration(self, name: str, obj: Any, declared: _Declared) -> None:
        where = getattr(obj, "__module__", None)
        if where != declared.module:
            raise ValueError(f"{self.kind} {name!r} is declared in module {declared.module!r} but registered "
                             f"from {where!r}; fix the declaration")
        for key, want in declared.facts.as_dict().items():
            if key == "name":  # the registered name itself
                continue
            have = getattr(obj, key, None)
            if not _same(have, want):
                raise ValueError(f"{self.kind} {name!r}: its declaration says {key}={want!r} but "
                                 f"{getattr(obj, '__qualname__', obj)} has {key}={have!r}; make the declaration "
                                 f"(the package __init__) agree with the class")

    def unregister(self, name: str) -> T:
        """Remove ``name`` (tests that register a throw-away entry clean up with this)."""
        _ensure_loaded()
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}")
        self._declared_module.pop(name, None)
        return self._entries.pop(name)  # type: ignore[return-value]

    # ------------------------------------------------------------------------------ looking up ---
    def _lookup(self, name: str) -> T | _Declared:
        _ensure_loaded()
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.list()) or '(none)'}"
            )
        return self._entries[name]

    def get(self, name: str) -> T:
        """The registered object (importing its module on first use), or an error listing the valid names."""
        entry = self._lookup(name)
        if isinstance(entry, _Declared):
            importlib.import_module(entry.module)
            entry = self._entries.get(name)
            if entry is None or isinstance(entry, _Declared):
                raise ValueError(f"{self.kind} {name!r} is declared in module {self._declared_module[name]!r}, "
                                 f"which does not register it; fix the declaration")
        return entry  # type: ignore[return-value]

    def build(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the registered class/factory ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch ``pattern``, in registration order (imports nothing)."""
        _ensure_loaded()
        return [n for n in self._entries if fnmatch.fnmatch(n, pattern)]

    def resolve(self, spec: str) -> list[str]:
        """Parse a CLI list: ``all``, ``a,b`` or globs; every name must exist (imports nothing)."""
        _ensure_loaded()
        if spec.strip() in ("all", "*"):
            return self.list()
        names: list[str] = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            matched = self.list(part) if any(c in part for c in "*?[") else [part]
            if not matched:
                raise UnknownNameError(
                    f"no {self.kind} matches {part!r}; valid {self.kind}s: {', '.join(self.list())}"
                )
            for n in matched:
                self._lookup(n)  # raises with the valid names
                if n not in names:
                    names.append(n)
        return names

    def __contains__(self, name: str) -> bool:
        _ensure_loaded()
        return name in self._entries

    def __len__(self) -> int:
        _ensure_loaded()
        return len(self._entries)


METHODS: Registry[Any] = Registry("method", sets_name=True)
DATASETS: Registry[Any] = Registry("dataset")
METRICS: Registry[Any] = Registry("metric")
EXTRACTORS: Registry[Any] = Registry("extractor")


def is_trained_method(name: str) -> bool:
    """A registered method that fits its networks (``vgan``), not a baseline such as ``copy_last``, an
    untrained ``@init`` reference row or ``real`` (names outside the method registry are not)."""
    return name in METHODS and bool(METHODS.get(name).trainable)


_loaded = False


def _ensure_loaded() -> None:
    """Import the packages that declare the entries (explicit declarations, no entry points; the
    modules that implement them are imported on first use)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import benchmark.data  # noqa: F401
    import benchmark.metrics  # noqa: F401
    import methods  # noqa: F401
