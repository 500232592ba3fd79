"""When a pooled PostgreSQL connection is checked before it is handed out.

A pool that checks every connection it hands out spends one round trip per
checkout on it: for an inline save, one per insert and one per read-model
catch-up, each a wake-up of the server and of the client, which on a busy machine
costs more than the statement. A connection handed out moments ago (and given
back working: the pool drops one given back broken) is handed out unchecked; one
that sat unused longer (the server may have restarted or dropped it meanwhile) is
checked as before. A connection that breaks within that moment fails its
transaction as an outage (StorageUnavailable), as it would mid-transaction; the
pool then drops it.

The time is noted when a connection goes out, not when it comes back: a pool
with a `reset` callback gives every connection back through one of its worker
threads, a hand-over between threads on each use (and, until the worker has run,
the caller takes another connection, so each one goes out a fraction as often).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg_pool

TRUSTED_FOR = 1.0
"""Seconds after a connection was given back during which it is not checked."""


class RecentUseChecks:
    """A pool's `check` callback: runs the pool's own check only on a connection
    not handed out within TRUSTED_FOR, and notes when each one goes out."""

    def __init__(self) -> None:
        self._used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def check(self, connection: Any) -> None:
        """The pool's check, unless `connection` (a psycopg connection) went out
        moments ago."""
        now = time.monotonic()
        used = self._used.get(connection)
        if used is None or now - used > TRUSTED_FOR:
            psycopg_pool.ConnectionPool.check_connection(connection)
        self._used[connection] = now
