"""When a pooled PostgreSQL connection is checked before it is handed out.

A pool that checks every connection it hands out spends one round trip per
checkout on it: for an inline save, one per insert and one per read-model
catch-up, each a wake-up of the server and of the client, which on a busy machine
costs more than the statement. A connection given back working moments ago is
handed out unchecked; one that sat unused longer (the server may have restarted
or dropped it meanwhile) is checked as before. A connection that breaks within
that moment fails its transaction as an outage (StorageUnavailable), as it would
mid-transaction; the pool then drops it.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg_pool

TRUSTED_FOR = 1.0
"""Seconds after a connection was given back during which it is not checked."""


class RecentUseChecks:
    """A pool's `check` and `reset` callbacks: `reset` notes when each connection
    comes back; `check` runs the pool's own check only past TRUSTED_FOR."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Any, float] = (
            weakref.WeakKeyDictionary()
        )

    def reset(self, connection: Any) -> None:
        """Note that `connection` (a psycopg connection) came back working."""
        self._returned[connection] = time.monotonic()

    def check(self, connection: Any) -> None:
        """The pool's check, unless `connection` came back moments ago."""
        returned = self._returned.get(connection)
        if returned is None or time.monotonic() - returned > TRUSTED_FOR:
            psycopg_pool.ConnectionPool.check_connection(connection)
