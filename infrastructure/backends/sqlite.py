"""SQLite: one file holds the events, the users' keys and the read models.

- Opening: eventsourcing switches a new file to WAL on its first connection, and
  that switch fails at once with "database is locked" when another process
  switches or writes at the same moment. The file is switched here first, waiting
  that out.
- Writes: threads of one process take one lock per file (`file_write_lock`)
  around appends, key writes and read-model updates, so they queue fairly here
  instead of polling SQLite's busy handler against each other (which can starve
  a writer for seconds); other processes meet at SQLite's own lock.
- Reads of the read models: on read-only connections of their own
  (`ReadConnections`), never behind that lock: WAL lets them read the last
  commit while a write runs.
- Compaction: freed pages are zeroed (`secure_delete`), and truncating the
  write-ahead log makes the erased bytes leave the files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    StoredEvent,
)
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteCursor

from ...domain.errors import InvalidInput, StorageUnavailable
from ..log_position import LogPosition
from ..settings import Options, Settings, checked_options
from ..sql import Cursor, ProjectionDatabase, sql_errors
from ..user_keys import KEYS_TABLE, Sealed
from .base import (
    STREAMS_PER_QUERY,
    Backend,
    InTransaction,
    NearReads,
    Positioned,
    Purged,
)
from .sqlite_read_pool import ReadConnections
from .sqlite_reads import AppendingReads, data_version
from .sqlite_store import (
    BUSY_TIMEOUT,
    BoundedWriteLock,
    Factory,
    GuardedRecorder,
    LogRecorder,
    Pool,
)

logger = logging.getLogger(__name__)

_OPTIONS: Options = {"lock_timeout": (BUSY_TIMEOUT, "seconds")}

_file_guard = threading.Lock()
_file_locks: dict[str, threading.RLock] = {}


def file_write_lock(path: str) -> threading.RLock:
    """The one in-process lock for writes to a SQLite file, shared by every trail."""
    key = os.path.realpath(path)
    with _file_guard:
        return _file_locks.setdefault(key, threading.RLock())


class SQLiteBackend(Backend):
    """A log in one SQLite file: `sqlite:///relative.db`, `sqlite:////abs.db`."""

    name = "sqlite"
    schemes = ("sqlite",)

    @classmethod
    def parse(cls, url: str) -> Settings:
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise InvalidInput(
                f"url: {url!r} names no file; "
                "use sqlite:///relative.db or sqlite:////abs.db"
            )
        env = {
            "PERSISTENCE_MODULE": f"{Factory.__module__}:Factory",
            "SQLITE_DBNAME": unquote(parts.path[1:]),
            BUSY_TIMEOUT: "10",
            **checked_options(url, _OPTIONS),
        }
        # eventsourcing reads whole seconds; its factory here sets the exact ones.
        env["SQLITE_LOCK_TIMEOUT"] = str(math.ceil(float(env[BUSY_TIMEOUT])))
        return Settings(url, cls.name, env)

    @property
    def path(self) -> str:
        return self.env["SQLITE_DBNAME"]

    @property
    def timeout(self) -> float:
        """Seconds a write waits for another process's lock on the file."""
        return float(self.env[BUSY_TIMEOUT])

    def lock_timeout(self) -> float:
        return self.timeout

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        _switch_to_wal(self.path, self.timeout)
        yield

    def absent(self) -> str | None:
        return (
            None if os.path.exists(self.path) else f"no SQLite database at {self.path}"
        )

    def write_lock(self, recorder: AggregateRecorder) -> BoundedWriteLock:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        pool = recorder.datastore.pool
        assert isinstance(pool, Pool)
        return BoundedWriteLock(file_write_lock(self.path), pool)

    def key_table(self, recorder: AggregateRecorder) -> SQLiteKeys:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        return SQLiteKeys(recorder, self.write_lock(recorder))

    def stream_ids(
        self, recorder: AggregateRecorder, after: UUID | None, limit: int
    ) -> list[UUID]:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT DISTINCT originator_id FROM {recorder.events_table_name} "
                "WHERE originator_id > ? ORDER BY originator_id LIMIT ?",
                ("" if after is None else after.hex, limit),  # stored as 32 hex digits
            )
            return [UUID(row[0]) for row in cursor.fetchall()]

    def insert_within(
        self,
        recorder: ApplicationRecorder,
        records: Sequence[StoredEvent],
        within: InTransaction,
        sealed: Sealed,
    ) -> list[LogPosition]:
        """The read models are in the log's file: `within` writes their rows on
        the append's own connection, so they commit with the events (one commit,
        fsynced) and no other connection's page cache goes stale."""
        assert isinstance(recorder, LogRecorder)

        def run(cursor: SQLiteCursor, ids: Sequence[int]) -> None:
            raw = cursor.sqlite_cursor.connection.cursor()
            raw.row_factory = None  # plain tuples, as on the read models' connection
            within(Cursor(raw, "sqlite"), [LogPosition(0, ident) for ident in ids])

        ids = recorder.insert_events(records, within=run, sealed=sealed) or ()
        return [LogPosition(0, ident) for ident in ids]

    def prune_snapshots(
        self, recorder: AggregateRecorder, stream: UUID, version: int
    ) -> None:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"DELETE FROM {recorder.events_table_name} "
                "WHERE originator_id = ? AND originator_version < ?",
                (stream.hex, version),  # stored as 32 hex digits
            )

    def stream_notifications(
        self, recorder: ApplicationRecorder, streams: Sequence[UUID], until: LogPosition
    ) -> Positioned:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        found: list[Notification] = []
        with recorder.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(streams), STREAMS_PER_QUERY):
                chunk = [stream.hex for stream in streams[start:][:STREAMS_PER_QUERY]]
                cursor.execute(
                    "SELECT rowid, originator_id, originator_version, topic, state "
                    f"FROM {recorder.events_table_name} WHERE originator_id IN "
                    f"({', '.join('?' * len(chunk))}) AND rowid <= ?",
                    (*chunk, until.notification_id),
                )
                found += [
                    Notification(
                        id=row[0],
                        originator_id=UUID(row[1]),
                        originator_version=row[2],
                        topic=row[3],
                        state=bytes(row[4]),
                    )
                    for row in cursor.fetchall()
                ]
        found.sort(key=lambda notification: notification.id)
        return [
            (LogPosition(0, notification.id), notification) for notification in found
        ]

    def purge(
        self,
        recorder: ApplicationRecorder,
        snapshots: AggregateRecorder | None,
        expected: Mapping[UUID, int],
        records: Sequence[StoredEvent],
    ) -> Purged:
        assert isinstance(recorder, GuardedRecorder)
        assert snapshots is None or isinstance(snapshots, SQLiteAggregateRecorder)
        table = None if snapshots is None else snapshots.events_table_name
        deleted, ids = recorder.purge(expected, table, records)
        return Purged(deleted, [LogPosition(0, ident) for ident in ids])

    def reads_near_appends(
        self, recorder: ApplicationRecorder, database: ProjectionDatabase
    ) -> NearReads:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        pool = recorder.datastore.pool
        assert isinstance(pool, Pool)
        return AppendingReads(pool, database), data_version

    def open_read_models(self, recorder: ApplicationRecorder) -> SQLiteDatabase:
        assert isinstance(recorder, SQLiteAggregateRecorder)
        return SQLiteDatabase.open_file(
            self.path,
            self.timeout,
            log_after=(
                f"EXISTS (SELECT 1 FROM {recorder.events_table_name} "
                "WHERE rowid > (SELECT p.n FROM ({position}) AS p))"
            ),
        )


