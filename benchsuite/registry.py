"""One generic registry per plug-in kind (selectors, benchmarks, metrics).

Built-ins register with a decorator or as a lazy ``"module:attr"`` string so that listing names
never imports heavy modules (torch); third parties register through an entry-point group such as
``benchsuite.selectors``. Look-up happens first, then only the requested plug-in is imported.
"""
from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.group = entry_point_group
        self._items: dict[str, T | str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, obj: T | str | None = None) -> Any:
        """``@reg.register("name")`` decorator, or ``reg.register("name", "module:attr")``."""
        if obj is not None:
            self._add(name, obj)
            return obj

        def deco(target: T) -> T:
            self._add(name, target)
            return target

        return deco

    def _add(self, name: str, obj: T | str) -> None:
        old = self._items.get(name)
        if old is not None:
            # A lazy "module:attr" entry materialises when its module runs the decorator.
            target = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"
            same = isinstance(old, str) and old == target
            if not same:
                raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or self.group is None:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._items:
                raise DuplicateNameError(
                    f"{self.kind} {ep.name!r} from entry point {ep.value!r} clashes with a registered one"
                )
            self._items[ep.name] = ep.value

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._items

    def get(self, name: str) -> T:
        """Resolve one plug-in, importing only its module."""
        self._load_entry_points()
        if name not in self._items:
            raise UnknownNameError(self.kind, name, list(self._items))
        obj = self._items[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._items[name] = obj
        return obj

    @contextlib.contextmanager
    def temporary(self, name: str, obj: T | str) -> Iterator[T | str]:
        """``with reg.temporary("name", cls): ...``: ``name`` is ``obj`` inside the block (replacing
        any entry of that name) and, after it, what it was before (or absent), even on error."""
        self._load_entry_points()   # loaded now, so that leaving the block cannot make them clash
        missing = object()
        before = self._items.get(name, missing)
        self._items[name] = obj
        try:
            yield obj
        finally:
            if before is missing:
                self._items.pop(name, None)
            else:
                self._items[name] = before

    def create(self, name: str, **kwargs: Any) -> Any:
        factory: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        return factory(**kwargs)
