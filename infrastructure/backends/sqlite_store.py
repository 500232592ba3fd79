"""eventsourcing's SQLite factory and log recorder, as sessiontrail needs them.

- The busy timeout in fractional seconds: eventsourcing reads SQLITE_LOCK_TIMEOUT
  as whole seconds, while sqlite3 waits any fraction, so
  `sqlite:///chats.db?lock_timeout=0.3` waits 0.3 s for another writer's lock.
- Connections keep their prepared statements (eventsourcing's keep one), and
  zero the pages they free (`secure_delete`, as the read models' connection).
  Appends have a connection of their own, outside the pool's checkout.
- An append can run more SQL in its own transaction (`within`): an inline write
  commits its read models' rows with its events, in one durable commit.
- Appends that continue a stream insert their first record only if the record
  before it is still stored with the chain value it was linked to: a writer that
  read the session before a purge cannot bring it back. The check is part of the
  INSERT (one statement under the write lock, no read before the write).
- An append of sealed content inserts its first record only if each key it
  was sealed with is in the key table, in the same INSERT (which takes the
  write lock an erasure's delete of a key needs too): else KeyDestroyed, and
  nothing is stored.
- Purges: the streams' records and snapshots deleted with `secure_delete` (the
  freed bytes are zeroed) and the purge's record inserted, in one transaction
  that takes the write lock as it begins, so it waits for other writers as an
  append does.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
    IntegrityError,
    InterfaceError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTransaction,
)
from eventsourcing.utils import Environment, EnvType

from ..chain import MARK, predecessors
from ..user_keys import KEYS_TABLE, Sealed, check_kept

logger = logging.getLogger(__name__)

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
        `within` runs in it after the inserts. Whatever it raises rolls all back.

        On the pool's appending connection (see `Pool.appending`), in
        eventsourcing's transaction (which maps the driver's errors): every save
        comes here, so no pool checkout and no generator context managers. One
        record and nothing `within` is one INSERT, its own transaction (see
        `_Statement`)."""
        pool = self.datastore.pool
        assert isinstance(pool, Pool)
        connection = pool.appending()
        alone = within is None and len(stored_events) == 1
        transaction = _Statement if alone else SQLiteTransaction
        try:
            with transaction(connection, commit=True) as cursor:
                try:
                    ids = self._insert_events(cursor, stored_events, **kwargs)
                    if within is not None:
                        within(cursor, [int(ident) for ident in ids or ()])
                finally:
                    cursor.sqlite_cursor.close()
            return ids
        finally:
            pool.appended()


