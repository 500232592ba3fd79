"""A list a session folds from its log, held in memory or read on first use.

A session's transcript and its token-usage records grow with the session, so the
state a load restores (and a snapshot stores) leaves them out: a loaded session
holds a `LogFold` that reads them from the log, through the port the repository
gave it, only when a caller asks. Until then the events applied to the session
since it was loaded are kept as effects (appends and removals) and replayed onto
what is read, so the list is always the session's own, unsaved events included.
A session built by its events (a new one, `at`, `replay`) holds its lists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Generic, TypeVar

T = TypeVar("T")

Effect = tuple[str, object]
"""("append", item) or ("remove", frozenset of ids), in the order applied."""


class LogFold(Generic[T]):
    """Items in order: held, or read by `load` on first use."""

    __slots__ = ("_effects", "_items", "_load")

    def __init__(
        self,
        items: list[T] | None = None,
        load: Callable[[], list[T]] | None = None,
    ) -> None:
        """Give `items` (held) or `load` (read on first use), not both."""
        assert (items is None) != (load is None)
        self._items = items
        self._load = load
        self._effects: list[Effect] = []

    @property
    def loaded(self) -> bool:
        """Whether the items are in memory (reading them costs nothing more)."""
        return self._items is not None

    def items(self) -> list[T]:
        """Every item in order, read from the log the first time if not held."""
        if self._items is None:
            assert self._load is not None
            items = self._load()
            for kind, value in self._effects:
                if kind == "append":
                    items.append(value)  # type: ignore[arg-type]
                else:
                    items = _without(items, value)  # type: ignore[arg-type]
            self._items, self._load, self._effects = items, None, []
        return self._items

    def append(self, item: T) -> None:
        if self._items is None:
            self._effects.append(("append", item))
        else:
            self._items.append(item)

    def remove(self, ids: frozenset[str]) -> None:
        """Take out the items with these ids (items that have an `id`)."""
        if self._items is None:
            self._effects.append(("remove", ids))
        else:
            self._items = _without(self._items, ids)

    def appended_since_load(self) -> list[T] | None:
        """The items appended since the load when nothing was removed since (the
        newest items, in order); None when removals make that unknown without
        reading the log. Held items: None (use `items`)."""
        if self._items is not None:
            return None
        if any(kind != "append" for kind, _ in self._effects):
            return None
        return [value for _, value in self._effects]  # type: ignore[misc]

    def copy(self) -> LogFold[T]:
        """An independent copy; both read the log once each if neither has yet."""
        twin: LogFold[T] = LogFold.__new__(LogFold)
        twin._items = None if self._items is None else list(self._items)
        twin._load = self._load
        twin._effects = list(self._effects)
        return twin


def _without(items: list[T], ids: Collection[str]) -> list[T]:
    return [item for item in items if getattr(item, "id", None) not in ids]
