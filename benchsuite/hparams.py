"""Declared, range-checked hyperparameters: one validator for ``--hp``, Python construction and
``benchsuite list --selector NAME``.

A class declares ``hparam_constraints``: keyword-only parameter -> constraint, or a list of
constraints any one of which may hold (``[Interval(int, 1, None), None]``: a count, or None). A
constraint is ``Interval(type, low, high, closed=...)``, ``Choice(*values)``, a type (``bool``,
``str``, ``dict``: any value of it), ``None`` (the value None) or ``callable`` (any function).
The default of each parameter is its signature's. Rules between parameters are ``Rule``s in
``hparam_rules``, checked on the given values over the defaults. Both are merged over the class's
bases (a subclass's entry wins).

``seed`` and ``device`` come from ``--seeds`` and ``--device``, never from ``--hp``.
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

_RESERVED = {"seed": "--seeds", "device": "--device"}


@dataclass(frozen=True)
class Interval:
    """A number of ``kind`` (int, or float: an int is accepted and made a float) between ``low``
    and ``high`` (None: unbounded); ``closed``: which ends belong to it."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"   # "both" | "left" | "right" | "neither"

    def __post_init__(self) -> None:
        if self.kind not in (int, float) or self.closed not in ("both", "left", "right", "neither"):
            raise TypeError(f"Interval({self.kind!r}, closed={self.closed!r}): kind is int or float, closed is "
                            "both, left, right or neither")

    def accepts(self, value: Any) -> tuple[bool, Any]:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False, value
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False, value
            value = int(value)
        else:
            value = float(value)
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False, value
        if self.high is not None and not (value <= self.high if right else value < self.high):
            return False, value
        return True, value

    def kind_name(self) -> str:
        return self.kind.__name__

    def describe(self) -> str:
        low, high = _num(self.low), _num(self.high)
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is None and self.high is None:
            return "any number" if self.kind is float else "any whole number"
        if self.high is None:
            return f"at least {low}" if left else f"> {low}"
        if self.low is None:
            return f"at most {high}" if right else f"< {high}"
        return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"


@dataclass(frozen=True, init=False)
class Choice:
    """One of the listed values (compared by value and type: True is not 1)."""

    values: tuple

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> tuple[bool, Any]:
        return any(type(value) is type(v) and value == v for v in self.values), value

    def kind_name(self) -> str:
        kinds = {type(v) for v in self.values}
        return _type_name(kinds.pop()) if len(kinds) == 1 else "any"

    def describe(self) -> str:
        return "one of " + ", ".join(map(_show, self.values))


@dataclass(frozen=True)
class Rule:
    """A condition between hyperparameters. ``test`` takes the named values as keywords; ``says``
    is the error, with ``{name}`` standing for the option the user typed (``--hp name``) and
    ``{v[name]}`` for its value."""

    names: tuple[str, ...]
    test: Callable[..., bool]
    says: str


def _num(x: float | None) -> str:
    return "" if x is None else (str(int(x)) if float(x).is_integer() else repr(x))


def _show(v: Any) -> str:
    return {True: "true", False: "false", None: "null"}.get(v, str(v)) if isinstance(v, (bool, type(None))) else str(v)


def _type_name(t: Any) -> str:
    return {type(None): "null", bool: "bool", str: "str", int: "int", float: "float"}.get(t, getattr(t, "__name__",
                                                                                                    str(t)))


def _alternatives(constraint: Any) -> list:
    return list(constraint) if isinstance(constraint, list) else [constraint]


def _accepts(c: Any, value: Any) -> tuple[bool, Any]:
    if c is None:
        return value is None, value
    if c is callable:
        return callable(value), value
    if isinstance(c, type):
        if c is bool or not isinstance(value, bool):
            return isinstance(value, c), value
        return False, value
    return c.accepts(value)


def _kind(c: Any) -> str:
    if c is None:
        return "null"
    if c is callable:
        return "function"
    return _type_name(c) if isinstance(c, type) else c.kind_name()


def _limit(c: Any) -> str:
    if c is bool:
        return "true or false"
    return c.describe() if isinstance(c, (Interval, Choice)) else ""


def _merged(cls: type, attr: str) -> dict:
    out: dict = {}
    for klass in reversed(cls.__mro__):
        out.update(klass.__dict__.get(attr, {}))
    return out


