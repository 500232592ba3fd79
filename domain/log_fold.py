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
    """Items in order: held, or read by `load` on first use.

    Held items live in a list that copies of the fold share and that only grows
    at its end: each fold sees the first `_length` of it, so a copy costs the
    same at any length (the cache copies each session it keeps, on every save
    of a session an agent holds). A fold appends in place while it ends where
    the list does; one that another copy has appended past takes a list of its
    own first. Callers get a list of the fold's own (`items`), made on first use
    and kept up to date by the fold's appends, never the shared one: no
    caller's edit of the list it was given reaches another copy. Items that
    callers may edit (the token-usage records, JSON objects) are handed out as
    copies made by `hand`, so the shared ones stay as stored.
    """

    __slots__ = ("_effects", "_hand", "_handed", "_length", "_load", "_shared")

    def __init__(
        self,
        items: list[T] | None = None,
        load: Callable[[], list[T]] | None = None,
        hand: Callable[[T], T] | None = None,
    ) -> None:
        """Give `items` (held: the fold keeps that list) or `load` (read on
        first use), not both; `hand` copies an item for a caller (None: items
        are immutable and handed out as they are)."""
        assert (items is None) != (load is None)
        self._hand = hand
        self._shared = items
        self._length = 0 if items is None else len(items)
        self._handed: list[T] | None = None
        self._load = load
        self._effects: list[Effect] = []

    @property
    def loaded(self) -> bool:
        """Whether the items are in memory (reading them costs nothing more)."""
        return self._shared is not None

    def items(self) -> list[T]:
        """Every item in order, read from the log the first time if not held:
        this fold's own list for a caller, the same one each time until a
        removal (the caller may edit it: the fold's commands never read it)."""
        self._read()
        if self._handed is None:
            held, hand = self._held(), self._hand
            self._handed = held if hand is None else [hand(item) for item in held]
        return self._handed

    def held(self) -> list[T]:
        """Every item in order, as the fold holds them (whatever a caller did to
        the list `items` gave it), in a new list: what commands decide with."""
        self._read()
        return self._held()

    def last(self, count: int) -> list[T]:
        """The newest `count` items (fewer if there are fewer), as held."""
        self._read()
        return self._held(max(0, self._length - count))

    def _held(self, start: int = 0) -> list[T]:
        assert self._shared is not None
        return self._shared[start : self._length]

    def _read(self) -> None:
        """Read the items from the log if not held yet, with the effects applied
        since on top."""
        if self._shared is not None:
            return
        assert self._load is not None
        items = self._load()
        for kind, value in self._effects:
            if kind == "append":
                items.append(value)  # type: ignore[arg-type]
            else:
                items = _without(items, value)  # type: ignore[arg-type]
        self._shared, self._length = items, len(items)
        self._load, self._effects = None, []

    def append(self, item: T) -> None:
        if self._shared is None:
            self._effects.append(("append", item))
            return
        shared, at = self._shared, self._length
        if len(shared) == at:
            shared.append(item)  # one step: a racing copy's lands before or after
        if shared[at] is not item:  # another copy appended past this one's end
            self._shared = [*shared[:at], item]
        self._length = at + 1
        if self._handed is not None:
            self._handed.append(item if self._hand is None else self._hand(item))

    def remove(self, ids: frozenset[str]) -> None:
        """Take out the items with these ids (items that have an `id`)."""
        if self._shared is None:
            self._effects.append(("remove", ids))
        else:
            self._shared = _without(self._shared[: self._length], ids)
            self._length = len(self._shared)
            self._handed = None

    def appended_since_load(self) -> list[T] | None:
        """The items appended since the load when nothing was removed since (the
        newest items, in order); None when removals make that unknown without
        reading the log. Held items: None (use `items`)."""
        if self._shared is not None:
            return None
        if any(kind != "append" for kind, _ in self._effects):
            return None
        return [value for _, value in self._effects]  # type: ignore[misc]

    def copy(self) -> LogFold[T]:
        """An independent copy, at no cost for held items (shared, see above);
        both read the log once each if neither has yet."""
        twin: LogFold[T] = LogFold.__new__(LogFold)
        twin._shared, twin._length = self._shared, self._length
        twin._hand, twin._handed = self._hand, None
        twin._load = self._load
        twin._effects = list(self._effects)
        return twin


def _without(items: list[T], ids: Collection[str]) -> list[T]:
    return [item for item in items if getattr(item, "id", None) not in ids]
