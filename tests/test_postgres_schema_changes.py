"""A connection's prepared statements (postgres_prepared.py) after another
process changed a table they use, as an upgrade does: the server refuses a
statement whose result's columns changed ("cached plan must not change result
type"). A message that opens its transaction is sent again afresh; in the
middle of one, the failure is an outage, never a row's fault, and no event is
skipped. (A column added to a table whose columns the statements name, a table
dropped and made again alike, and a rebuild's new generation, cost nothing:
the server plans those statements again, or they are new ones.)"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.infrastructure.sql import is_outage

ONE_CONNECTION = "&pool_size=1&max_overflow=0"
"""So the statements a test warms up are those of the connection it uses next."""


@pytest.fixture
def schema(postgres_server: PostgresServer) -> str:
    return postgres_server.new_schema()


@pytest.fixture
def trail(
    postgres_server: PostgresServer, schema: str
) -> Iterator[sessiontrail.SessionTrail]:
    """A trail whose one connection of each kind has prepared its statements."""
    url = postgres_server.url(schema) + ONE_CONNECTION
    with sessiontrail.connect(url) as opened:
        saved(opened, "warm", 3)
        opened.sessions.list()
        yield opened


def saved(trail: sessiontrail.SessionTrail, session_id: str, count: int) -> None:
    session = trail.sessions.load_or_create(session_id)
    for number in range(count):
        session.append_message(role="user", content=f"message {number}")
        trail.sessions.save(session)


def changed_elsewhere(server: PostgresServer, statement: str) -> None:
    """`statement` run by another connection, as another process would."""
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute(statement)


def listed_by_another(server: PostgresServer, schema: str) -> dict[str, int]:
    """The sessions read model as it is, read by another connection (a read of
    this trail's would catch it up first)."""
    with psycopg.connect(server.dsn()) as connection:
        rows = connection.execute(
            f"SELECT session_id, message_count FROM {schema}.st_sessions_g1"
        ).fetchall()
    return dict(rows)


def test_a_save_after_the_log_changed_a_column_it_returns_is_sent_again(
    trail: sessiontrail.SessionTrail, postgres_server: PostgresServer, schema: str
) -> None:
    """The append's INSERT returns the rows' notification ids: its message is
    all of its transaction, so it is sent again afresh, and the save is stored.
    The inline catch-up after it reads them from the log in the middle of its
    transaction: that transaction is run once more."""
    changed_elsewhere(
        postgres_server,
        f"ALTER TABLE {schema}.sessiontrail_events "
        "ALTER COLUMN notification_id TYPE INTEGER",
    )
    saved(trail, "after", 1)
    assert listed_by_another(postgres_server, schema) == {"warm": 3, "after": 1}
    loaded = trail.sessions.load("after")
    assert loaded is not None and len(loaded.messages) == 1


def test_a_catch_up_after_the_registry_changed_a_column_it_reads_is_sent_again(
    trail: sessiontrail.SessionTrail, postgres_server: PostgresServer, schema: str
) -> None:
    """The catch-up reads where the read models are in the message that opens
    its transaction: sent again afresh, the save's events are applied at once
    (no warning that the read models lag)."""
    changed_elsewhere(
        postgres_server,
        f"ALTER TABLE {schema}.st_projections ALTER COLUMN position TYPE NUMERIC",
    )
    saved(trail, "after", 1)
    assert listed_by_another(postgres_server, schema) == {"warm": 3, "after": 1}
    assert [status.skipped for status in trail.projections.status()] == [0] * 9


def test_a_read_model_statement_changed_mid_transaction_is_an_outage(
    trail: sessiontrail.SessionTrail, postgres_server: PostgresServer, schema: str
) -> None:
    """Sent with held writes, it was a refused row (the event's fault, to be
    skipped); it is the connection's: an outage, and the next transaction
    prepares it afresh."""
    read = f"SELECT user_id FROM {schema}.st_sessions_g1 WHERE session_id = ?"
    write = f"UPDATE {schema}.st_sessions_g1 SET title = ? WHERE session_id = ?"
    with trail.read_models.write() as cur:
        before = cur.execute(read, ("warm",)).fetchall()
    changed_elsewhere(
        postgres_server,
        f"ALTER TABLE {schema}.st_sessions_g1 ALTER COLUMN user_id TYPE VARCHAR(64)",
    )
    with trail.read_models.write() as cur:
        cur.execute(write, ("held", "warm"))  # held, sent with the read
        with pytest.raises(sessiontrail.StorageUnavailable) as failed:
            cur.execute(read, ("warm",))
        cur.discard()  # its transaction failed: the COMMIT rolls it back
    assert is_outage(failed.value), repr(failed.value)
    with trail.read_models.write() as cur:
        cur.execute(write, ("held", "warm"))
        assert cur.execute(read, ("warm",)).fetchall() == before


def test_a_handler_read_another_process_changed_is_not_the_events_fault(
    trail: sessiontrail.SessionTrail,
    postgres_server: PostgresServer,
    schema: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The audit read model reads the sessions it knows before it writes. A
    change to those columns made the batch look like its events' fault: it was
    redone event by event, each event to be skipped if it failed again. The
    catch-up is run once more instead, and applies them all."""
    changed_elsewhere(
        postgres_server,
        f"ALTER TABLE {schema}.st_audit_sessions_g1 "
        "ALTER COLUMN user_id TYPE VARCHAR(64)",
    )
    saved(trail, "warm", 1)
    assert listed_by_another(postgres_server, schema) == {"warm": 4}
    assert [status.skipped for status in trail.projections.status()] == [0] * 9
    redone = [r.message for r in caplog.records if "event by event" in r.message]
    assert redone == []
