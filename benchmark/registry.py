"""One registry type (timm-style) for methods, datasets, metrics and feature extractors.

>>> from benchmark.registry import Registry
>>> R = Registry("toy")
>>> @R.register("a")
... class A: ...
>>> R.list()
['a']
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


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
    """

    def __init__(self, kind: str, sets_name: bool = False) -> None:
        self.kind = kind
        self.sets_name = sets_name
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name is an error."""

        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if self.sets_name and isinstance(obj, type):
                own = obj.__dict__.get("name")
                if own and own != name:
                    raise ValueError(f"{self.kind} class {obj.__name__} says name={own!r} but is registered as "
                                     f"{name!r}; drop the class attribute (register() sets it)")
                obj.name = name  # type: ignore[attr-defined]
            self._entries[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> T:
        """Remove ``name`` (tests that register a throw-away entry clean up with this)."""
        _ensure_loaded()
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}")
        return self._entries.pop(name)

    def get(self, name: str) -> T:
        """The registered object, or an error listing the valid names."""
        _ensure_loaded()
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.list()) or '(none)'}"
            )
        return self._entries[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the registered class/factory ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch ``pattern``, in registration order."""
        _ensure_loaded()
        return [n for n in self._entries if fnmatch.fnmatch(n, pattern)]

    def resolve(self, spec: str) -> list[str]:
        """Parse a CLI list: ``all``, ``a,b`` or globs; every name must exist."""
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
                self.get(n)  # raises with the valid names
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

_loaded = False


def _ensure_loaded() -> None:
    """Import the packages whose modules register entries (explicit imports, no entry points)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import benchmark.data  # noqa: F401
    import benchmark.metrics  # noqa: F401
    import methods  # noqa: F401
