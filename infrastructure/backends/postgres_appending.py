"""The connections PostgreSQL appends use: kept by the events recorder itself,
outside eventsourcing's pool.

Every save is an append. Through the pool (psycopg_pool) each one checks a
connection out and gives it back, and the giving back runs in the pool's worker
thread: with more runnable processes than cores, each wake-up of that thread is
one more context switch, which may find a cold cache. Here a thread takes an idle
connection from a stack under a lock (never contended in a one-thread writer), or
opens one, and puts it back: no other thread runs.

What the pool gave is kept: each connection carries the URL's statement, lock and
idle-in-transaction timeouts and opens within the connect timeout; at most `size`
exist at once, and a thread finding them all in use waits at most the connect
timeout (ConnectionUnavailableError). One unused for a moment is checked before
use (the server may have restarted meanwhile: see postgres_checks.py); one that
broke is closed when given back, so the next attempt opens a new one; one whose
transaction failed (a conflicting append) is rolled back and kept. After
`close()` appends fail at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
)
from psycopg.pq import TransactionStatus

from . import postgres_checks


class AppendingConnections:
    """Up to `size` connections opened by `connect`, each used by one thread at a
    time, handed out last in, first out (the most recently used is the warmest)."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]], size: int, timeout: float
    ) -> None:
        self._connect = connect
        self._size = size
        self._timeout = timeout
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []
        """Connections not in use, each with when it was given back."""
        self._opened = 0
        """Connections in use or idle (or being opened)."""
        self._changed = threading.Condition(threading.Lock())
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for this thread alone until the block ends."""
        connection = self._take()
        try:
            yield connection
        finally:
            self._give_back(connection)

    def close(self) -> None:
        """Close the idle connections now, those in use when given back."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._changed.notify_all()
        for connection, _ in idle:
            connection.close()

    def _take(self) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + self._timeout
        connection: psycopg.Connection[Any] | None
        with self._changed:
            while True:
                if self._closed:
                    raise ConnectionPoolClosedError("the log is closed")
                if self._idle:
                    connection, returned = self._idle.pop()
                    break
                if self._opened < self._size:
                    self._opened += 1
                    connection, returned = None, 0.0
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectionUnavailableError(
                        f"all {self._size} connections appends use stayed in use "
                        f"for {self._timeout:g} s"
                    )
                self._changed.wait(left)
        if connection is None:
            return self._open()
        if time.monotonic() - returned <= postgres_checks.TRUSTED_FOR:
            return connection
        try:
            psycopg_pool.ConnectionPool.check_connection(connection)
        except psycopg.Error:
            connection.close()
            return self._open()
        return connection

    def _open(self) -> psycopg.Connection[Any]:
        """A new connection in a place already counted in `_opened`."""
        try:
            return self._connect()
        except BaseException:
            self._forget()
            raise

    def _give_back(self, connection: psycopg.Connection[Any]) -> None:
        """Keep `connection` for the next append if it works and is in no
        transaction (one that failed is rolled back first), else close it."""
        if connection.info.transaction_status == TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):  # then it is broken: closed
                connection.execute("ROLLBACK")
        status = connection.info.transaction_status
        with self._changed:
            if status == TransactionStatus.IDLE and not self._closed:
                self._idle.append((connection, time.monotonic()))
                self._changed.notify()
                return
        connection.close()  # broken, left in a transaction, or the log closed
        self._forget()

    def _forget(self) -> None:
        """Free the place of a connection closed or never opened."""
        with self._changed:
            self._opened -= 1
            self._changed.notify()
