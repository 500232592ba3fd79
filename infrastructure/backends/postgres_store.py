"""The event store on PostgreSQL: eventsourcing's recorder and datastore, changed
in two ways.

- Events are inserted with ordinary statements in one transaction, not in psycopg's
  pipeline mode. psycopg's pipeline (3.3.9, and its main branch today) stops
  sending once its command queue is empty even if libpq could not yet write the
  whole message (`PQflush()` answered "more to send"): the end of a large INSERT
  stays in the client's buffer while the client waits for the reply and the server
  waits for the rest (`ClientRead`), for ever, holding the events table's EXCLUSIVE
  lock. Any message larger than the socket's send buffer can do it: about 200 KB
  on a unix socket (loopback TCP grows its buffer, so there it seldom shows).
  Outside the pipeline psycopg flushes until everything is sent.
- Every connection gets the URL's statement, lock and idle-in-transaction timeouts
  (`postgres_bounds`), and a statement or lock wait cut by one fails at
  once: eventsourcing retries its operational errors 10 times, which turned a 5 s
  lock timeout into a 52 s wait.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import (
    BasePostgresFactory,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import EnvType, retry, strtobool
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

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


class BoundExceeded(PersistenceError):
    """A statement or a lock wait ran past its bound (not retried: it would only
    wait as long again)."""


def postgres_bounds(env: Mapping[str, str]) -> dict[str, int]:
    """The server settings every PostgreSQL connection gets, in milliseconds:
    statement, lock and idle-in-transaction timeouts (never 0, which is none)."""
    return {
        name: round(float(env[key]) * 1000) for name, key in POSTGRES_BOUNDS.items()
    }


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

    def __init__(self, bounds: Mapping[str, int], **options: Any) -> None:
        self._bounds = dict(bounds)  # read by after_connect_func, called below
        super().__init__(**options)

    def after_connect_func(self) -> Callable[[psycopg.Connection[Any]], None]:
        bounds = self._bounds

        def after_connect(connection: psycopg.Connection[Any]) -> None:
            connection.autocommit = True  # as eventsourcing's own expects
            apply_bounds(connection, bounds)

        return after_connect

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        try:
            with super().get_connection() as connection:
                yield connection
        except OperationalError as exc:
            if isinstance(exc.__cause__, CUT_BY_A_BOUND):
                raise BoundExceeded(str(exc)) from exc.__cause__
            raise


class EventsRecorder(PostgresApplicationRecorder):
    """eventsourcing's application recorder, inserting outside pipeline mode."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # Only the lock: the session's lock_timeout bounds its wait (eventsourcing
        # also sets one in whole seconds, which would override a fractional bound).
        self.lock_table_statements = [
            SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(
                Identifier(datastore.schema), Identifier(events_table_name)
            )
        ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Lock the table, notify, insert and read back the notification ids, in
        one transaction (as eventsourcing does, without the pipeline)."""
        if not stored_events:
            return None
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            self._insert_stored_events(cursor, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(cursor, stored_events)


class Factory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with the bounded datastore and recorder."""

    application_recorder_class = EventsRecorder

    def __init__(self, env: EnvType | None) -> None:
        # eventsourcing's own __init__ only builds a plain datastore: skip it.
        super(BasePostgresFactory, self).__init__(env)
        self.datastore = BoundedDatastore(
            postgres_bounds(self.env),
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
