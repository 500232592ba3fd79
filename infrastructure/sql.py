"""SQL on the read models' database: one small interface over SQLite and PostgreSQL.

So each projection writes its SQL once: `?` placeholders (turned into `%s` for
psycopg), `write()` for an exclusive transaction, `read()` for a consistent
snapshot. Each backend opens its own kind (`backends/`); failures are mapped here,
once: a row the database refuses is the row's fault (`RowRejected`), anything else
an outage (`StorageUnavailable`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import psycopg
import psycopg_pool
from eventsourcing import persistence
from eventsourcing.persistence import Notification

from ..domain.errors import StorageUnavailable
from .log_position import LogPosition
from .sealed_columns import PLAIN, ColumnSealer

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
NO_LIMIT = 2**62
"""A LIMIT that means none (both databases want a number there)."""


class Cursor:
    """A DB-API cursor that takes `?` placeholders on either database; `sealer`
    seals and opens personal values (PLAIN unless a master key is set)."""

    sealer: ColumnSealer = PLAIN

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        self._cursor.execute(self._sql(sql), params)
        return self

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def results(self, statements: Sequence[tuple[str, Params]]) -> list[list[Any]]:
        """Each statement's rows, in turn. On PostgreSQL the statements go as one
        message (one round trip, their values bound by the client), each with a
        snapshot of its own; they run in order, as if sent one by one."""
        if self.dialect == "sqlite":
            return [self.execute(sql, params).fetchall() for sql, params in statements]
        with psycopg.ClientCursor(self._cursor.connection) as client:
            client.execute(
                "; ".join(self._sql(sql) for sql, _ in statements),
                [value for _, params in statements for value in params],
            )
            found = [client.fetchall() if client.description else []]
            while client.nextset():
                found.append(client.fetchall() if client.description else [])
        return found

    def flush(self) -> None:
        """Send the writes this cursor holds, so that their errors are raised
        here (PostgreSQL's held writes: backends/postgres_cursor.py); nothing
        is held elsewhere."""

    def discard(self) -> None:
        """Drop the writes this cursor holds, unsent (a rollback to a savepoint
        before them undoes them anyway); nothing is held elsewhere."""

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._cursor.fetchone()
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())

    @property
    def description(self) -> Sequence[Any]:
        """The columns of the last result."""
        return tuple(self._cursor.description or ())

    @property
    def for_update(self) -> str:
        """The row-lock suffix of a SELECT (SQLite's write lock covers the file)."""
        return "" if self.dialect == "sqlite" else " FOR UPDATE"


ROW_FAILURES: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    psycopg.IntegrityError,
    psycopg.DataError,
)
"""The database refusing a row (a constraint, a value out of range): the row's
fault, not an outage."""
OUTAGES: tuple[type[Exception], ...] = (
    StorageUnavailable,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    persistence.OperationalError,  # eventsourcing's wrappers of the two above
    persistence.InterfaceError,
    persistence.ConnectionUnavailableError,
)


class RowRejected(StorageUnavailable):
    """The database refused a row a handler wrote (a constraint, a bad value)."""


class StatementsChanged(StorageUnavailable):
    """The connection's prepared statements no longer matched its tables (another
    process changed them, backends/postgres_prepared.py): an outage that the
    transaction, run once more, does not meet (it prepares them afresh)."""


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` is the database failing (retry later) rather than something
    about the data being applied (skip that event, counted): a lost connection, a
    lock or statement timeout, a locked or unreadable file."""
    return isinstance(exc, OUTAGES) and not isinstance(exc, RowRejected)


@contextlib.contextmanager
def sql_errors(action: str) -> Iterator[None]:
    """Re-raise a refused row as RowRejected, any other failure of the database
    as StorageUnavailable."""
    try:
        yield
    except ROW_FAILURES as exc:
        raise RowRejected(f"{action}: {exc}") from exc
    except (sqlite3.Error, psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise StorageUnavailable(f"{action}: {exc}") from exc


class ProjectionDatabase(ABC):
    """Transactions on the database that holds the read models.

    `log_after` is SQL, where the read models share the log's database, that is
    true when the log holds an event after `{position}` (a query giving one row of
    columns t and n: transaction id, notification id), so a read can compare the
    two in one snapshot; None where they do not (memory://).
    """

    dialect: Dialect
    log_after: str | None = None
    log_rows: str | None = None
    """SQL, where the read models share the log's database, giving the log's
    settled rows after `{position}` (as in `log_after`), at most `?` of them, in
    log order: each that position's two columns, then what `logged` reads."""
    log_places: str | None = None
    """SQL, beside `log_rows`, giving where purged rows were after `{position}`, at
    most `?` of them, in log order (transaction id, notification id): read models
    number them and do not apply them (log_position.py)."""
    sealer: ColumnSealer = PLAIN
    """What its cursors seal personal values with."""

    @abstractmethod
    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        """A transaction that excludes other writers of the same rows; commits."""

    @abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A read-only transaction over one consistent snapshot."""

    def logged(
        self, rows: Sequence[Sequence[Any]]
    ) -> list[tuple[LogPosition, Notification]]:
        """The notifications in rows of `log_rows`, each with its position."""
        raise NotImplementedError

    def announce_catch_ups(self) -> None:  # noqa: B027 (nothing by default)
        """From now on, wake the log's listeners as a catch-up that applied events
        commits (`applied`), and no longer after each insert: inline mode, where a
        catch-up follows every insert. Nothing where nobody listens."""

    def applied(self, cur: Cursor) -> None:  # noqa: B027 (nothing by default)
        """`cur`'s transaction applies events of the log (see announce_catch_ups)."""

    shares_catch_ups = False
    """True where writers of several processes catch the read models up at once
    (PostgreSQL): `applying` lets one apply every committed write while the others
    wait for it, instead of each applying its own write in turn."""

    @contextlib.contextmanager
    def applying(
        self, look: str, done: Callable[[Sequence[Any]], bool]
    ) -> Iterator[tuple[Cursor, bool, Sequence[Any] | None]]:
        """A write transaction to apply the log in, whether to apply, and the
        row of `look` (a query of one row, without parameters) read in it once
        no other applier can move it (None if not read). Whether to apply is
        False when another process applied meanwhile and `done` says, of that
        row, that this covered the caller (it waited for that one's commit
        instead of queueing to apply the same events again). Here always True,
        `look` not read: `write()` excludes."""
        with self.write() as cur:
            yield cur, True, None

    def compact(self) -> bool:
        """Give the bytes of dropped rows back so no file keeps them (an erasure
        asks); False if a reader elsewhere still holds them. Nothing by default."""
        return True

    def rewrite(self, full: bool) -> tuple[int, int]:
        """Rewrite the database so deleted rows leave its files and the space
        is given back (`sessiontrail compact`); its size in bytes before and
        after. Nothing by default (memory://)."""
        return 0, 0

    @abstractmethod
    def close(self) -> None:
        """Release connections; idempotent."""
