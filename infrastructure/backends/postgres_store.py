"""The event store on PostgreSQL: eventsourcing's recorder and datastore, changed
in three ways.

- No table lock: eventsourcing locks the events table in EXCLUSIVE mode for each
  insert so that ids become visible in commit order, which queues every writer of
  every session on one lock held across round trips and the commit's flush. Each
  row records its transaction's id instead, and followers read the log in
  (transaction id, id) order below the oldest running transaction
  (../log_position.py). NOTIFY moves out of the insert's transaction, into one
  of its own after that commit (in the same message): a NOTIFY holds a
  database-wide lock from before its transaction's commit until the commit is
  flushed, which would queue writers again.
- Events are inserted by one statement, the stale-writer guard included
  (postgres_purge.py): its own transaction, open only while the server runs it;
  not in psycopg's pipeline mode. psycopg's pipeline (3.3.9, and its main branch
  today) stops sending once its command queue is empty even if libpq could not
  yet write the whole message (`PQflush()` answered "more to send"): the end of
  a large INSERT stays in the client's buffer while the client waits for the
  reply and the server waits for the rest (`ClientRead`), for ever. Any message
  larger than the socket's send buffer can do it: about 200 KB on a unix socket
  (loopback TCP grows its buffer, so there it seldom shows). Outside the pipeline
  psycopg flushes until everything is sent.
- Every connection gets the URL's statement, lock and idle-in-transaction timeouts
  (`postgres_bounds`), and a statement or lock wait cut by one fails at
  once: eventsourcing retries its operational errors 10 times, which turned a 5 s
  lock timeout into a 52 s wait.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    Notification,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    BasePostgresFactory,
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import EnvType, retry, strtobool
from psycopg import ClientCursor, Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg.types.composite import register_composite

from ..log_position import LogPosition
from ..user_keys import KEYS_TABLE, Sealed
from .postgres_appending import AppendingConnections
from .postgres_checks import RecentUseChecks
from .postgres_prepared import (
    Preparer,
    afresh_if_changed,
    lost,
    prepared,
    prepares_statements,
    resent_once,
    unprepared_by_psycopg,
)
from .postgres_purge import (
    CREATE_PLACES,
    destroyed_key,
    guard,
    guarded_insert,
    guarded_params,
    places_table,
)
from .postgres_replies import retried_unless_stored, stored_rows

logger = logging.getLogger(__name__)

POSTGRES_BOUNDS = {
    "statement_timeout": "POSTGRES_STATEMENT_TIMEOUT",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "idle_in_transaction_session_timeout": (
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"
    ),
}
"""Each PostgreSQL server setting that bounds a wait, and the key holding its
seconds in a Settings' env."""
CUT_BY_A_BOUND = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)
"""What PostgreSQL raises when statement_timeout or lock_timeout cuts a wait."""
DRIVER_ERRORS = (
    InterfaceError,
    OperationalError,
    DataError,
    IntegrityError,
    InternalError,
    ProgrammingError,
    NotSupportedError,
    DatabaseError,
)
"""eventsourcing's errors, each named as the psycopg error it stands for (the
more specific first), as its datastore maps them."""


class BoundExceeded(PersistenceError):
    """A statement or a lock wait ran past its bound (not retried: it would only
    wait as long again)."""


def postgres_bounds(env: Mapping[str, str]) -> dict[str, int]:
    """The server settings every PostgreSQL connection gets, in milliseconds:
    statement, lock and idle-in-transaction timeouts (never 0, which is none)."""
    return {
        name: round(float(env[key]) * 1000) for name, key in POSTGRES_BOUNDS.items()
    }


def persistence_error(exc: psycopg.Error) -> PersistenceError:
    """eventsourcing's error for a psycopg error (its pool's mapping); a wait cut
    by a bound is BoundExceeded."""
    if isinstance(exc, CUT_BY_A_BOUND):
        return BoundExceeded(str(exc))
    for kind in DRIVER_ERRORS:
        if isinstance(exc, getattr(psycopg, kind.__name__)):
            return kind(str(exc))
    return PersistenceError(str(exc))


def apply_bounds(
    connection: psycopg.Connection[Any], bounds: Mapping[str, int]
) -> None:
    """Set the bounds (server setting -> milliseconds) for the whole session."""
    for name, milliseconds in bounds.items():
        connection.execute(
            "SELECT set_config(%s, %s, false)", (name, f"{milliseconds}ms")
        )
    if not connection.autocommit:
        connection.commit()


