"""Where read models live: the log's own database, SQLite or PostgreSQL.

One small interface over both, so each projection writes its SQL once: `?`
placeholders (turned into `%s` for psycopg), `write()` for an exclusive
transaction, `read()` for a consistent snapshot. The in-memory backend keeps its
read models in an in-memory SQLite database, shared by name like its event log.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import psycopg
import psycopg_pool
from eventsourcing import persistence

from ..domain.errors import StorageUnavailable
from .backends.postgres_store import apply_bounds
from .locks import file_write_lock
from .settings import Settings, postgres_bounds

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]


class Cursor:
    """A DB-API cursor that takes `?` placeholders on either database."""

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


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` is the database failing (retry later) rather than something
    about the data being applied (skip that event, counted): a lost connection, a
    lock or statement timeout, a locked or unreadable file."""
    return isinstance(exc, OUTAGES) and not isinstance(exc, RowRejected)


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except ROW_FAILURES as exc:
        raise RowRejected(f"{action}: {exc}") from exc
    except (sqlite3.Error, psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise StorageUnavailable(f"{action}: {exc}") from exc


class ProjectionDatabase(ABC):
    """Transactions on the database that holds the read models."""

    dialect: Dialect

    @abstractmethod
    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        """A transaction that excludes other writers of the same rows; commits."""

    @abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A read-only transaction over one consistent snapshot."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; idempotent."""


class SQLiteDatabase(ProjectionDatabase):
    """One connection per open trail, serialised in process by a lock.

    `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two processes never
    apply the same notifications; the busy timeout waits out the other one.
    """

    dialect: Dialect = "sqlite"

    def __init__(
        self, connection: sqlite3.Connection, lock: threading.RLock | None = None
    ) -> None:
        """`lock` serialises this connection; file databases share the file's lock."""
        self._connection = connection
        self._lock = lock or threading.RLock()

    @classmethod
    def open_file(cls, path: str, timeout: float) -> SQLiteDatabase:
        with _storage_errors(f"open {path}"):
            connection = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed
            # Read models are derived: their commits need not fsync. Rows and
            # positions commit together, so a power loss can only roll both back
            # (the next catch-up re-applies them); and the events' own FULL
            # commits fsync the shared write-ahead log, these frames included.
            connection.execute("PRAGMA synchronous=NORMAL")
        return cls(connection, file_write_lock(path))

    def truncate_wal(self) -> bool:
        """Checkpoint the write-ahead log and truncate it to nothing; False if a
        reader elsewhere still needs it (it then shrinks at a later checkpoint)."""
        with self._lock, _storage_errors("checkpoint the write-ahead log"):
            busy, _, _ = self._connection.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
        return bool(busy == 0)

    @contextlib.contextmanager
    def _transaction(self, begin: str, action: str) -> Iterator[Cursor]:
        with self._lock, _storage_errors(action):
            cursor = self._connection.cursor()
            cursor.execute(begin)
            try:
                yield Cursor(cursor, "sqlite")
            except BaseException:
                self._connection.rollback()
                raise
            self._connection.commit()

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction("BEGIN IMMEDIATE", "update read models")

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction("BEGIN", "read read models")

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _SharedMemory:
    """In-memory SQLite databases shared in process by name; freed with the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[SQLiteDatabase, int]] = {}

    def acquire(self, name: str) -> SQLiteDatabase:
        with self._lock:
            database, users = self._open.get(name) or (self._new(), 0)
            self._open[name] = (database, users + 1)
            return database

    def release(self, name: str) -> None:
        with self._lock:
            database, users = self._open[name]
            if users == 1:
                del self._open[name]
                database.close()
            else:
                self._open[name] = (database, users - 1)

    @staticmethod
    def _new() -> SQLiteDatabase:
        return SQLiteDatabase(
            sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        )


_shared_memory = _SharedMemory()


class MemoryDatabase(ProjectionDatabase):
    """The read models of a memory:// log: private, or shared by its name."""

    dialect: Dialect = "sqlite"

    def __init__(self, name: str) -> None:
        self._name = name
        self._database = _shared_memory.acquire(name) if name else _SharedMemory._new()
        self._closed = False

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.write()

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.read()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._name:
            _shared_memory.release(self._name)
        else:
            self._database.close()


class PostgresDatabase(ProjectionDatabase):
    """A psycopg pool on the log's database and schema; row locks order writers.

    Its connections carry the URL's statement, lock and idle-in-transaction
    timeouts, like the event store's: a wait on a row lock, a slow statement or a
    transaction left open past its bound ends in StorageUnavailable.
    """

    dialect: Dialect = "postgresql"

    def __init__(self, env: dict[str, str]) -> None:
        schema = env.get("POSTGRES_SCHEMA", "public") or "public"
        self._pool = psycopg_pool.ConnectionPool(
            kwargs={
                "host": env["POSTGRES_HOST"],
                "port": env["POSTGRES_PORT"],
                "dbname": env["POSTGRES_DBNAME"],
                "user": env["POSTGRES_USER"],
                "password": env["POSTGRES_PASSWORD"],
                "connect_timeout": int(env["POSTGRES_CONNECT_TIMEOUT"]),
                "options": f"-c search_path={schema}",
            },
            min_size=1,
            max_size=int(env["POSTGRES_POOL_SIZE"]) + int(env["POSTGRES_MAX_OVERFLOW"]),
            timeout=float(env["POSTGRES_CONNECT_TIMEOUT"]),
            check=psycopg_pool.ConnectionPool.check_connection,
            configure=functools.partial(apply_bounds, bounds=postgres_bounds(env)),
            open=False,
        )
        with _storage_errors("open the read-model pool"):
            self._pool.open(wait=True, timeout=float(env["POSTGRES_CONNECT_TIMEOUT"]))

    @contextlib.contextmanager
    def _transaction(self, setup: str | None, action: str) -> Iterator[Cursor]:
        with (
            _storage_errors(action),
            self._pool.connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            if setup:
                cursor.execute(setup)
            yield Cursor(cursor, "postgresql")

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction(None, "update read models")

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
            "read read models",
        )

    def close(self) -> None:
        self._pool.close()


def open_database(settings: Settings) -> ProjectionDatabase:
    """The read-model database of the log that `settings` name."""
    env = settings.env
    if settings.backend == "sqlite":
        return SQLiteDatabase.open_file(
            env["SQLITE_DBNAME"], float(env["SQLITE_LOCK_TIMEOUT"])
        )
    if settings.backend == "postgresql":
        return PostgresDatabase(env)
    return MemoryDatabase(env["MEMORY_NAME"])


class RefreshedReads(ProjectionDatabase):
    """A database whose reads first make sure the read models hold every committed
    event (inline mode: a writer killed before its catch-up leaves no stale reads).

    `lagging(cur)` says, inside the read's transaction, which head the read models
    are behind (None when current); the read then catches up to it and reads anew.
    """

    def __init__(
        self,
        database: ProjectionDatabase,
        lagging: Callable[[Cursor], int | None],
        catch_up: Callable[[int], object],
    ) -> None:
        self.dialect = database.dialect
        self._database = database
        self._lagging = lagging
        self._catch_up = catch_up

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.write()

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._database.read() as cur:
            head = self._lagging(cur)
            if head is None:
                yield cur
                return
        self._catch_up(head)
        with self._database.read() as cur:
            yield cur

    def close(self) -> None:
        self._database.close()
