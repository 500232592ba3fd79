"""Copies of sessions' content a process keeps besides the trail's cache.

An adapter may keep what its own writes stored, to write next without reading
(the LangGraph saver keeps each thread's session and its pending writes). Such a
memory holds a user's words like the cache does, so it goes when the cache's
copies go: an erasure drops every memory's content with the cache's, and a purge
of a session (here, or noticed from another process) drops that session from
each. Memories are held weakly: one no longer used by its adapter is not kept
alive here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Protocol

from .cache import SessionCache


class SessionMemory(Protocol):
    """What a memory of sessions' content can be told."""

    def forget(self, session_ids: Sequence[str]) -> None:
        """Drop what it keeps of these sessions."""

    def clear(self) -> None:
        """Drop everything it keeps."""


class SessionMemories:
    """The trail's cache and every memory registered beside it."""

    def __init__(self, cache: SessionCache) -> None:
        self._cache = cache
        self._memories: weakref.WeakSet[SessionMemory] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, memory: SessionMemory) -> None:
        """Keep `memory` in step with the cache (adding it again is harmless)."""
        with self._lock:
            self._memories.add(memory)

    def evict(self, session_id: str) -> None:
        """A purged session: the cache's copy and every memory's dropped."""
        self._cache.evict(session_id)
        for memory in self._current():
            memory.forget([session_id])

    def clear(self) -> None:
        """After an erasure: every cached session and every memory's content."""
        self._cache.clear()
        for memory in self._current():
            memory.clear()

    def _current(self) -> list[SessionMemory]:
        with self._lock:
            return list(self._memories)
