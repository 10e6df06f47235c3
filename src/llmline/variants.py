"""A named table of variants (task heads, data steps, methods) that modules fill as they load.

Variants register themselves where they are defined so adding one touches no central file;
the spec names them by these short names, never by import paths.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from llmline.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Short name -> variant, with lookups that suggest the nearest name on a typo."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str, *, key: str | None = None) -> T:
        if name in self._items:
            return self._items[name]
        close = difflib.get_close_matches(name, self._items, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpecError(
            f"unknown {self.kind} {name!r}",
            where=key,
            fix=f"{hint}choose one of: {', '.join(sorted(self._items))}",
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
