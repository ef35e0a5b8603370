"""Typed, frozen configs: strict loading from dicts and ``--section.key=value`` overrides."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import yaml


def _coerce(value: Any, typ: Any) -> Any:
    """Coerce a YAML/CLI string to the field type where that is unambiguous.

    >>> _coerce("[150, 150]", tuple[int, int])  # a CLI --set of a tuple field stays a tuple (hashable)
    (150, 150)
    """
    if typing.get_origin(typ) is tuple and isinstance(value, str):
        value = yaml.safe_load(value)
    if typing.get_origin(typ) is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if not isinstance(value, str) or typ is str:
        return value
    if typ in (int, float):
        return typ(value)
    return yaml.safe_load(value)  # bool, lists, unions like int | None


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys are an error (they are usually typos)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}; valid keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in data.items():
        t = hints.get(k)
        if dataclasses.is_dataclass(t) and isinstance(v, dict):
            v = from_dict(t, v)
        kwargs[k] = _coerce(v, t)
    return cls(**kwargs)


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Return a copy of frozen dataclass ``config`` with dotted-key ``overrides`` applied.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class C: lr: float = 1e-3
    >>> apply_overrides(C(), {"lr": "2e-4"}).lr
    0.0002
    """
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[key] = value
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = (set(flat) | set(nested)) - fields
    if unknown:
        raise ValueError(f"{type(config).__name__}: unknown config keys {sorted(unknown)}; valid: {sorted(fields)}")
    hints = typing.get_type_hints(type(config))
    changes = {k: _coerce(v, hints.get(k)) for k, v in flat.items()}
    for k, sub in nested.items():
        changes[k] = apply_overrides(getattr(config, k), sub)
    return dataclasses.replace(config, **changes)


def parse_override_args(args: list[str]) -> dict[str, str]:
    """``["--model.lr=1e-4", "steps=10"]`` -> ``{"model.lr": "1e-4", "steps": "10"}``."""
    out = {}
    for a in args:
        a = a.removeprefix("--")
        if "=" not in a:
            raise ValueError(f"override {a!r} must look like key=value (e.g. --train.lr=1e-4)")
        k, v = a.split("=", 1)
        out[k] = v
    return out
