"""No PostgreSQL wait is unbounded: a lock wait, a slow statement or a transaction
left open ends within the URL's bound, as StorageUnavailable, and frees its locks.

Each test blocks sessiontrail from outside (a second, raw connection, or a trigger
that sleeps) and measures how long the call takes to fail or to go through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError
from support.deadlines import outcomes_within
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable
from sessiontrail.infrastructure.backends.postgres import ADVISORY_KEY

BOUND = 1.0  # seconds: the timeout under test
SLACK = 4.0  # seconds a loaded machine may add; eventsourcing's 10 retries add 9+
EVENTS = "sessiontrail_events"


@pytest.fixture
def schema(postgres_server: PostgresServer) -> str:
    return postgres_server.new_schema()


@pytest.fixture
def raw(
    postgres_server: PostgresServer,
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection of another program (not sessiontrail's: no bounds)."""
    with psycopg.connect(postgres_server.dsn()) as connection:
        yield connection


def open_trail(server: PostgresServer, schema: str, options: str) -> SessionTrail:
    return sessiontrail.connect(f"{server.url(schema)}&{options}")


def save_a_message(trail: SessionTrail, session_id: str) -> None:
    session = trail.sessions.load_or_create(session_id)
    session.append_message(role="user", content="hello")
    trail.sessions.save(session)


@contextmanager
def behind(server: PostgresServer, schema: str, options: str) -> Iterator[SessionTrail]:
    """A trail whose read models lag one save (worker mode: saves leave them)."""
    url = f"{server.url(schema)}&{options}"
    with sessiontrail.connect(url, projections="worker") as trail:
        save_a_message(trail, "written")
        yield trail


def failing_within(seconds: float, call: Callable[[], object]) -> StorageUnavailable:
    """The StorageUnavailable `call` raised, after at least the bound and within
    `seconds`."""
    started = time.monotonic()
    [outcome] = outcomes_within(seconds + SLACK * 2, call)
    elapsed = time.monotonic() - started
    assert isinstance(outcome, StorageUnavailable), outcome
    assert BOUND * 0.9 <= elapsed < seconds, elapsed
    return outcome


def test_a_save_waiting_for_the_events_lock_fails_within_lock_timeout(
    postgres_server: PostgresServer,
    schema: str,
    raw: psycopg.Connection[tuple[object, ...]],
) -> None:
    with open_trail(postgres_server, schema, f"lock_timeout={BOUND}") as trail:
        raw.execute(f"LOCK TABLE {schema}.{EVENTS} IN EXCLUSIVE MODE")
        error = failing_within(BOUND + SLACK, lambda: save_a_message(trail, "blocked"))
        assert "lock timeout" in str(error)
        raw.rollback()
        assert trail.sessions.exists("blocked") is False  # nothing was written


def test_a_slow_insert_fails_within_statement_timeout(
    postgres_server: PostgresServer,
    schema: str,
    raw: psycopg.Connection[tuple[object, ...]],
) -> None:
    with open_trail(postgres_server, schema, f"statement_timeout={BOUND}") as trail:
        sleep_on(raw, f"{schema}.{EVENTS}", "INSERT")
        error = failing_within(BOUND + SLACK, lambda: save_a_message(trail, "slow"))
        assert "statement timeout" in str(error)


def test_a_slow_read_model_update_fails_within_statement_timeout(
    postgres_server: PostgresServer,
    schema: str,
    raw: psycopg.Connection[tuple[object, ...]],
) -> None:
    with behind(postgres_server, schema, f"statement_timeout={BOUND}") as trail:
        sleep_on(raw, f"{schema}.st_projections", "UPDATE")
        error = failing_within(BOUND + SLACK, trail.projections.catch_up)
        assert "statement timeout" in str(error)


def test_a_read_model_update_waiting_for_a_row_lock_fails_within_lock_timeout(
    postgres_server: PostgresServer,
    schema: str,
    raw: psycopg.Connection[tuple[object, ...]],
) -> None:
    with behind(postgres_server, schema, f"lock_timeout={BOUND}") as trail:
        raw.execute(f"SELECT * FROM {schema}.st_projections FOR UPDATE")
        error = failing_within(BOUND + SLACK, trail.projections.catch_up)
        assert "lock timeout" in str(error)


