"""In-process locks: one per session id (dropped when unused), one per SQLite file."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    """Serialises work on one key within this process; other keys run in parallel."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


_file_guard = threading.Lock()
_file_locks: dict[str, threading.RLock] = {}


def file_write_lock(path: str) -> threading.RLock:
    """The one in-process lock for writes to a SQLite file, shared by every trail.

    Event appends and read-model updates take it, so threads of one process queue
    here, fairly, instead of polling SQLite's busy handler against each other
    (which can starve a writer for seconds); other processes still meet at
    SQLite's own lock.
    """
    key = os.path.realpath(path)
    with _file_guard:
        return _file_locks.setdefault(key, threading.RLock())
