"""The memory tier: a bounded LRU of session copies, safe to share between threads.

Each copy is cached with a stamp (the id of the user's data key its content was
read or sealed with), checked on every hit against the key the user has now: once
the user is erased, by this process or another, the stamp no longer matches and
the copy is dropped rather than served. A copy read before an erasure and cached
after it (a save with nothing new, a load whose caching lands just after the
erasure) carries the key it was read with, so it is dropped too. The check reads the key
through the key cache (user_keys.py), so it costs a dictionary lookup, and one
indexed query per user every KEY_CACHE_SECONDS.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from ..domain.session import Session

Stamp = Callable[[Session], object]
UNKNOWN = object()
"""A stamp that cannot be read now (storage down): the copy is served, so the
cache still answers through an outage, as it always has."""


def _unstamped(session: Session) -> object:
    return None


MAX_MESSAGES = 500_000
"""By default, the most messages the cached copies may hold in memory together
(a copy holds its transcript once read): beyond it, the least recently used
go, as beyond the cache's number of sessions. About 750 MB of messages of 200
characters (1.5 KB each, measured)."""


class SessionCache:
    """Keeps private copies, so no caller's later edits leak into what others load.

    `stamp(session)` says what must still hold for a cached copy to be served
    (the trail passes its user's current key id); `held(session)` what the copy
    itself holds, checked against `stamp` on each hit (the trail passes the key
    its content was read with; by default, `stamp` when it is cached)."""

    def __init__(
        self,
        max_size: int,
        stamp: Stamp = _unstamped,
        before_hit: Callable[[], None] = lambda: None,
        held: Stamp | None = None,
        max_messages: int = MAX_MESSAGES,
    ) -> None:
        """`before_hit()` runs before a cached copy is served: it may evict
        (the trail's evicts what other processes purged). At most `max_size`
        sessions are kept, and at most `max_messages` messages in them (by
        their `cache_weight`), the newest always."""
        if max_size < 0:
            raise ValueError("cache size must be >= 0")
        if max_messages < 0:
            raise ValueError("cache messages must be >= 0")
        self.max_size = max_size
        self.max_messages = max_messages
        self._weight = 0  # of the cached copies, together
        self._stamp = stamp
        self._held = stamp if held is None else held
        self._before_hit = before_hit
        self._sessions: OrderedDict[str, tuple[Session, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session | None:
        """A copy of the cached session, or None (also when its stamp changed, as
        it does when its user is erased); marks it recently used."""
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None:
            return None
        self._before_hit()
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None:
            return None
        now = self._stamp(entry[0])
        if now is not UNKNOWN and now != entry[1]:
            with self._lock:
                if self._sessions.get(session_id) is entry:
                    self._drop(session_id)
            return None
        with self._lock:
            if session_id in self._sessions:
                self._sessions.move_to_end(session_id)
        return entry[0].__deepcopy__({})

    def put(self, session: Session) -> None:
        """Cache a copy, evicting the least recently used beyond the bound."""
        self._store(session, replace=lambda cached: True)

    def put_if_not_older(self, session: Session) -> None:
        """Cache a copy unless the cached one is newer: the cache never regresses."""
        self._store(session, replace=lambda cached: cached.version <= session.version)

    def refresh(self, session: Session) -> None:
        """Replace a cached copy that has no unsaved events; never add a new entry."""
        self._store(
            session,
            replace=lambda cached: not cached.pending_events,
            add=False,
        )

    def _store(
        self, session: Session, replace: Callable[[Session], bool], add: bool = True
    ) -> None:
        if self.max_size == 0:
            return
        stored = session.__deepcopy__({})  # its own copy, without deepcopy's dispatch
        stamp = self._held(stored)
        with self._lock:
            entry = self._sessions.get(session.session_id)
            if entry is None and not add:
                return
            if entry is not None and not replace(entry[0]):
                return
            if entry is not None:
                self._drop(session.session_id)
            self._sessions[session.session_id] = (stored, stamp)
            self._weight += stored.cache_weight
            sessions = self._sessions
            while len(sessions) > 1 and (
                len(sessions) > self.max_size or self._weight > self.max_messages
            ):
                self._drop(next(iter(sessions)))  # the least recently used

    def _drop(self, session_id: str) -> None:
        """Forget one cached copy (holding the lock)."""
        dropped = self._sessions.pop(session_id, None)
        if dropped is not None:
            self._weight -= dropped[0].cache_weight

    def evict(self, session_id: str) -> None:
        with self._lock:
            self._drop(session_id)

    def clear(self) -> None:
        """Forget every cached session (after an erasure changed what they read)."""
        with self._lock:
            self._sessions.clear()
            self._weight = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
