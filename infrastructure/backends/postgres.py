"""PostgreSQL: the events (eventsourcing's recorder, changed in `postgres_store.py`),
the users' keys and the read models in one database and schema.

- The log in order: rows are read in (transaction id, notification id) order, by
  followers only below the oldest running transaction (../log_position.py); new
  events are announced by a NOTIFY after each insert's commit, heard through one
  listening connection per process (../wakeups.py).

- Opening: concurrent CREATE ... IF NOT EXISTS fails ("tuple concurrently
  updated"), so a session-level advisory lock lets one process create the tables
  while the others wait, then find them there.
- Every connection, the read models' pool and that lock's included, carries the
  URL's statement, lock and idle-in-transaction timeouts (`postgres_bounds`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Composed, Identifier

from ...domain.errors import InvalidInput, StorageUnavailable
from ..log_position import LogPosition
from ..settings import Options, Settings, checked_options, redacted
from ..sql import Cursor, ProjectionDatabase, sql_errors
from ..user_keys import KEYS_TABLE, Sealed
from ..wakeups import Wakeups
from .base import Backend, Positioned, Purged
from .postgres_checks import RecentUseChecks
from .postgres_cursor import HeldWritesCursor
from .postgres_prepared import (
    SWITCH,
    prepares_statements,
    resent_once,
    unprepared_by_psycopg,
)
from .postgres_purge import PLACES_SUFFIX, purge, purged_places
from .postgres_store import EventsRecorder, apply_bounds, postgres_bounds

logger = logging.getLogger(__name__)
Read = TypeVar("Read")

ADVISORY_KEY = 0x5E55_7A11  # "sesstail": any fixed 64-bit key of our own
FACTORY = "sessiontrail.infrastructure.backends.postgres_store:Factory"

_OPTIONS: Options = {
    "lock_timeout": ("POSTGRES_LOCK_TIMEOUT", "seconds"),
    "statement_timeout": ("POSTGRES_STATEMENT_TIMEOUT", "seconds"),
    "idle_in_transaction_timeout": (
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
        "seconds",
    ),
    "connect_timeout": ("POSTGRES_CONNECT_TIMEOUT", "whole seconds"),
    "pool_size": ("POSTGRES_POOL_SIZE", "count"),
    "max_overflow": ("POSTGRES_MAX_OVERFLOW", "count"),
    "schema": ("POSTGRES_SCHEMA", "text"),
    "host": ("POSTGRES_HOST", "text"),
    "prepared_statements": (SWITCH, "on or off"),
}
_DEFAULTS = {
    "POSTGRES_LOCK_TIMEOUT": "5",
    "POSTGRES_STATEMENT_TIMEOUT": "30",
    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
    "POSTGRES_CONNECT_TIMEOUT": "10",
    "POSTGRES_POOL_SIZE": "5",
    "POSTGRES_MAX_OVERFLOW": "10",
    "POSTGRES_PRE_PING": "y",
    SWITCH: "on",
}


class PostgresBackend(Backend):
    """A log in a PostgreSQL database: `postgresql://user:pw@host:port/db?...`."""

    name = "postgresql"
    schemes = ("postgresql", "postgres")

    @classmethod
    def parse(cls, url: str) -> Settings:
        parts, shown = urlsplit(url), redacted(url)
        try:
            port = parts.port or 5432
        except ValueError:
            raise InvalidInput(f"url: {shown!r} has an invalid port") from None
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise InvalidInput(f"url: {shown!r} names no database; add /DBNAME")
        options = checked_options(url, _OPTIONS)
        env = {
            "PERSISTENCE_MODULE": FACTORY,
            "POSTGRES_DBNAME": database,
            "POSTGRES_HOST": unquote(parts.hostname or "localhost"),
            "POSTGRES_PORT": str(port),
            "POSTGRES_USER": unquote(
                parts.username or os.environ.get("USER", "postgres")
            ),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            **_DEFAULTS,
            **options,
        }
        return Settings(shown, cls.name, env)

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        """Hold the advisory lock while eventsourcing creates the tables."""
        with psycopg.connect(**_connecting(self.env), autocommit=True) as connection:
            # Another process may be opening the whole log first: wait for it as
            # long as a statement may run (statement_timeout), not as briefly as
            # for a row lock (lock_timeout 0 leaves the statement's bound alone).
            apply_bounds(connection, {**postgres_bounds(self.env), "lock_timeout": 0})
            connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
            yield

    def key_table(self, recorder: AggregateRecorder) -> PostgresKeys:
        assert isinstance(recorder, PostgresAggregateRecorder)
        return PostgresKeys(recorder)

    def stream_ids(
        self, recorder: AggregateRecorder, after: UUID | None, limit: int
    ) -> list[UUID]:
        assert isinstance(recorder, PostgresAggregateRecorder)
        statement = SQL(
            "SELECT DISTINCT originator_id FROM {table} "
            "WHERE originator_id > %s ORDER BY originator_id LIMIT %s"
        ).format(table=_table(recorder))
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (after or UUID(int=0), limit))
            return [row["originator_id"] for row in cursor.fetchall()]

    def prune_snapshots(
        self, recorder: AggregateRecorder, stream: UUID, version: int
    ) -> None:
        assert isinstance(recorder, PostgresAggregateRecorder)
        statement = SQL(
            "DELETE FROM {table} WHERE originator_id = %s AND originator_version < %s"
        ).format(table=_table(recorder))
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement, (stream, version))

    def wait_bound(self) -> float:
        """The lock wait bound: waiting for older transactions is waiting for
        their row locks to go, in effect."""
        return self.lock_timeout()

    def lock_timeout(self) -> float:
        return float(self.env["POSTGRES_LOCK_TIMEOUT"])

    def after_opening(self, recorder: ApplicationRecorder) -> None:
        """Index a log from before transaction ids (outside the opening lock: the
        index is built CONCURRENTLY, which waits for every older snapshot, and a
        process waiting for that lock holds one)."""
        _events(recorder).ensure_order_index()

    def insert(
        self,
        recorder: ApplicationRecorder,
        records: Sequence[StoredEvent],
        sealed: Sealed,
    ) -> list[LogPosition]:
        events = _events(recorder)
        ids = events.insert_events(records, sealed=sealed) or ()
        positions = events.take_positions()
        if [position.notification_id for position in positions] != list(ids):
            raise StorageUnavailable("insert events: the positions were lost")
        return positions

    def notifications(
        self,
        recorder: ApplicationRecorder,
        after: LogPosition,
        limit: int,
        topics: Sequence[str] = (),
        *,
        settled: bool = True,
    ) -> Positioned:
        events = _events(recorder)
        return _read_afresh(
            lambda: events.select_in_order(after, limit, topics, settled=settled)
        )

    def head_position(self, recorder: ApplicationRecorder) -> LogPosition:
        last: LogPosition = _read_afresh(_events(recorder).head_position)
        return last

    def pending(
        self,
        recorder: ApplicationRecorder,
        after: LogPosition,
        at_most: int | None = None,
    ) -> int:
        events = _events(recorder)
        count: int = _read_afresh(lambda: events.pending(after, at_most))
        return count

    def follows(
        self, recorder: ApplicationRecorder, before: LogPosition, first: LogPosition
    ) -> bool:
        events = _events(recorder)
        nothing_between: bool = _read_afresh(lambda: events.follows(before, first))
        return nothing_between

    def wakeups(self, recorder: ApplicationRecorder) -> Wakeups:
        events = _events(recorder)
        return Wakeups(lambda: events.listening_connection(), events.channel_name)

    def stream_notifications(
        self, recorder: ApplicationRecorder, streams: Sequence[UUID], until: LogPosition
    ) -> Positioned:
        events = _events(recorder)
        return _read_afresh(lambda: events.select_streams(streams, until))

    def sequence_numbers(
        self, recorder: ApplicationRecorder, positions: Sequence[LogPosition]
    ) -> list[int]:
        """A row with a transaction id is numbered after every row without one
        (their last number is their highest id) and every row with one before it,
        purged rows' places counted as rows (postgres_purge.py). One statement
        for all the positions: each counts only the rows since the position
        before it, and a running sum adds them up, so numbering a user's events
        reads the log's index once up to the last of them, not once per event."""
        numbers = {
            position: position.notification_id
            for position in positions
            if position.transaction_id == 0
        }
        counted = sorted(set(positions) - numbers.keys())
        if counted:
            found = self._counted(_events(recorder), counted)
            numbers.update(zip(counted, found, strict=True))
        return [numbers[position] for position in positions]

    @staticmethod
    def _counted(events: EventsRecorder, positions: Sequence[LogPosition]) -> list[int]:
        """The numbers of `positions` (each with a transaction id, in log order)."""
        statement = SQL(
            "WITH wanted AS (SELECT t, n, ord, "
            "COALESCE(lag(t) OVER (ORDER BY ord), '0'::xid8) AS after_t, "
            "COALESCE(lag(n) OVER (ORDER BY ord), 0) AS after_n "
            "FROM unnest(%(t)s::text[]::xid8[], %(n)s::bigint[]) "
            "WITH ORDINALITY AS wanted(t, n, ord)) "
            "SELECT GREATEST(({last} {table} {old}), ({last} {places} {old})) + "
            "SUM(({count} {table} {between}) + ({count} {places} {between})) "
            "OVER (ORDER BY ord) AS number FROM wanted ORDER BY ord"
        ).format(
            table=_table(events),
            places=events.places_table,
            last=SQL("SELECT COALESCE(MAX(notification_id), 0) FROM"),
            old=SQL("WHERE transaction_id = '0'::xid8"),
            count=SQL("SELECT COUNT(*) FROM"),
            between=SQL(
                "WHERE transaction_id > '0'::xid8 AND "
                "(transaction_id, notification_id) > (after_t, after_n) AND "
                "(transaction_id, notification_id) <= (t, n)"
            ),
        )
        with events.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                statement,
                {
                    "t": [str(position.transaction_id) for position in positions],
                    "n": [position.notification_id for position in positions],
                },
            )
            return [int(row["number"]) for row in cursor.fetchall()]

    def purged_places(
        self, recorder: ApplicationRecorder, after: LogPosition, until: LogPosition
    ) -> list[LogPosition]:
        places: list[LogPosition] = purged_places(_events(recorder), after, until)
        return places

    def purge(
        self,
        recorder: ApplicationRecorder,
        snapshots: AggregateRecorder | None,
        expected: Mapping[UUID, int],
        records: Sequence[StoredEvent],
    ) -> Purged:
        table = None
        if snapshots is not None:
            assert isinstance(snapshots, PostgresAggregateRecorder)
            table = _table(snapshots)
        deleted, positions = purge(_events(recorder), table, expected, records)
        return Purged(deleted, positions)

    def open_read_models(self, recorder: ApplicationRecorder) -> PostgresDatabase:
        events = _events(recorder)
        table = events.events_table_name
        return PostgresDatabase(
            self.env,
            events,
            log_after=(
                f"EXISTS (SELECT 1 FROM {table} WHERE (transaction_id, "
                "notification_id) > "
                "(SELECT p.t::text::xid8, p.n FROM ({position}) AS p))"
            ),
            # The position as two values computed once (not a join, whose rows
            # would need sorting): the rows come off the index in log order, so
            # a batch of a long backlog reads only its own rows.
            log_rows=(
                "WITH p AS MATERIALIZED ({position}) SELECT (SELECT t FROM p), "
                "(SELECT n FROM p), e.transaction_id::text::bigint, "
                "e.notification_id, e.originator_id, e.originator_version, e.topic, "
                f"e.state FROM {table} AS e WHERE (e.transaction_id, "
                "e.notification_id) > ((SELECT t FROM p)::text::xid8, "
                "(SELECT n FROM p)) AND e.transaction_id < "
                "pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY e.transaction_id, e.notification_id LIMIT ?"
            ),
            log_places=(
                "WITH p AS MATERIALIZED ({position}) SELECT "
                "g.transaction_id::text::bigint, g.notification_id FROM "
                f"{table}{PLACES_SUFFIX} AS g WHERE (g.transaction_id, "
                "g.notification_id) > ((SELECT t FROM p)::text::xid8, "
                "(SELECT n FROM p)) "
                "ORDER BY g.transaction_id, g.notification_id LIMIT ?"
            ),
        )


