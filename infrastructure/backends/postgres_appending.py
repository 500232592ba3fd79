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
transaction failed (a conflicting append) is rolled back and kept. As the
pool's, each connection is replaced after MAX_LIFETIME (less up to 5 %, so that
connections opened together are not all replaced at once): one past it is
closed when next taken, and a new one opened in its place, so that no session
grows for ever on the server. After `close()` appends fail at once.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
)
from psycopg.pq import TransactionStatus

from . import postgres_checks

MAX_LIFETIME = 60 * 60.0
"""Seconds an appending connection is used for at most: psycopg_pool's default,
which the read models' pool keeps."""


class Kept(NamedTuple):
    """An appending connection, when it was last given back (or opened), and
    when it is to be replaced."""

    connection: psycopg.Connection[Any]
    returned: float
    expires: float


class AppendingConnections:
    """Up to `size` connections opened by `connect`, each used by one thread at a
    time, handed out last in, first out (the most recently used is the warmest)."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        size: int,
        timeout: float,
        max_lifetime: float = MAX_LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` tells the connections' ages (seconds, monotonic)."""
        self._connect = connect
        self._size = size
        self._timeout = timeout
        self._max_lifetime = max_lifetime
        self._clock = clock
        self._idle: list[Kept] = []
        """Connections not in use, each with when it was given back."""
        self._opened = 0
        """Connections in use or idle (or being opened)."""
        self._changed = threading.Condition(threading.Lock())
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for this thread alone until the block ends."""
        kept = self._take()
        try:
            yield kept.connection
        finally:
            self._give_back(kept)

    def close(self) -> None:
        """Close the idle connections now, those in use when given back."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._changed.notify_all()
        for kept in idle:
            kept.connection.close()

    def _take(self) -> Kept:
        deadline = time.monotonic() + self._timeout
        kept: Kept | None
        with self._changed:
            while True:
                if self._closed:
                    raise ConnectionPoolClosedError("the log is closed")
                if self._idle:
                    kept = self._idle.pop()
                    break
                if self._opened < self._size:
                    self._opened += 1
                    kept = None
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectionUnavailableError(
                        f"all {self._size} connections appends use stayed in use "
                        f"for {self._timeout:g} s"
                    )
                self._changed.wait(left)
        if kept is None:
            return self._open()
        now = self._clock()
        if now >= kept.expires:
            kept.connection.close()
            return self._open()
        if now - kept.returned <= postgres_checks.TRUSTED_FOR:
            return kept
        try:
            psycopg_pool.ConnectionPool.check_connection(kept.connection)
        except psycopg.Error:
            kept.connection.close()
            return self._open()
        return kept

    def _open(self) -> Kept:
        """A new connection in a place already counted in `_opened`."""
        try:
            connection = self._connect()
        except BaseException:
            self._forget()
            raise
        lifetime = self._max_lifetime * (1 - 0.05 * random.random())
        opened = self._clock()
        return Kept(connection, opened, opened + lifetime)

    def _give_back(self, kept: Kept) -> None:
        """Keep the connection for the next append if it works and is in no
        transaction (one that failed is rolled back first), else close it."""
        connection = kept.connection
        if connection.info.transaction_status == TransactionStatus.INERROR:
            with contextlib.suppress(psycopg.Error):  # then it is broken: closed
                connection.execute("ROLLBACK")
        status = connection.info.transaction_status
        with self._changed:
            if status == TransactionStatus.IDLE and not self._closed:
                self._idle.append(kept._replace(returned=self._clock()))
                self._changed.notify()
                return
        connection.close()  # broken, left in a transaction, or the log closed
        self._forget()

    def _forget(self) -> None:
        """Free the place of a connection closed or never opened."""
        with self._changed:
            self._opened -= 1
            self._changed.notify()