def test_a_transaction_left_open_on_the_events_lock_is_cut_and_frees_it(
    postgres_server: PostgresServer, schema: str
) -> None:
    options = f"idle_in_transaction_timeout={BOUND}&lock_timeout=30"
    with (
        open_trail(postgres_server, schema, options) as stuck,
        open_trail(postgres_server, schema, options) as other,
    ):
        datastore = stuck.store.recorder.datastore  # type: ignore[attr-defined]
        outcomes: list[BaseException | None] = []

        def lock_and_stop() -> None:
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(f"LOCK TABLE {schema}.{EVENTS} IN EXCLUSIVE MODE")
                # ...and stop here, as a process frozen mid-save would.
                saves = outcomes_within(
                    BOUND + SLACK, lambda: save_a_message(other, "after")
                )
                outcomes.extend(saves)

        with pytest.raises(PersistenceError):  # the stopped transaction was cut
            lock_and_stop()
        assert outcomes == [None]
        assert other.sessions.exists("after")


def test_a_read_model_transaction_left_open_is_cut_and_frees_its_rows(
    postgres_server: PostgresServer, schema: str
) -> None:
    url = postgres_server.url(schema)
    url += f"&idle_in_transaction_timeout={BOUND}&lock_timeout=30"
    with (
        sessiontrail.connect(url, projections="worker") as stuck,
        sessiontrail.connect(url, projections="worker") as other,
    ):
        save_a_message(other, "written")
        outcomes: list[BaseException | None] = []

        def lock_and_stop() -> None:
            with stuck.read_models.write() as cur:
                cur.execute("SELECT * FROM st_projections FOR UPDATE")
                # ...and stop here, the rows locked.
                outcomes.extend(
                    outcomes_within(BOUND + SLACK, other.projections.catch_up)
                )

        with pytest.raises(StorageUnavailable):  # the stopped transaction was cut
            lock_and_stop()
        assert outcomes == [None]
        assert [s.session_id for s in other.sessions.list().items] == ["written"]


def test_opening_behind_a_stuck_opener_fails_within_statement_timeout(
    postgres_server: PostgresServer, schema: str
) -> None:
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        error = failing_within(
            BOUND + SLACK,
            lambda: open_trail(postgres_server, schema, f"statement_timeout={BOUND}"),
        )
    assert "statement timeout" in str(error)


@pytest.mark.parametrize("pool", ["event store", "appends", "read models"])
def test_every_connection_carries_the_urls_bounds(
    postgres_server: PostgresServer, schema: str, pool: str
) -> None:
    options = "statement_timeout=2.5&lock_timeout=0.25&idle_in_transaction_timeout=7"
    with open_trail(postgres_server, schema, options) as trail:
        query = (
            "SELECT current_setting('statement_timeout') AS statement, "
            "current_setting('lock_timeout') AS lock, "
            "current_setting('idle_in_transaction_session_timeout') AS idle"
        )
        if pool == "event store":
            with trail.store.recorder.datastore.transaction() as cursor:  # type: ignore[attr-defined]
                row = tuple(cursor.execute(query).fetchone().values())
        elif pool == "appends":
            with trail.store.recorder.datastore.appending() as connection:  # type: ignore[attr-defined]
                row = tuple(connection.execute(query).fetchone().values())
        else:
            with trail.read_models.read() as cur:
                row = cur.execute(query).fetchone()
    assert row == ("2500ms", "250ms", "7s")


def sleep_on(
    raw: psycopg.Connection[tuple[object, ...]], table: str, action: str
) -> None:
    """Make every `action` on `table` sleep a minute (a trigger), committed."""
    raw.execute(
        f"CREATE FUNCTION {table}_slowly() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$"
    )
    raw.execute(
        f"CREATE TRIGGER slowly BEFORE {action} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_slowly()"
    )
    raw.commit()