class BoundedDatastore(PostgresDatastore):
    """eventsourcing's datastore whose connections carry sessiontrail's bounds."""

    def __init__(
        self, bounds: Mapping[str, int], *, prepares: bool = True, **options: Any
    ) -> None:
        self._bounds = dict(bounds)  # read by after_connect_func, called below
        self.prepares = prepares
        """Whether appends go as EXECUTEs of a prepared INSERT
        (postgres_prepared.py)."""
        super().__init__(**options)
        self._server = {
            key: options[key] for key in ("dbname", "host", "port", "user", "password")
        }
        self._connect_timeout = max(1, math.ceil(float(options["connect_timeout"])))
        if self.pre_ping:
            # eventsourcing's pre-ping checks every checkout (postgres_checks.py);
            # its pool takes no other callbacks, so they are set on it here.
            checks = RecentUseChecks()
            self.pool._check, self.pool._reset = checks.check, checks.reset
        self._appends = AppendingConnections(
            self._connect_appending, self.pool.max_size, self._connect_timeout
        )

    @contextmanager
    def appending(self) -> Iterator[psycopg.Connection[DictRow]]:
        """A connection of the appends' own (postgres_appending.py), this thread's
        until the block ends; psycopg's errors mapped as the pool's are."""
        try:
            with self._appends.connection() as connection:
                yield connection
        except psycopg.Error as exc:
            raise persistence_error(exc) from exc
        except ConnectionUnavailableError as exc:  # every one in use past the bound
            raise BoundExceeded(str(exc)) from exc  # waited once: not retried

    def _connect_appending(self) -> psycopg.Connection[DictRow]:
        """An appending connection: bounded, autocommit, rows as dicts, with the
        event types' adapters."""
        connection = psycopg.connect(
            **self._server,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            row_factory=dict_row,
        )
        unprepared_by_psycopg(connection)  # the appends prepare their own
        try:
            apply_bounds(connection, self._bounds)
            for info in self.psycopg_type_adapters.values():
                register_composite(info, connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        self._appends.close()
        super().close()

    def connect_alone(self) -> psycopg.Connection[Any]:
        """A connection outside the pool (for LISTEN), autocommit, bounded."""
        connection = psycopg.connect(
            **self._server, autocommit=True, connect_timeout=self._connect_timeout
        )
        apply_bounds(connection, self._bounds)
        return connection

    def after_connect_func(self) -> Callable[[psycopg.Connection[Any]], None]:
        bounds, prepares = self._bounds, self.prepares

        def after_connect(connection: psycopg.Connection[Any]) -> None:
            connection.autocommit = True  # as eventsourcing's own expects
            if not prepares:  # psycopg prepares eventsourcing's reads, unless off
                unprepared_by_psycopg(connection)
            apply_bounds(connection, bounds)

        return after_connect

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        """A pooled connection; one whose prepared statements a table's change
        broke prepares them afresh before its next use (postgres_prepared.py)."""
        try:
            with super().get_connection() as connection:
                afresh_if_changed(connection)
                try:
                    yield connection
                except psycopg.Error as exc:
                    if lost(exc):
                        prepared(connection).stale = True
                    raise
        except OperationalError as exc:
            if isinstance(exc.__cause__, CUT_BY_A_BOUND):
                raise BoundExceeded(str(exc)) from exc.__cause__
            raise


class EventsRecorder(PostgresApplicationRecorder):
    """eventsourcing's application recorder without its table lock: each row
    records its transaction's id, and the log is read in (transaction id, id)
    order below the oldest running transaction (see log_position.py)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        if not isinstance(datastore, BoundedDatastore):
            raise TypeError("the events recorder needs sessiontrail's datastore")
        super().__init__(datastore, events_table_name=events_table_name)
        self._datastore = datastore
        self.lock_table_statements = []
        self.announces_inserts = True
        """Whether each insert wakes the log's listeners (inline catch-ups may
        do it instead: PostgresDatabase.announce_catch_ups)."""
        self._inserted = threading.local()
        self._table = SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(events_table_name)
        )
        # One channel per log: two schemas of one database never wake each other.
        self.channel_name = f"{datastore.schema or 'public'}.{events_table_name}"
        self.places_table = places_table(datastore.schema, events_table_name)
        self.sql_create_statements.append(CREATE_PLACES.format(self.places_table))
        self.order_index_name = f"{events_table_name}_order_idx"
        self.keys_table = SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(KEYS_TABLE)
        )
        insert = guarded_insert(
            self._table,
            SQL("{}.{}").format(
                Identifier(datastore.schema), Identifier(self.stored_event_type_name)
            ),
            datastore.originator_id_type,
            self.keys_table,
        )
        self._append = insert
        self._wake_statement = SQL(
            "BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY {}; COMMIT"
        ).format(Identifier(self.channel_name))
        self._rendered: tuple[str, str] | None = None
        """`_append` and `_wake_statement` as sent (`_statements`)."""
        self.sql_create_statements[self.create_table_statement_index] = SQL(
            "CREATE TABLE IF NOT EXISTS {table} ("
            "originator_id {originator_id_type} NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, {transaction_id}, "
            "PRIMARY KEY (originator_id, originator_version)) WITH ("
            "autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
            "autovacuum_vacuum_scale_factor = 0.5, "
            "autovacuum_analyze_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.01)"
        ).format(
            table=self._table,
            originator_id_type=Identifier(datastore.originator_id_type),
            transaction_id=TRANSACTION_ID_COLUMN,
        )
        self.insert_events_statement += SQL(
            ", transaction_id::text::bigint AS transaction_id"
        )
        self._follows_statement = SQL(
            "SELECT %s::text::xid8 < pg_snapshot_xmin(pg_current_snapshot()) "
            "AND NOT EXISTS (SELECT 1 FROM {} WHERE "
            "(transaction_id, notification_id) > (%s::text::xid8, %s) AND "
            "(transaction_id, notification_id) < (%s::text::xid8, %s)) AND NOT "
            "EXISTS (SELECT 1 FROM {} WHERE "
            "(transaction_id, notification_id) > (%s::text::xid8, %s) AND "
            "(transaction_id, notification_id) < (%s::text::xid8, %s)) AS follows"
        ).format(self._table, self.places_table)

    # -- writing -------------------------------------------------------------------

    @retried_unless_stored  # a retry may meet its failed attempt's own commit
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        sealed: Sealed | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Insert in one statement, its own transaction, on a connection of the
        appends' own, and wake the log's listeners, in one message; returns the
        notification ids (`take_positions` gives this thread each row's position).

        The stale-writer guard is part of the INSERT (postgres_purge.py), so the
        transaction is open only while the server runs the statement, never while
        the client is between statements: on a busy machine a writer waiting for
        its core held back every follower of the log for as long (they read
        below the oldest running transaction). The guard reads the version the
        insert follows as committed before the transaction takes its id: a
        stream's versions keep their order in the log.

        The INSERT goes with its values written into it (psycopg's client-side
        binding: the simple protocol takes several statements, not parameters),
        as the EXECUTE of a statement prepared once (postgres_prepared.py),
        between BEGIN and COMMIT (durable; an implicit transaction's COMMIT would
        log a warning each time). The NOTIFY follows in a transaction of its own
        that does not wait for the disk, after that COMMIT in the same message: a
        NOTIFY holds a database-wide lock from before its commit until the commit
        is flushed, which in the INSERT's transaction would queue every writer
        again; in a round trip of its own it cost writers a fifth of their CPU at
        16 writers. A failure after the INSERT's COMMIT (the NOTIFY's lock wait
        cut by the lock timeout) is the save's only if its records are not
        stored (`_stored_despite`)."""
        if not stored_events:
            return None
        sealed = sealed or {}
        guarded = guarded_params(stored_events, sealed)
        records = [
            self.construct_pg_stored_event(
                record.originator_id,
                record.originator_version,
                record.topic,
                record.state,
            )
            for record in stored_events
        ]
        params = [*guarded, records, len(guarded[0]), len(sealed)]
        with (
            self._datastore.appending() as connection,
            ClientCursor(connection) as cursor,
        ):
            preparer = Preparer(cursor, self._datastore.prepares)
            insert, wake = self._statements(connection)
            waking = [wake] if self.announces_inserts else []

            def send() -> list[DictRow]:
                execute = preparer.statement(insert, params)
                for _ in range(preparer.run("BEGIN", [execute, "COMMIT", *waking])):
                    cursor.nextset()  # past BEGIN and any PREPARE
                found = cursor.fetchall()
                while cursor.nextset():
                    pass
                return found

            try:
                rows = resent_once(send, connection.rollback)
            except psycopg.Error as exc:
                if not waking:
                    raise
                rows = self._stored_despite(connection, stored_events, exc)
            if not rows:
                destroyed_key(connection.cursor(), self.keys_table, sealed)
                raise IntegrityError(
                    "the record an append follows is gone or changed: "
                    + ", ".join(
                        f"stream {stream} version {version}"
                        for stream, version in zip(*guarded[:2], strict=True)
                    )
                )
        self._inserted.positions = [
            LogPosition(row["transaction_id"], row["notification_id"]) for row in rows
        ]
        return [row["notification_id"] for row in rows]

    def _stored_despite(
        self,
        connection: psycopg.Connection[DictRow],
        stored_events: Sequence[StoredEvent],
        failure: psycopg.Error,
    ) -> list[DictRow]:
        """The rows of `stored_events` if the append's message failed after its
        INSERT committed (in the NOTIFY's transaction: the save is stored, and
        the failure only costs listeners a poll); else `failure` is raised. A
        conflict with another writer's records, or a broken connection (retried,
        postgres_replies.py), is the INSERT's failure: raised as it is."""
        if connection.broken or isinstance(failure, psycopg.errors.UniqueViolation):
            raise failure
        if connection.info.transaction_status != TransactionStatus.IDLE:
            connection.rollback()
        rows = stored_rows(
            connection, self._table, self._datastore.originator_id_type, stored_events
        )
        if rows is None:
            raise failure
        logger.warning("could not wake the log's listeners", exc_info=failure)
        return rows

    def stored_already(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of `stored_events` if each is stored exactly (an
        attempt committed them, its reply lost: postgres_replies.py), else None;
        then this thread's positions are theirs, and the listeners are woken."""
        with self._datastore.appending() as connection:
            rows = stored_rows(
                connection,
                self._table,
                self._datastore.originator_id_type,
                stored_events,
            )
            if rows is None:
                return None
            if self.announces_inserts:
                self._wake(connection)
        self._inserted.positions = [
            LogPosition(row["transaction_id"], row["notification_id"]) for row in rows
        ]
        return [row["notification_id"] for row in rows]

    @property
    def qualified_table(self) -> Composed:
        """The events table, qualified by its schema."""
        return self._table

    def take_positions(self) -> list[LogPosition]:
        """The positions of this thread's last insert (once)."""
        positions: list[LogPosition] = getattr(self._inserted, "positions", [])
        self._inserted.positions = []
        return positions

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """eventsourcing's INSERT alone: no table lock, no NOTIFY in the transaction
        (a NOTIFY holds a database-wide lock from just before its commit until the
        commit is flushed, which would queue every writer again)."""
        guard(curs, self._table, stored_events)  # see postgres_purge.py
        PostgresAggregateRecorder._insert_stored_events(
            self, curs, stored_events, **kwargs
        )

    def _statements(self, connection: psycopg.Connection[DictRow]) -> tuple[str, str]:
        """The append's and the wake's statements as the server reads them,
        composed once: composing them on every append (psycopg walks the parts
        each time) was a tenth of its client CPU."""
        if self._rendered is None:
            self._rendered = (
                self._append.as_string(connection),
                self._wake_statement.as_string(connection),
            )
        return self._rendered

    def _wake(self, connection: psycopg.Connection[DictRow]) -> None:
        """NOTIFY the log's channel in a transaction of its own that does not wait
        for its commit to reach the disk: a lost one only costs a listener a poll."""
        try:
            connection.execute(self._statements(connection)[1])
        except psycopg.Error:
            logger.warning("could not wake the log's listeners", exc_info=True)

    def listening_connection(self) -> psycopg.Connection[Any]:
        """A connection of its own (not the pool's) for LISTEN, autocommit."""
        return self._datastore.connect_alone()

    # -- reading in log order ----------------------------------------------------

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_in_order(
        self,
        after: LogPosition,
        limit: int,
        topics: Sequence[str] = (),
        *,
        settled: bool = True,
    ) -> list[tuple[LogPosition, Notification]]:
        """Up to `limit` rows after `after` in log order. `settled`: only rows of
        transactions below the oldest one still running, which no later commit
        can precede (consumers that follow the log); else every committed row
        (a one-off read: rows committed before it are all there, in order)."""
        clauses = [SQL("(transaction_id, notification_id) > (%s::text::xid8, %s)")]
        params: list[Any] = [str(after.transaction_id), after.notification_id]
        if settled:
            clauses.append(
                SQL("transaction_id < pg_snapshot_xmin(pg_current_snapshot())")
            )
        if topics:
            clauses.append(SQL("topic = ANY(%s)"))
            params.append(list(topics))
        params.append(limit)
        # ORDER BY names the table's columns (e.), not the bigint output columns
        # of the same names: then the rows come off the index in log order and a
        # batch reads only its own rows, not every row after `after` to sort them.
        statement = SQL(
            "SELECT transaction_id::text::bigint AS transaction_id, notification_id, "
            "originator_id, originator_version, topic, state FROM {table} AS e WHERE "
            "{clauses} ORDER BY e.transaction_id, e.notification_id LIMIT %s"
        ).format(table=self._table, clauses=SQL(" AND ").join(clauses))
        with (
            self.datastore.get_connection() as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params, prepare=True)
            return _positioned(cursor.fetchall())

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_streams(
        self, streams: Sequence[UUID], until: LogPosition
    ) -> list[tuple[LogPosition, Notification]]:
        """Every row of `streams` up to `until`, in log order (an erasure's replay)."""
        statement = SQL(
            "SELECT transaction_id::text::bigint AS transaction_id, notification_id, "
            "originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = ANY(%s) AND (transaction_id, notification_id) "
            "<= (%s::text::xid8, %s) ORDER BY transaction_id, notification_id"
        ).format(self._table)
        with self.datastore.get_connection() as connection:
            rows = connection.execute(
                statement,
                (list(streams), str(until.transaction_id), until.notification_id),
            ).fetchall()
        return _positioned(rows)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def follows(self, before: LogPosition, first: LogPosition) -> bool:
        """Whether no row lies between `before` and `first`, nor did (no purged
        place: see postgres_purge.py), and every transaction older than `first`'s
        has ended (so none can still commit between them)."""
        between = (
            str(before.transaction_id),
            before.notification_id,
            str(first.transaction_id),
            first.notification_id,
        )
        with self.datastore.get_connection() as connection:
            row = connection.execute(
                self._follows_statement,
                (str(first.transaction_id), *between, *between),
                prepare=True,
            ).fetchone()
        return bool(row and row["follows"])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def pending(self, after: LogPosition, at_most: int | None = None) -> int:
        """How many committed rows come after `after` (settled or not), counting
        no further than `at_most` (None: all)."""
        with self.datastore.get_connection() as connection:
            row = connection.execute(
                SQL(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE "
                    "(transaction_id, notification_id) > (%s::text::xid8, %s) "
                    "LIMIT %s) AS after"
                ).format(self._table),
                (str(after.transaction_id), after.notification_id, at_most),
                prepare=True,
            ).fetchone()
        assert row is not None
        return int(row["count"])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def head_position(self) -> LogPosition:
        """The last committed row's position in log order ((0, 0) when empty)."""
        with self.datastore.get_connection() as connection:
            row = connection.execute(
                SQL(
                    "SELECT transaction_id::text::bigint AS t, notification_id AS n "
                    "FROM {} ORDER BY transaction_id DESC, notification_id DESC LIMIT 1"
                ).format(self._table)
            ).fetchone()
        return LogPosition(0, 0) if row is None else LogPosition(row["t"], row["n"])

    # -- creating and upgrading the table ----------------------------------------------

    def create_table(self) -> None:
        """Create the table and its index; on a table from before transaction ids,
        add the column (no rewrite: old rows read 0, so they keep their order
        before new ones) and leave the index to `ensure_order_index`."""
        existed, upgraded = self._table_state()
        if existed and not upgraded:
            with self.datastore.transaction(commit=True) as cursor:
                for statement in ADD_TRANSACTION_ID:
                    cursor.execute(statement.format(table=self._table))
        if existed:
            self._leave_out_existing_index()
        super().create_table()
        if not existed:  # empty: indexed at once
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(self._create_index(concurrently=False))

    def _leave_out_existing_index(self) -> None:
        """eventsourcing's `CREATE UNIQUE INDEX IF NOT EXISTS` takes a SHARE lock on
        the table before it finds the index there, so a process opening the log
        would wait for every insert in progress (and fail at the lock timeout
        behind a long one): left out when the catalog already has the index."""
        with self.datastore.get_connection() as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                (self.datastore.schema, self.notification_id_index_name),
            ).fetchone()
        if found is not None:
            self.sql_create_statements = [
                statement
                for statement in self.sql_create_statements
                if "CREATE UNIQUE INDEX" not in statement.as_string()
            ]

    def _table_state(self) -> tuple[bool, bool]:
        """Whether the table exists, and whether it has the transaction id column
        (read from the catalog: an ALTER would lock the table even to do nothing)."""
        with self.datastore.get_connection() as connection:
            rows = connection.execute(
                "SELECT a.attname FROM pg_attribute a JOIN pg_class c "
                "ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 "
                "AND NOT a.attisdropped",
                (self.datastore.schema, self.events_table_name),
            ).fetchall()
        columns = {row["attname"] for row in rows}
        return bool(columns), "transaction_id" in columns

    def _create_index(self, *, concurrently: bool) -> Composed:
        return SQL(
            "CREATE INDEX {concurrently} IF NOT EXISTS {index} ON {table} "
            "(transaction_id, notification_id)"
        ).format(
            concurrently=SQL("CONCURRENTLY" if concurrently else ""),
            index=Identifier(self.order_index_name),
            table=self._table,
        )

    def _order_index_valid(
        self, connection: psycopg.Connection[DictRow]
    ) -> bool | None:
        """True if the index is there and usable, False if a build left it
        invalid, None if it is missing."""
        row = connection.execute(
            "SELECT i.indisvalid AS valid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND n.nspname = %s",
            (self.order_index_name, self.datastore.schema),
        ).fetchone()
        return None if row is None else bool(row["valid"])

    def ensure_order_index(self) -> None:
        """Build the (transaction id, id) index of a table from before it, without
        blocking writers (CONCURRENTLY): by one process at a time, never while
        holding the lock that serialises opening (it would wait for the snapshot of
        a process waiting on that lock). Until it is built, reads work, slowly."""
        with self.datastore.get_connection() as connection:
            if self._order_index_valid(connection):
                return
            row = connection.execute(
                "SELECT pg_try_advisory_lock(%s) AS free", (INDEX_BUILD_KEY,)
            ).fetchone()
            if row is None or not row["free"]:
                return  # another process is building it
            try:
                valid = self._order_index_valid(connection)
                if valid:
                    return
                if valid is not None:  # a build cut short left it invalid
                    connection.execute(
                        SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(
                            Identifier(self.datastore.schema),
                            Identifier(self.order_index_name),
                        )
                    )
                connection.execute(self._create_index(concurrently=True))
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (INDEX_BUILD_KEY,))