def constraints(cls: type) -> dict[str, Any]:
    """Parameter -> constraint, over the class and its bases (subclass wins)."""
    return _merged(cls, "hparam_constraints")


def rules(cls: type) -> list[Rule]:
    """Every ``Rule`` of the class and its bases."""
    out: list[Rule] = []
    for klass in reversed(cls.__mro__):
        out += [r for r in klass.__dict__.get("hparam_rules", ()) if r not in out]
    return out


def keyword_params(cls: type) -> dict[str, inspect.Parameter]:
    """Keyword-only constructor parameters over the class and its bases (subclass wins)."""
    out: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            out.update({p.name: p for p in inspect.signature(init).parameters.values() if p.kind is p.KEYWORD_ONLY})
    return out


def defaults(cls: type) -> dict[str, Any]:
    return {n: p.default for n, p in keyword_params(cls).items() if p.default is not inspect.Parameter.empty}


def validate(cls: type, owner: str, values: Mapping[str, Any], flags: Mapping[str, str] | None = None, *,
             prefix: str = "--hp ", table: Mapping[str, Any] | None = None,
             checks: list[Rule] | None = None, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``values`` checked against the declared constraints (an int given for a float becomes a
    float), then every rule on them over ``base`` (the defaults). A key without a constraint passes
    unchecked. ``flags``: the option a key came from where it is not ``prefix + key``. Raises a
    one-line ``ConfigError`` naming ``owner`` and the option."""
    table = constraints(cls) if table is None else table
    flag = {k: (flags or {}).get(k, f"{prefix}{k}") for k in {*values, *table, *(base or {})}}
    out = dict(values)
    for key, value in values.items():
        if key not in table:
            continue
        alts = _alternatives(table[key])
        for c in alts:
            ok, conv = _accepts(c, value)
            if ok:
                out[key] = conv
                break
        else:
            raise ConfigError(f"{owner}: {flag[key]} must be {_expected(alts, value)}, got {value!r}")
    merged = {**(defaults(cls) if base is None else base), **out}
    for rule in rules(cls) if checks is None else checks:
        if all(n in merged for n in rule.names) and not rule.test(**{n: merged[n] for n in rule.names}):
            raise ConfigError(f"{owner}: " + rule.says.format(**{n: flag.get(n, f"{prefix}{n}") for n in rule.names},
                                                              v=merged))
    return out


def _typed(c: Any, value: Any) -> bool:
    """Whether ``value`` has the type ``c`` asks for (its range or choices aside)."""
    if isinstance(c, Interval):
        return not isinstance(value, bool) and isinstance(value, numbers.Integral if c.kind is int else numbers.Real)
    if isinstance(c, Choice):
        return any(type(value) is type(v) for v in c.values)
    return _accepts(c, value)[0]


def _expected(alts: list, value: Any) -> str:
    """What the value must be, in words: its type where it has none of the accepted ones ('int or
    null'), else the range or choices of those of its type ('at least 1', 'one of a, b')."""
    typed = [c for c in alts if _typed(c, value)]
    if not typed:
        return " or ".join(dict.fromkeys(_kind(c) for c in alts))
    return " or ".join(dict.fromkeys(_limit(c) or _kind(c) for c in typed))


def check(cls: type, name: str, values: dict[str, Any], flags: dict[str, str] | None = None,
          base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The values of ``--hp`` (and ``--labels``), checked: ``seed`` and ``device`` refused (they
    have their own options), then ``validate`` (its rules over ``base``, by default the defaults)."""
    for key in values:
        if key in _RESERVED:
            raise ConfigError(f"--hp {key}=... is not a hyperparameter here; use {_RESERVED[key]}")
    return validate(cls, f"selector {name!r}", values, flags, base={**defaults(cls), **(base or {})})


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, accepted values) of every hyperparameter ``--hp`` may set: what
    ``benchsuite list --selector NAME`` prints."""
    table = constraints(cls)
    out = []
    for key, p in keyword_params(cls).items():
        if key in _RESERVED:
            continue
        alts = _alternatives(table[key]) if key in table else []
        kinds = list(dict.fromkeys(_kind(c) for c in alts)) or ["any"]
        limits = [lim for lim in (_limit(c) for c in alts) if lim]
        out.append((key, " or ".join(kinds), p.default, "; ".join(limits)))
    return out
