"""The memory tier: a bounded LRU of session copies, safe to share between threads."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable

from ..domain.session import Session


class SessionCache:
    """Keeps private copies, so no caller's later edits leak into what others load."""

    def __init__(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError("cache size must be >= 0")
        self.max_size = max_size
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session | None:
        """A copy of the cached session, or None; marks it recently used."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            self._sessions.move_to_end(session_id)
            return copy.deepcopy(session)

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
        stored = copy.deepcopy(session)
        with self._lock:
            cached = self._sessions.get(session.session_id)
            if cached is None and not add:
                return
            if cached is not None and not replace(cached):
                return
            self._sessions[session.session_id] = stored
            self._sessions.move_to_end(session.session_id)
            while len(self._sessions) > self.max_size:
                self._sessions.popitem(last=False)

    def evict(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def clear(self) -> None:
        """Forget every cached session (after an erasure changed what they read)."""
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