def _positioned(rows: Sequence[DictRow]) -> list[tuple[LogPosition, Notification]]:
    """Rows of the events table, each with its position in the log."""
    return [
        (
            LogPosition(row["transaction_id"], row["notification_id"]),
            Notification(
                id=row["notification_id"],
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            ),
        )
        for row in rows
    ]


TRANSACTION_ID_COLUMN = SQL("transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id()")
ADD_TRANSACTION_ID = (
    SQL(
        "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS transaction_id xid8 "
        "NOT NULL DEFAULT '0'"
    ),
    SQL(
        "ALTER TABLE {table} ALTER COLUMN transaction_id "
        "SET DEFAULT pg_current_xact_id()"
    ),
)
"""Two steps in one transaction: a constant default gives old rows 0 without
rewriting the table, then new rows get their transaction's id."""
INDEX_BUILD_KEY = 0x5E55_7A12


class Factory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with the bounded datastore and recorder."""

    application_recorder_class = EventsRecorder

    def __init__(self, env: EnvType | None) -> None:
        # eventsourcing's own __init__ only builds a plain datastore: skip it.
        super(BasePostgresFactory, self).__init__(env)
        self.datastore = BoundedDatastore(
            postgres_bounds(self.env),
            prepares=prepares_statements(self.env),
            dbname=self.env["POSTGRES_DBNAME"],
            host=self.env["POSTGRES_HOST"],
            port=self.env["POSTGRES_PORT"],
            user=self.env["POSTGRES_USER"],
            password=self.env["POSTGRES_PASSWORD"],
            connect_timeout=float(self.env["POSTGRES_CONNECT_TIMEOUT"]),
            pool_size=int(self.env["POSTGRES_POOL_SIZE"]),
            max_overflow=int(self.env["POSTGRES_MAX_OVERFLOW"]),
            pre_ping=strtobool(self.env.get("POSTGRES_PRE_PING") or "no"),
            schema=self.env.get("POSTGRES_SCHEMA") or "",
            # Only read by eventsourcing code sessiontrail does not run (tracking
            # recorders); whole seconds there, never below the real bound.
            lock_timeout=math.ceil(float(self.env["POSTGRES_LOCK_TIMEOUT"])),
        )