def _switch_to_wal(path: str, timeout: float) -> None:
    """Put the file in WAL mode (a no-op once it is), retrying while it is locked."""
    deadline = time.monotonic() + timeout
    while True:
        connection = sqlite3.connect(path, timeout=timeout)
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch {path} to WAL mode")
        time.sleep(random.uniform(0.005, 0.05))


class SQLiteKeys:
    """The key table in the SQLite file; deletes overwrite the freed bytes."""

    shredded = True  # `secure_delete`: the freed bytes are zeroed at once

    def __init__(self, recorder: SQLiteAggregateRecorder, lock: Any) -> None:
        self._datastore = recorder.datastore
        self._lock = lock
        with self._lock, self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} "
                "(user_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
                "wrapped BLOB NOT NULL)"
            )

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT key_id, wrapped FROM {KEYS_TABLE} WHERE user_id = ?",
                (user_id,),
            )
            row = cursor.fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        with self._lock, self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {KEYS_TABLE} (user_id, key_id, wrapped) "
                "VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
                (user_id, key_id, wrapped),
            )

    def delete(self, user_id: str) -> bool:
        with self._lock, self._datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA secure_delete = ON")
            cursor.execute(f"DELETE FROM {KEYS_TABLE} WHERE user_id = ?", (user_id,))
            cursor.execute("SELECT changes()")
            row = cursor.fetchone()
            return bool(row and row[0])


