"""In-process locks: one per session id, dropped when unused (a SQLite file's
write lock is the SQLite backend's: `backends/sqlite.py`)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from types import TracebackType


class KeyedLocks:
    """Serialises work on one key within this process; other keys run in parallel."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def hold(self, key: str) -> Held:
        """Hold `key`'s lock for a `with` block (every save takes one)."""
        return Held(self, key)

    def _acquire(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[key] = (lock, users + 1)
        return lock

    def _release(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


class Held(AbstractContextManager[None]):
    """One `with` of a key's lock: a class, not a generator, as it is on every save."""

    __slots__ = ("_key", "_lock", "_locks")

    def __init__(self, locks: KeyedLocks, key: str) -> None:
        self._locks = locks
        self._key = key
        self._lock: threading.Lock | None = None

    def __enter__(self) -> None:
        lock = self._locks._acquire(self._key)
        try:
            lock.acquire()
        except BaseException:  # interrupted while waiting: not held
            self._locks._release(self._key)
            raise
        self._lock = lock

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._lock is not None
        self._lock.release()
        self._locks._release(self._key)