class Pool(SQLiteConnectionPool):
    """eventsourcing's pool of connections to a file in WAL mode (the backend
    switched it), each keeping its prepared statements and zeroing freed pages;
    and one more connection of its own for appends (`appending`)."""

    def __init__(self, *, db_name: str, lock_timeout: float | None) -> None:
        """`lock_timeout` in seconds, any fraction (eventsourcing's: whole ones)."""
        super().__init__(db_name=db_name, lock_timeout=lock_timeout)  # type: ignore[arg-type]
        self._appender: SQLiteConnection | None = None
        self._appending = threading.Lock()
        self._handover = threading.Lock()  # the appending lock's release vs close
        self._closing = False

    @property
    def lock_wait(self) -> float:
        """Seconds any wait for the file's write lock lasts: the URL's lock
        timeout, else sqlite3's default (every wait here has one bound)."""
        return self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT

    def appending(self, timeout: float | None = None) -> SQLiteConnection:
        """The connection appends use, one at a time (call `appended` after).

        Appends are every save, and the pool's checkout and return cost more
        than the insert; other writers meet this connection at SQLite's write
        lock (WAL: readers are never blocked), as another process's would. A
        thread waits for it at most `timeout` seconds (None: the pool's timeout,
        as for the pool's writer connection), then ConnectionUnavailableError,
        a storage error."""
        wait = self.pool_timeout if timeout is None else timeout
        if not self._appending.acquire(timeout=wait):
            raise ConnectionUnavailableError(
                "timed out waiting for the connection appends use"
            )
        try:
            if self.closed:
                raise ConnectionPoolClosedError("the log is closed")
            if self._appender is None:
                self._appender = self._create_connection()
        except BaseException:
            self._appending.release()
            raise
        return self._appender

    def appended(self) -> None:
        """Let the next append have the appending connection; closed first when
        the pool was closed while this append ran."""
        with self._handover:
            if self._closing:
                self._close_appender()
            self._appending.release()

    def close(self) -> None:
        """Close the appending connection and the pool under the appending lock:
        an append queued for it then finds the pool closed, and opens nothing.

        The lock is waited for at most the lock timeout, as every other wait: an
        append still running then keeps its connection, which it closes as it
        ends (logged, naming the file), and the pool closes without it."""
        waited = self.lock_wait
        if self._appending.acquire(timeout=waited):
            try:
                self._close_appender()
                super().close()
            finally:
                self._appending.release()
            return
        with self._handover:
            self._closing = True
            if self._appending.acquire(blocking=False):  # it ended meanwhile
                self._close_appender()
                self._appending.release()
        logger.warning(
            "closing %s: an append still running after %s s keeps its "
            "connection open until it ends",
            self.db_name,
            waited,
        )
        super().close()

    def _close_appender(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None

    def _create_connection(self) -> SQLiteConnection:
        try:
            connection = sqlite3.connect(
                self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # transactions begin explicitly
                cached_statements=STATEMENTS_KEPT,
                timeout=self.lock_wait,
            )
            connection.execute("PRAGMA secure_delete = ON")
        except (sqlite3.Error, TypeError) as exc:
            raise InterfaceError(exc) from exc
        connection.row_factory = sqlite3.Row  # what eventsourcing's reads expect
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class BoundedWriteLock:
    """The file's in-process write lock, waited for at most the busy timeout
    (the URL's `lock_timeout`), as SQLite's own lock is: it stands in for that
    lock between the threads of one process.

    A thread whose append is stuck holds it: another thread's save then fails
    as a storage error (ConnectionUnavailableError) after that timeout, with
    nothing written, not after the stuck one ends."""

    __slots__ = ("_lock", "_pool")

    def __init__(self, lock: threading.RLock, pool: Pool) -> None:
        self._lock = lock
        self._pool = pool

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=self._pool.lock_wait):
            raise ConnectionUnavailableError(
                "timed out waiting for another thread's write to the file"
            )

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class GuardedRecorder(LogRecorder):
    """eventsourcing's SQLite log recorder with the stale-writer guard and purges."""

    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name)
        table = self.events_table_name
        self._insert_if = f"INSERT INTO {table} SELECT ?, ?, ?, ? WHERE "
        self._follows = (
            f"EXISTS (SELECT 1 FROM {table} WHERE originator_id = ? AND "
            "originator_version = ? AND "
            "(substr(state, 1, 2) <> ? OR substr(state, 3, 32) = ?))"
        )

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        sealed: Sealed | None = None,
        **_: Any,
    ) -> Sequence[int] | None:
        """Insert each record; one continuing a stream only if the record before
        it is still there with its chain value, and the first only if each key
        `sealed` names is in the key table (its INSERT takes the write lock,
        which an erasure's delete of a key needs too, held to the commit)."""
        needed = predecessors(stored_events)
        keys = [part for pair in (sealed or {}).items() for part in pair]
        returning: list[int] = []
        for record in stored_events:
            stream = _stream(record)
            row = (stream.hex, record.originator_version, record.topic, record.state)
            before = record.originator_version - 1
            previous = needed.get((stream, record.originator_version))
            guards: list[str] = []
            params: list[object] = list(row)
            if previous is not None:
                guards.append(self._follows)
                params += [row[0], before, MARK, previous]
            if keys and not returning:
                if len(keys) == 2:  # one user's content: the usual save
                    guards.append(_KEY_KEPT)
                    params += keys
                else:  # one condition whatever the count (an import of many)
                    guards.append(_KEYS_KEPT)
                    params += [json.dumps(list((sealed or {}).items())), len(keys) // 2]
            if not guards:
                c.execute(self.insert_events_statement, row)
            else:
                c.execute(self._insert_if + " AND ".join(guards), params)
                if c.sqlite_cursor.rowcount != 1:
                    if keys and not returning:
                        _check_keys(c, sealed or {})
                    raise IntegrityError(f"stream {stream}: version {before} is gone")
            returning.append(c.lastrowid)
        return returning

    def purge(
        self,
        expected: Mapping[UUID, int],
        snapshots_table: str | None,
        records: Sequence[StoredEvent],
    ) -> tuple[dict[UUID, int], list[int]]:
        """Delete the streams (each must end at its expected version) and their
        snapshots, and insert `records`, in one transaction; (deleted, ids).

        The records get ids after the highest before the delete: SQLite would
        otherwise reuse the ids of deleted records at the log's end, ids which
        the read models have already passed."""
        deleted: dict[UUID, int] = {}
        with self._writing() as c:
            c.execute("PRAGMA secure_delete = ON")  # per connection: zero freed bytes
            c.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {self.events_table_name}")
            top = int(c.fetchone()[0])
            for stream, last in expected.items():
                c.execute(
                    f"DELETE FROM {self.events_table_name} WHERE originator_id = ? "
                    "RETURNING originator_version",
                    (stream.hex,),
                )
                versions = [row[0] for row in c.fetchall()]
                if max(versions, default=0) != last:
                    raise IntegrityError(f"stream {stream} moved on")
                deleted[stream] = len(versions)
                if snapshots_table is not None:
                    c.execute(
                        f"DELETE FROM {snapshots_table} WHERE originator_id = ?",
                        (stream.hex,),
                    )
            ids = list(range(top + 1, top + 1 + len(records)))
            c.executemany(
                f"INSERT INTO {self.events_table_name} (rowid, originator_id, "
                "originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
                [
                    (ident, *_row(record))
                    for ident, record in zip(ids, records, strict=True)
                ],
            )
        return deleted, ids

    @contextmanager
    def _writing(self) -> Iterator[SQLiteCursor]:
        """A transaction that takes the write lock as it begins (BEGIN IMMEDIATE),
        waiting for it up to the busy timeout. One that reads first (BEGIN) and
        then writes cannot wait: SQLite refuses its upgrade at once when another
        writer holds the lock or committed since its read."""
        with (
            self.datastore.get_connection(commit=True) as connection,
            _Immediate(connection, commit=True) as cursor,
            cursor,
        ):
            yield cursor


class _Immediate(SQLiteTransaction):
    """eventsourcing's SQLite transaction, begun with the write lock taken."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class _Statement(SQLiteTransaction):
    """eventsourcing's SQLite transaction (errors mapped, rolled back on failure)
    around one statement that is its own transaction: SQLite commits it as it
    ends, as durably as a COMMIT (the connection's synchronous FULL), so no
    BEGIN is sent; the COMMIT that follows finds no transaction and does nothing."""

    def __enter__(self) -> SQLiteCursor:
        return self.connection.cursor()


_KEY_KEPT = f"EXISTS (SELECT 1 FROM {KEYS_TABLE} WHERE user_id = ? AND key_id = ?)"
_KEYS_KEPT = (
    f"(SELECT COUNT(*) FROM {KEYS_TABLE} JOIN json_each(?) AS kept ON "
    "user_id = json_extract(kept.value, '$[0]') AND "
    "key_id = json_extract(kept.value, '$[1]')) = ?"
)
"""Each (user, key id) pair of a JSON list still stored: one condition for any
number of users (one EXISTS each would pass SQLite's expression depth limit)."""


def _check_keys(cursor: SQLiteCursor, sealed: Sealed) -> None:
    """KeyDestroyed if a key `sealed` names is not in the key table (why a
    guarded INSERT inserted nothing, if not a purge)."""

    def stored(user_id: str, key_id: str) -> bool:
        cursor.execute(f"SELECT {_KEY_KEPT}", (user_id, key_id))
        return bool(cursor.fetchone()[0])

    check_kept(sealed, stored)


def _stream(record: StoredEvent) -> UUID:
    """A record's stream (a UUID already, when the store made the record)."""
    stream = record.originator_id
    return stream if isinstance(stream, UUID) else UUID(str(stream))


def _row(record: StoredEvent) -> tuple[str, int, str, bytes]:
    """A record's columns as the events table stores them (ids as 32 hex digits)."""
    return _stream(record).hex, record.originator_version, record.topic, record.state


class Factory(SQLiteFactory):
    """eventsourcing's SQLite factory; its connections wait the exact busy timeout."""

    application_recorder_class = GuardedRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        exact = self.env.get(BUSY_TIMEOUT)
        old = self.datastore.pool  # unused yet: it opens connections on demand
        # sqlite3.connect takes float seconds; eventsourcing's reads whole ones.
        self.datastore.pool = Pool(
            db_name=old.db_name,
            lock_timeout=float(exact) if exact else old.lock_timeout,
        )
