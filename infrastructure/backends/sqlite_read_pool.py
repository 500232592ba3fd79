"""Read-only connections to a SQLite file, for reads of the read models.

In WAL mode a reader reads the last committed state while a writer writes, so a
read on a connection of its own never waits for the file's write lock: one
user's erasure rewriting the read models, or a thread stuck in an append, does
not stop another user's list. A few connections are opened as reads need them
and kept for the next reads; a read waits for a free one at most the lock
timeout.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator

from ...domain.errors import StorageUnavailable
from ..sql import Cursor, sql_errors
from .sqlite_reads import ACTION, read_transaction

READERS = 8
"""Connections reading at once; a further read waits for one to be free."""


class ReadConnections:
    """Up to `size` read-only connections to `path`, opened lazily; each waits
    `timeout` seconds for SQLite's own lock (as the file's other connections)."""

    def __init__(self, path: str, timeout: float, size: int = READERS) -> None:
        self._path = path
        self._timeout = timeout
        self._size = size
        self._idle: list[sqlite3.Connection] = []
        self._opened = 0
        self._closed = False
        self._free = threading.Condition()

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read-only transaction over the last committed snapshot."""
        connection = self._take()
        try:
            with read_transaction(connection.cursor, connection.rollback) as cur:
                yield cur
        finally:
            self._give_back(connection)

    def close(self) -> None:
        """Close the idle connections now and each busy one as its read ends:
        close() never waits for a read."""
        with self._free:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._free.notify_all()
        for connection in idle:
            connection.close()

    def _take(self) -> sqlite3.Connection:
        """An idle connection, else a new one while fewer than `size` are open,
        else the first one given back within the timeout."""
        deadline = time.monotonic() + self._timeout
        with self._free:
            while not self._closed:
                if self._idle:
                    return self._idle.pop()
                if self._opened < self._size:
                    self._opened += 1
                    break
                if not self._free.wait(deadline - time.monotonic()):
                    raise StorageUnavailable(
                        f"{ACTION}: timed out waiting for a free connection "
                        f"({self._size} reads running)"
                    )
            else:
                raise StorageUnavailable(f"{ACTION}: the trail is closed")
        try:
            return self._open()
        except BaseException:
            with self._free:
                self._opened -= 1
                self._free.notify()
            raise

    def _open(self) -> sqlite3.Connection:
        with sql_errors(f"open {self._path} for reading"):
            connection = sqlite3.connect(
                self._path,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,  # kept here, taken by any thread
            )
            try:
                connection.execute("PRAGMA query_only=ON")
            except BaseException:
                connection.close()
                raise
        return connection

    def _give_back(self, connection: sqlite3.Connection) -> None:
        with self._free:
            closed = self._closed
            if closed:
                self._opened -= 1
            else:
                self._idle.append(connection)
                self._free.notify()
        if closed:
            connection.close()
