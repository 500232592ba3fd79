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
from sessiontrail.infrastructure.backends import postgres_prepared
from sessiontrail.infrastructure.sql import is_outage
from sessiontrail.projections import rebuild

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


def test_a_catch_up_after_a_change_goes_on_whichever_connection_it_retries_on(
    postgres_server: PostgresServer, schema: str
) -> None:
    """Every connection of the pool had prepared the catch-up's read of the log
    before another process changed the events table. The catch-up met the
    change on one and ran its transaction once more on the next connection the
    pool gave, whose statements were as stale: the save's read models lagged.
    One connection's finding tells them all to prepare afresh."""
    url = postgres_server.url(schema) + "&pool_size=2&max_overflow=0"
    with sessiontrail.connect(url) as trail:
        for number in range(2):  # each save's catch-up on the other connection
            with trail.read_models.read() as cur:
                cur.execute("SELECT 1").fetchall()
                saved(trail, f"warm-{number}", 1)
        changed_elsewhere(
            postgres_server,
            f"ALTER TABLE {schema}.sessiontrail_events "
            "ALTER COLUMN notification_id TYPE INTEGER",
        )
        saved(trail, "after", 1)
        assert listed_by_another(postgres_server, schema) == {
            "warm-0": 1,
            "warm-1": 1,
            "after": 1,
        }


def test_a_load_after_the_log_changed_a_column_it_reads_fails_once_at_most(
    trail: sessiontrail.SessionTrail, postgres_server: PostgresServer, schema: str
) -> None:
    """A session's events are read through psycopg's own prepared statements,
    which psycopg never prepared again: after another process changed a column
    they return, every load on that connection found no session (a storage
    failure) and load_or_create began the stored session afresh. The connection
    now prepares afresh after the first failure."""
    saved(trail, "other", 2)
    url = postgres_server.url(schema) + ONE_CONNECTION
    with sessiontrail.connect(url) as fresh:  # no session cached
        assert fresh.sessions.load("warm") is not None  # its read prepared
        changed_elsewhere(
            postgres_server,
            f"ALTER TABLE {schema}.sessiontrail_events "
            "ALTER COLUMN notification_id TYPE INTEGER",
        )
        with pytest.raises(sessiontrail.StorageUnavailable):
            fresh.sessions.try_load("other")
        loaded = fresh.sessions.load("other")
        assert loaded is not None and len(loaded.messages) == 2


def test_a_change_met_elsewhere_while_writes_are_held_spares_them(
    trail: sessiontrail.SessionTrail,
) -> None:
    """Another connection meets a table's change while this one holds writes
    whose statements it had prepared: the message that sends them must not
    begin afresh (DEALLOCATE ALL) behind them; the next one does."""
    read = "SELECT title FROM st_sessions_g1 WHERE session_id = ?"
    write = "UPDATE st_sessions_g1 SET title = ? WHERE session_id = ?"
    with trail.read_models.write() as cur:
        cur.execute(write, ("before", "warm"))
        assert cur.execute(read, ("warm",)).fetchall() == [("before",)]
    with trail.read_models.write() as cur:
        cur.execute(write, ("held", "warm"))  # held: EXECUTE of a prepared one
        postgres_prepared.TABLES_CHANGED.noticed()
        assert cur.execute(read, ("warm",)).fetchall() == [("held",)]
        assert cur.execute(read, ("warm",)).fetchall() == [("held",)]


def test_a_rebuild_batch_after_the_log_changed_a_column_it_reads_is_run_again(
    trail: sessiontrail.SessionTrail,
    postgres_server: PostgresServer,
    schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebuild reads the log a batch at a time. Another process changing a
    column that read returns (an upgrade) failed the whole rebuild, its work
    thrown away; the batch is run once more, as a catch-up's is."""
    saved(trail, "more", 5)
    monkeypatch.setattr(rebuild, "REBUILD_BATCH_SIZE", 3)
    changed: list[int] = []

    def progress(reached: int, head: int) -> None:
        if not changed:  # after the first batch, before the next one
            changed_elsewhere(
                postgres_server,
                f"ALTER TABLE {schema}.sessiontrail_events "
                "ALTER COLUMN notification_id TYPE INTEGER",
            )
        changed.append(reached)

    status = trail.projections.rebuild("sessions", progress=progress)
    assert len(changed) > 2
    assert (status.lag, status.skipped) == (0, 0)
    with trail.read_models.read() as cur:  # the rebuilt generation is live
        assert cur.execute(
            "SELECT generation FROM st_projections WHERE name = 'sessions'"
        ).fetchall() == [(2,)]
    assert {s.session_id: s.message_count for s in trail.sessions.list().items} == {
        "warm": 3,
        "more": 5,
    }
