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
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Effect = tuple[str, object]
"""("append", item) or ("remove", frozenset of ids), in the order applied."""


UNCHECKED = object()
"""A stamp that cannot be taken now (storage down): a read already made under a
stamp is used as it is, as the cache serves its copies through an outage."""


class _Base(Generic[T]):
    """What a fold not read yet reads, read once for it and all its copies (the
    cache's copy of a session and every copy it hands out share one), and used
    by another copy only while its `stamp` is still what it was at the read."""

    __slots__ = ("_load", "_read", "_stamp")

    def __init__(
        self, load: Callable[[], list[T]], stamp: Callable[[], object] | None
    ) -> None:
        self._load = load
        self._stamp = stamp
        self._read: tuple[list[T], int, object] | None = None

    def read(self) -> tuple[list[T], int]:
        """The items and how many were read (copies may append to the list
        since): read again when the stamp, taken first, is not the one taken
        before that read, or is None (nothing vouches for a read: each copy
        reads for itself). Two copies reading at once may both load: either
        list is it."""
        if self._stamp is None:
            stamp: object = ""
        else:
            stamp = self._stamp()
        read = self._read
        if read is None or read[2] is None or stamp not in (read[2], UNCHECKED):
            items = self._load()
            read = self._read = (items, len(items), stamp)
        return read[0], read[1]


class LogFold(Generic[T]):
    """Items in order: held, or read by `load` on first use.

    Held items live in a list that copies of the fold share and that only grows
    at its end: each fold sees the first `_length` of it, so a copy costs the
    same at any length (the cache copies each session it keeps, on every save
    of a session an agent holds). A fold appends in place while it ends where
    the list does; one that another copy has appended past takes a list of its
    own first. The effects of a fold not read yet are shared by its copies the
    same way, and what it reads is read once for all of them. Callers get a list
    of the fold's own (`items`), made on first use and kept up to date by the
    fold's appends, never the shared one: no caller's edit of the list it was
    given reaches another copy or what the fold decides with (`held`, `last`).
    Items that callers may edit (the token-usage records, JSON objects) are
    handed out as copies made by `hand`, so the shared ones stay as stored.
    """

    __slots__ = (
        "_base",
        "_effects",
        "_hand",
        "_handed",
        "_length",
        "_shared",
        "_unread",
    )

    def __init__(
        self,
        items: list[T] | None = None,
        load: Callable[[], list[T]] | None = None,
        hand: Callable[[T], T] | None = None,
        stamp: Callable[[], object] | None = None,
    ) -> None:
        """Give `items` (held: the fold keeps that list) or `load` (read on
        first use), not both; `hand` copies an item for a caller (None: items
        are immutable and handed out as they are); `stamp` says what a read
        made for one copy holds only while it is unchanged (None: nothing
        does; UNCHECKED: it cannot tell now; it may raise instead: the items
        are gone)."""
        assert (items is None) != (load is None)
        self._hand = hand
        self._shared = items
        self._length = 0 if items is None else len(items)
        self._handed: list[T] | None = None
        self._base = None if load is None else _Base(load, stamp)
        self._effects: list[Effect] = []
        self._unread = 0
        """How many of `_effects` are this fold's (see the class docstring)."""

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

    def append(self, item: T) -> None:
        if self._shared is None:
            self._effects = _grown(self._effects, self._unread, ("append", item))
            self._unread += 1
            return
        self._shared = _grown(self._shared, self._length, item)
        self._length += 1
        if self._handed is not None:
            self._handed.append(item if self._hand is None else self._hand(item))

    def remove(self, ids: frozenset[str]) -> None:
        """Take out the items with these ids (items that have an `id`)."""
        if self._shared is None:
            self._effects = _grown(self._effects, self._unread, ("remove", ids))
            self._unread += 1
        else:
            self._shared = _without(self._held(), ids)
            self._length = len(self._shared)
            self._handed = None

    def appended_since_load(self) -> list[T] | None:
        """The items appended since the load when nothing was removed since (the
        newest items, in order); None when removals make that unknown without
        reading the log. Held items: None (use `items`)."""
        effects = self.changed_since_load()
        if effects is None or any(kind != "append" for kind, _ in effects):
            return None
        return [value for _, value in effects]  # type: ignore[misc]

    def changed_since_load(self) -> list[Effect] | None:
        """The appends and removals applied since the load, in order, so that
        what the log holds can be brought up to now without reading it. Held
        items: None (use `items`)."""
        if self._shared is not None:
            return None
        return self._effects[: self._unread]

    def copy(self) -> LogFold[T]:
        """An independent copy, at no cost whatever the length, held or not
        (shared, see above); a fold not read yet and its copies read it once."""
        twin: LogFold[T] = LogFold.__new__(LogFold)
        twin._shared, twin._length = self._shared, self._length
        twin._hand, twin._handed = self._hand, None
        twin._base, twin._effects = self._base, self._effects
        twin._unread = self._unread
        return twin

    def _held(self, start: int = 0) -> list[T]:
        assert self._shared is not None
        return self._shared[start : self._length]

    def _read(self) -> None:
        """Read the items (once for this fold and its copies) if not held yet,
        with this fold's effects applied on top."""
        if self._shared is not None:
            return
        assert self._base is not None
        self._shared, self._length = self._base.read()
        effects = self._effects[: self._unread]
        self._base, self._effects, self._unread = None, [], 0
        for kind, value in effects:
            if kind == "append":
                self.append(value)  # type: ignore[arg-type]
            else:
                self.remove(value)  # type: ignore[arg-type]


def _grown(shared: list[Any], length: int, item: object) -> list[Any]:
    """`shared` with `item` after its first `length` items, which are a fold's:
    appended in place while the fold ends where the list does, else onto a list
    of the fold's own (another copy appended past it). The list the fold holds
    now is returned."""
    if len(shared) == length:
        shared.append(item)  # one step: a racing copy's lands before or after
    if shared[length] is not item:
        return [*shared[:length], item]
    return shared


def _without(items: list[T], ids: Collection[str]) -> list[T]:
    return [item for item in items if getattr(item, "id", None) not in ids]