def _table(recorder: PostgresAggregateRecorder) -> Composed:
    """The recorder's table, qualified by its schema, for composed statements."""
    return SQL("{}.{}").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )


def _read_afresh(read: Callable[[], Read]) -> Read:
    """A read of the log that is all of its transaction, sent once more, afresh,
    if another process's change of the events table broke the statements it was
    prepared as (postgres_prepared.py): a rebuild or a worker reading the log a
    batch at a time goes on instead of failing there."""
    return resent_once(read, lambda: None)


def _events(recorder: ApplicationRecorder) -> EventsRecorder:
    """The recorder this backend's factory makes."""
    assert isinstance(recorder, EventsRecorder)
    return recorder


def _connecting(env: dict[str, str]) -> dict[str, Any]:
    """psycopg's connection arguments for the database the settings name."""
    return {
        "host": env["POSTGRES_HOST"],
        "port": env["POSTGRES_PORT"],
        "dbname": env["POSTGRES_DBNAME"],
        "user": env["POSTGRES_USER"],
        "password": env["POSTGRES_PASSWORD"],
        "connect_timeout": int(env["POSTGRES_CONNECT_TIMEOUT"]),
    }


class PostgresKeys:
    """The key table in the events schema; a delete is followed by VACUUM FULL,
    which rewrites the table so the dead row's bytes leave the data files."""

    def __init__(self, recorder: PostgresAggregateRecorder) -> None:
        self._datastore = recorder.datastore
        self._table = SQL("{}.{}").format(
            Identifier(self._datastore.schema), Identifier(KEYS_TABLE)
        )
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} "
                    "(user_id text PRIMARY KEY, key_id text NOT NULL, "
                    "wrapped bytea NOT NULL)"
                ).format(self._table)
            )

    def get(self, user_id: str) -> tuple[str, bytes] | None:
        with self._datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL("SELECT key_id, wrapped FROM {} WHERE user_id = %s").format(
                    self._table
                ),
                (user_id,),
            )
            row = cursor.fetchone()
        return None if row is None else (row["key_id"], bytes(row["wrapped"]))

    def add(self, user_id: str, key_id: str, wrapped: bytes) -> None:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "INSERT INTO {} (user_id, key_id, wrapped) VALUES (%s, %s, %s) "
                    "ON CONFLICT (user_id) DO NOTHING"
                ).format(self._table),
                (user_id, key_id, wrapped),
            )

    shredded = True
    """Whether the last delete's VACUUM FULL ran: else the deleted key's bytes
    may stay in the table's files until a later one."""

    def delete(self, user_id: str) -> bool:
        """Delete the user's key, then VACUUM FULL the table. The key is deleted
        even if the VACUUM cannot run: its exclusive lock waits for every
        transaction holding the table (a save's INSERT locks the keys it sealed
        with) and gives up after the lock timeout; `shredded` says so."""
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL("DELETE FROM {} WHERE user_id = %s").format(self._table), (user_id,)
            )
            deleted = bool(cursor.rowcount)
        try:
            with self._datastore.get_connection() as connection:
                previous = connection.autocommit  # eventsourcing's pool: already True
                connection.autocommit = True  # VACUUM cannot run inside a transaction
                try:
                    connection.execute(SQL("VACUUM FULL {}").format(self._table))
                finally:
                    connection.autocommit = previous
        except (psycopg.Error, PersistenceError):
            logger.warning("the key table was not rewritten", exc_info=True)
            self.shredded = False
        else:
            self.shredded = True
        return deleted


