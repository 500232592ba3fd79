"""Reads of the read models on the connection appends use (SQLite, inline mode).

A SQLite connection keeps a cache of the file's pages and drops all of it when
another connection has committed since its last transaction. Inline appends
write the read models' rows in their own transaction, on the appending
connection, so the read models' own connection finds its cache stale at the
first read after every write and reads its pages again, while the appending
connection's cache holds the pages just written. A reader that follows its own
writes (the LangGraph saver reads the latest checkpoint after each put) reads
here, one reader or append at a time, as appends already go.

`PRAGMA data_version` on this connection changes only when another connection
has committed: `data_version` lets a lag check skip its query while nothing but this
process's own appends (applied as they committed) wrote to the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator

from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
)

from ...domain.errors import StorageUnavailable
from ..sql import Cursor, ProjectionDatabase, sql_errors
from .sqlite_store import Pool

ACTION = "read read models"


class AppendingReads(ProjectionDatabase):
    """`database`'s read models, read on `pool`'s appending connection; writes
    go to `database`."""

    def __init__(self, pool: Pool, database: ProjectionDatabase) -> None:
        self.dialect = database.dialect
        self.log_after = database.log_after
        self._pool = pool
        self._database = database

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.write()

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read waits for the connection as long as for SQLite's own lock (the
        URL's `lock_timeout`): a thread stuck in an append holds it."""
        try:
            connection = self._pool.appending(self._pool.lock_wait)
        except (ConnectionUnavailableError, ConnectionPoolClosedError) as exc:
            raise StorageUnavailable(f"{ACTION}: {exc}") from exc

        def plain_cursor() -> sqlite3.Cursor:
            cursor = connection.cursor().sqlite_cursor
            cursor.row_factory = None  # plain tuples, as the read models' own
            return cursor

        try:
            with read_transaction(plain_cursor, connection.rollback) as cur:
                yield cur
        finally:
            self._pool.appended()

    def close(self) -> None:
        """Nothing: the log's pool closes the connection, and `database` is
        closed by the trail that opened it."""


@contextlib.contextmanager
def read_transaction(
    open_cursor: Callable[[], sqlite3.Cursor], rollback: Callable[[], None]
) -> Iterator[Cursor]:
    """A read transaction on the cursor `open_cursor` gives, rolled back as it
    ends (a read: nothing to keep); the database's failures as storage errors."""
    with sql_errors(ACTION):
        cursor = open_cursor()
        cursor.execute("BEGIN")
        try:
            yield Cursor(cursor, "sqlite")
        finally:
            rollback()
            cursor.close()


def data_version(cur: Cursor) -> int:
    """The appending connection's `PRAGMA data_version` (reads no page): the
    same value as before means no other connection committed meanwhile. Asked
    first in a read, so its snapshot holds at least what the value saw."""
    [(version,)] = cur.execute("PRAGMA data_version").fetchall()
    return int(version)
