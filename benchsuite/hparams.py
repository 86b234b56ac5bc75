"""Typed, range-checked selector hyperparameters, read from the keyword-only signature.

A value given with ``--hp`` (parsed as JSON where it can be) must have the annotated type
(``bool`` only from true/false, ``int`` not from a float or a bool, ``float`` from any number,
``str``, ``None`` where the annotation allows it). Numbers must also be at least their class's
``hparam_min`` entry, by default 1 for an int (a count or a size) and 0 for a float; ``seed`` and
``device`` come from ``--seeds`` and ``--device``, never from ``--hp``.
"""
from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from .errors import ConfigError

_RESERVED = {"seed": "--seeds", "device": "--device"}


def keyword_params(cls: type) -> dict[str, inspect.Parameter]:
    """Keyword-only constructor parameters over the class and its bases (subclass wins)."""
    out: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            out.update({p.name: p for p in inspect.signature(init).parameters.values() if p.kind is p.KEYWORD_ONLY})
    return out


def annotations(cls: type) -> dict[str, Any]:
    """Keyword-only parameter -> annotation, over the class and its bases (subclass wins)."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        hints = typing.get_type_hints(init)
        for p in inspect.signature(init).parameters.values():
            if p.kind is p.KEYWORD_ONLY:
                out[p.name] = hints.get(p.name, Any)
    return out


def _allowed(ann) -> set:
    if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union:
        return set(typing.get_args(ann))
    return {ann}


def _typename(allowed: set) -> str:
    names = [t.__name__ if t is not type(None) else "null" for t in allowed]
    return " or ".join(sorted(names))


def check(cls: type, name: str, values: dict[str, Any], flags: dict[str, str] | None = None) -> dict[str, Any]:
    """The values, type- and range-checked (an int accepted for a float becomes a float).
    ``flags``: the option a key came from where it is not ``--hp KEY`` (``labels``: ``--labels``),
    so an error names what the user typed."""
    anns = annotations(cls)
    bounds = getattr(cls, "hparam_min", {})
    choices = getattr(cls, "hparam_choices", {})
    out = {}
    for key, value in values.items():
        if key in _RESERVED:
            raise ConfigError(f"--hp {key}=... is not a hyperparameter here; use {_RESERVED[key]}")
        given = (flags or {}).get(key, f"--hp {key}")
        allowed = _allowed(anns.get(key, Any))
        if Any in allowed:
            out[key] = value
            continue
        if value is None and type(None) in allowed:
            out[key] = None
            continue
        if isinstance(value, bool):
            ok = bool in allowed
        elif isinstance(value, int):
            ok = bool(allowed & {int, float})
            value = float(value) if int not in allowed else value
        elif isinstance(value, float):
            ok = float in allowed
        else:
            ok = type(value) in allowed
        if not ok:
            raise ConfigError(f"selector {name!r}: {given} must be {_typename(allowed)}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low = bounds.get(key, 1 if isinstance(value, int) else 0)
            if value < low:
                raise ConfigError(f"selector {name!r}: {given} must be at least {low}, got {value!r}")
        if key in choices and value not in choices[key]:
            raise ConfigError(f"selector {name!r}: {given} must be one of {', '.join(map(str, choices[key]))}, "
                              f"got {value!r}")
        out[key] = value
    return out


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, accepted range) of every hyperparameter ``--hp`` may set: what
    ``benchsuite list --selector NAME`` prints."""
    defaults = {name: p.default for name, p in keyword_params(cls).items()}
    bounds = getattr(cls, "hparam_min", {})
    choices = getattr(cls, "hparam_choices", {})
    out = []
    for key, ann in annotations(cls).items():
        if key in _RESERVED:
            continue
        allowed = _allowed(ann)
        numeric = [t for t in (int, float) if t in allowed]
        low = bounds.get(key, 1 if int in allowed else 0) if numeric else None
        limit = f">= {low}" if numeric else ("true or false" if allowed == {bool} else "")
        if key in choices:
            limit = "one of " + ", ".join(map(str, choices[key]))
        out.append((key, "any" if Any in allowed else _typename(allowed), defaults.get(key), limit))
    return out