APPLIER = "hashtext('sessiontrail read models'), hashtext(current_schema())"
"""The advisory lock one applier of a schema's log holds (two int4 keys)."""
NO_FLUSH = "set_config('synchronous_commit', 'off', true)"
"""`write()`'s setting, in the same statement as the applier lock."""


def autocommitting(connection: psycopg.Connection[Any], bounds: dict[str, int]) -> None:
    """A read-model connection: bounded, and in autocommit mode, as its
    transactions begin and end with statements of their own; its statements
    are prepared by its cursors (postgres_prepared.py), not by psycopg."""
    connection.autocommit = True
    unprepared_by_psycopg(connection)
    apply_bounds(connection, bounds)


class PostgresDatabase(ProjectionDatabase):
    """A psycopg pool on the log's database and schema; row locks order writers.

    Its connections carry the URL's statement, lock and idle-in-transaction
    timeouts, like the event store's: a wait on a row lock, a slow statement or a
    transaction left open past its bound ends in StorageUnavailable.
    """

    dialect = "postgresql"

    def __init__(
        self,
        env: dict[str, str],
        events: EventsRecorder,
        log_after: str | None,
        log_rows: str | None,
        log_places: str | None,
    ) -> None:
        schema = env.get("POSTGRES_SCHEMA", "public") or "public"
        timeout = float(env["POSTGRES_CONNECT_TIMEOUT"])
        self.log_after, self.log_rows = log_after, log_rows
        self.log_places = log_places
        self._events = events
        self._prepares = prepares_statements(env)
        self._commit = threading.local()
        """`.announcing`: this thread's transaction ends with a NOTIFY."""
        self._announcing = False
        checks = RecentUseChecks()
        self._pool = psycopg_pool.ConnectionPool(
            kwargs={
                **_connecting(env),
                "options": f"-c search_path={schema}",
            },
            min_size=1,
            max_size=int(env["POSTGRES_POOL_SIZE"]) + int(env["POSTGRES_MAX_OVERFLOW"]),
            timeout=timeout,
            check=checks.check,
            reset=checks.reset,
            configure=functools.partial(autocommitting, bounds=postgres_bounds(env)),
            open=False,
        )
        with sql_errors("open the read-model pool"):
            self._pool.open(wait=True, timeout=timeout)

    @contextlib.contextmanager
    def _transaction(
        self, begin: str, action: str, then: Sequence[str] = ()
    ) -> Iterator[Cursor]:
        """A transaction begun by `begin` (BEGIN ...) and the statements `then`
        (without parameters), sent as one message: one round trip where
        psycopg's own transactions take two; positioned on the last statement's
        rows; committed at the end, with the writes still held
        (postgres_cursor.py) in the same message; rolled back on any error."""
        with (
            sql_errors(action),
            self._pool.connection() as connection,
            connection.cursor() as cursor,
        ):
            self._commit.announcing = False
            held = HeldWritesCursor(cursor, prepares=self._prepares)
            try:
                held.begin(begin, then)
                yield held
            except BaseException:
                if connection.info.transaction_status != TransactionStatus.UNKNOWN:
                    connection.rollback()
                raise
            held.finish(
                SQL("NOTIFY {}; COMMIT")
                .format(Identifier(self._events.channel_name))
                .as_string(connection)
                if self._commit.announcing
                else "COMMIT"
            )

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        """Read models are derived: their commits need not wait for the disk
        (as on SQLite). Rows and positions commit together, so a crash can only
        roll both back, and the next catch-up applies those events again; not
        waiting keeps the registry rows locked for less time."""
        return self._transaction(
            "BEGIN; SET LOCAL synchronous_commit TO off", "update read models"
        )

    def logged(self, rows: Sequence[Sequence[Any]]) -> Positioned:
        return [
            (
                LogPosition(transaction_id, notification_id),
                Notification(
                    id=notification_id,
                    originator_id=stream,
                    originator_version=version,
                    topic=topic,
                    state=bytes(state),
                ),
            )
            for _, _, transaction_id, notification_id, *stored in rows
            for stream, version, topic, state in [stored]
        ]

    def announce_catch_ups(self) -> None:
        """The NOTIFY goes with the commit of the catch-up, in one message: that
        commit does not wait for the disk (`write()`), so the database-wide lock a
        NOTIFY holds from before its commit until then is held only briefly,
        once per catch-up rather than once per insert."""
        self._announcing = True
        self._events.announces_inserts = False

    def applied(self, cur: Cursor) -> None:
        self._commit.announcing = self._announcing

    shares_catch_ups = True

    @contextlib.contextmanager
    def applying(
        self, look: str, done: Callable[[Sequence[Any]], bool]
    ) -> Iterator[tuple[Cursor, bool, Sequence[Any] | None]]:
        """`write()` holding this schema's applier lock if it is free. If not, wait
        to share it, which the lock grants every waiter at once when the applier
        commits, and ask `done` of `look`'s row read then; if that applier did not
        do it, queue for the lock itself (`done` is asked again once it is
        granted). A waiter takes no transaction id, so it holds back no follower
        of the log while it waits. Trying the lock and waiting to share it are
        one statement (a CASE runs the wait only if the try failed), and `look`
        a second one after it, with another try (a waiter that alone shared the
        lock then holds it), sent with BEGIN: one round trip; so is queueing
        with `look`, and a waiter holds the lock only until its COMMIT."""
        looking = (
            f"SELECT pg_try_advisory_xact_lock({APPLIER}), p.* FROM (SELECT 1) AS o "
            f"LEFT JOIN ({look}) AS p ON true"
        )
        with self._transaction(
            "BEGIN",
            "update read models",
            (
                f"SELECT CASE WHEN pg_try_advisory_xact_lock({APPLIER}) THEN true "
                f"ELSE pg_advisory_xact_lock_shared({APPLIER})::text = 'shared' END "
                f"FROM {NO_FLUSH}",
                looking,
            ),
        ) as cur:
            [(alone, *looked)] = cur.fetchall()
            if alone:
                yield cur, True, looked
                return
            if done(looked):
                yield cur, False, looked
                return
        with self._transaction(
            "BEGIN",
            "update read models",
            (f"SELECT pg_advisory_xact_lock({APPLIER}) FROM {NO_FLUSH}", looking),
        ) as cur:
            [(_, *looked)] = cur.fetchall()
            yield cur, not done(looked), looked

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._transaction(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "read read models"
        )

    def compact(self) -> bool:
        """VACUUM every read-model table, so the old versions of rows an erasure
        rewrote are no longer readable. Index cleanup is skipped (no read-model
        index holds content), which keeps the cost to the pages changed since
        the last vacuum; VACUUM FULL would rewrite whole tables under a lock.
        False if a table's lock was not had within the lock timeout (another
        VACUUM of it, an autovacuum say, holds it): the others are vacuumed."""
        vacuumed = True
        with sql_errors("vacuum the read models"), self._pool.connection() as conn:
            previous = conn.autocommit
            conn.autocommit = True  # VACUUM cannot run inside a transaction
            try:
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = "
                        "current_schema() AND tablename LIKE 'st\\_%\\_g%'"
                    ).fetchall()
                ]
                for table in tables:
                    try:
                        conn.execute(
                            SQL("VACUUM (INDEX_CLEANUP OFF) {}").format(
                                Identifier(table)
                            )
                        )
                    except psycopg.errors.LockNotAvailable:
                        vacuumed = False
            finally:
                conn.autocommit = previous
        return vacuumed

    def rewrite(self, full: bool) -> tuple[int, int]:
        """VACUUM (ANALYZE) every table of the log's schema: the space of deleted
        rows is reused and the tables stop growing, without blocking anyone, but
        their bytes stay in the files. `full`: VACUUM FULL instead, which
        rewrites each table in turn under an exclusive lock (its readers and
        writers wait, at most the lock timeout, for that table's rewrite) and
        removes the deleted rows' bytes from the table files."""
        size = (
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
        command = "VACUUM (FULL, ANALYZE) {}" if full else "VACUUM (ANALYZE) {}"
        with sql_errors("compact the database"), self._pool.connection() as conn:
            previous = conn.autocommit
            conn.autocommit = True  # VACUUM cannot run inside a transaction
            try:
                before = int(conn.execute(size).fetchone()[0])
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT tablename FROM pg_tables "
                        "WHERE schemaname = current_schema() ORDER BY tablename"
                    ).fetchall()
                ]
                for table in tables:
                    conn.execute(SQL(command).format(Identifier(table)))
                after = int(conn.execute(size).fetchone()[0])
            finally:
                conn.autocommit = previous
        return before, after

    def close(self) -> None:
        self._pool.close()
