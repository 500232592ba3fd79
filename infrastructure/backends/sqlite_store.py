"""eventsourcing's SQLite factory and log recorder, as sessiontrail needs them.

- The busy timeout in fractional seconds: eventsourcing reads SQLITE_LOCK_TIMEOUT
  as whole seconds, while sqlite3 waits any fraction, so
  `sqlite:///chats.db?lock_timeout=0.3` waits 0.3 s for another writer's lock.
- Connections keep their prepared statements (eventsourcing's keep one), and
  zero the pages they free (`secure_delete`, as the read models' connection).
- An append can run more SQL in its own transaction (`within`): an inline write
  commits its read models' rows with its events, in one durable commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType

BUSY_TIMEOUT = "SESSIONTRAIL_SQLITE_BUSY_SECONDS"
"""The exact busy timeout, in seconds; SQLITE_LOCK_TIMEOUT holds it rounded up."""

STATEMENTS_KEPT = 256
"""Prepared statements each connection keeps: an inline save runs about twenty."""

Within = Callable[[SQLiteCursor, Sequence[int]], None]
"""Told an append's cursor and its records' notification ids before it commits."""


class LogRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite log recorder; an append may do more before its commit."""

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        within: Within | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Insert in one transaction (synchronous FULL: fsynced when it commits);
        `within` runs in it after the inserts. Whatever it raises rolls all back."""
        with self.datastore.transaction(commit=True) as cursor:
            ids = self._insert_events(cursor, stored_events, **kwargs)
            if within is not None:
                within(cursor, [int(ident) for ident in ids or ()])
            return ids


class Pool(SQLiteConnectionPool):
    """eventsourcing's pool of connections to a file in WAL mode (the backend
    switched it), each keeping its prepared statements and zeroing freed pages."""

    def _create_connection(self) -> SQLiteConnection:
        try:
            connection = sqlite3.connect(
                self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # transactions begin explicitly
                cached_statements=STATEMENTS_KEPT,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
            connection.execute("PRAGMA secure_delete = ON")
        except (sqlite3.Error, TypeError) as exc:
            raise InterfaceError(exc) from exc
        connection.row_factory = sqlite3.Row  # what eventsourcing's reads expect
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class Factory(SQLiteFactory):
    """eventsourcing's SQLite factory; its connections wait the exact busy timeout."""

    application_recorder_class = LogRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        exact = self.env.get(BUSY_TIMEOUT)
        old = self.datastore.pool  # unused yet: it opens connections on demand
        # sqlite3.connect takes float seconds; eventsourcing's reads whole ones.
        self.datastore.pool = Pool(
            db_name=old.db_name,
            lock_timeout=float(exact) if exact else old.lock_timeout,  # type: ignore[arg-type]
        )