class SQLiteDatabase(ProjectionDatabase):
    """One writing connection per open trail, serialised in process by a lock;
    a file's reads on read-only connections of their own.

    `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two processes never
    apply the same notifications; the busy timeout waits out the other one.
    """

    dialect = "sqlite"

    def __init__(
        self,
        connection: sqlite3.Connection,
        lock: threading.RLock | None = None,
        log_after: str | None = None,
        timeout: float | None = None,
        reads: ReadConnections | None = None,
    ) -> None:
        """`lock` serialises this connection; file databases share the file's
        lock, waited for at most `timeout` seconds by writes (the busy timeout,
        as SQLite's own lock: a thread stuck in an append holds it), None: no
        bound (a private database no other thread writes). `reads` serve the
        reads; None: they take the lock and this connection (`:memory:`, which
        no other connection can open)."""
        self._connection = connection
        self._lock = lock or threading.RLock()
        self.log_after = log_after
        self._timeout = -1.0 if timeout is None else timeout
        self._reads = reads

    @classmethod
    def open_file(
        cls, path: str, timeout: float, log_after: str | None = None
    ) -> SQLiteDatabase:
        with sql_errors(f"open {path}"):
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
        return cls(
            connection,
            file_write_lock(path),
            log_after,
            timeout,
            ReadConnections(path, timeout),
        )

    @classmethod
    def in_memory(cls) -> SQLiteDatabase:
        """A private in-memory database (memory:// logs keep read models in one)."""
        return cls(
            sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        )

    def compact(self) -> bool:
        """Checkpoint the write-ahead log and truncate it to nothing; False if a
        reader elsewhere still needs it (it then shrinks at a later checkpoint)."""
        with self._lock, sql_errors("checkpoint the write-ahead log"):
            busy, _, _ = self._connection.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
        return bool(busy == 0)

    def rewrite(self, full: bool) -> tuple[int, int]:
        """Merge the search indexes (FTS5 keeps a deleted row's words in its
        segments until a merge), then VACUUM: the file is rewritten without
        free pages or stale copies of deleted rows, holding the write lock
        throughout (readers go on), and the write-ahead log truncated. `full`
        changes nothing here: VACUUM is always the whole file."""
        with self._lock, sql_errors("compact the database"):
            before = self._size()
            words = self._connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'"
            ).fetchall()
            for (table,) in words:
                self._connection.execute(
                    f"INSERT INTO {table} ({table}) VALUES ('optimize')"
                )
            self._connection.execute("VACUUM")
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return before, self._size()

    def _size(self) -> int:
        """Bytes of the main file and its write-ahead log."""
        (pages,) = self._connection.execute("PRAGMA page_count").fetchone()
        (size,) = self._connection.execute("PRAGMA page_size").fetchone()
        (name,) = self._connection.execute(
            "SELECT file FROM pragma_database_list WHERE name = 'main'"
        ).fetchone()
        wal = f"{name}-wal"
        return int(pages * size) + (os.path.getsize(wal) if os.path.exists(wal) else 0)

    @contextlib.contextmanager
    def _transaction(self, begin: str, action: str) -> Iterator[Cursor]:
        if not self._lock.acquire(timeout=self._timeout):
            raise StorageUnavailable(
                f"{action}: timed out waiting for another thread's write to the file"
            )
        try:
            with sql_errors(action):
                cursor = self._connection.cursor()
                cursor.execute(begin)
                try:
                    yield Cursor(cursor, "sqlite")
                except BaseException:
                    self._connection.rollback()
                    raise
                self._connection.commit()
        finally:
            self._lock.release()

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction("BEGIN IMMEDIATE", "update read models")

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        if self._reads is None:
            return self._transaction("BEGIN", "read read models")
        return self._reads.read()

    def close(self) -> None:
        """Close the reading connections (a read still running closes its own as
        it ends), then the writing one under the file's lock, waited for as
        writes wait: a thread's write still holding it after that leaves the
        connection open (logged; closed when the database object is dropped)."""
        if self._reads is not None:
            self._reads.close()
        if not self._lock.acquire(timeout=self._timeout):
            logger.warning(
                "closing the read models: a write still running after %s s holds "
                "the file; their connection is left open",
                self._timeout,
            )
            return
        try:
            self._connection.close()
        finally:
            self._lock.release()
