"""PostgreSQL statements planned once per connection (postgres_prepared.py): a
warmed-up save plans nothing, a connection that lost its statements prepares
them again, and `prepared_statements=off` prepares none. And a catch-up reads
where the read models are once, not once per statement that needs it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Literal

import psycopg
import pytest
from support.postgres import PostgresServer, count_statements

import sessiontrail
from sessiontrail.infrastructure.backends import postgres_prepared


@pytest.fixture(scope="module")
def counting_server() -> Iterator[PostgresServer]:
    """A server of its own that counts each statement's plans."""
    server = PostgresServer()
    try:
        server.start()
        count_statements(server)
        yield server
    finally:
        server.stop()


def saved(trail: sessiontrail.SessionTrail, session: Any, count: int) -> None:
    for number in range(count):
        session.append_message(role="user", content=f"message {number}")
        trail.sessions.save(session)


WARM_UP_ROUNDS = 20
"""Rounds of 5 saves a log is given to be warmed up: PostgreSQL plans a prepared
statement afresh for each of its first 5 runs on a connection, and the pool may
hold several connections."""


@pytest.mark.parametrize("mode", ["inline", "worker"])
def test_a_warmed_up_save_plans_no_statement(
    counting_server: PostgresServer, mode: Literal["inline", "worker"]
) -> None:
    """Before, the server planned every statement of every save (the event
    INSERT, the applier's lock and reads, each read-model write): more of its
    time than running them. (A statement a save runs now and then, the sweep
    of retired read models, may be planned when it runs; so may a new pooled
    connection's settings.)"""
    url = counting_server.url(counting_server.new_schema())
    with sessiontrail.connect(url, projections=mode) as trail:
        session = trail.sessions.load_or_create(uuid.uuid4().hex)
        with psycopg.connect(counting_server.dsn(), autocommit=True) as connection:
            for _ in range(WARM_UP_ROUNDS):  # each pooled connection, 5 each
                connection.execute("SELECT pg_stat_statements_reset()")
                saved(trail, session, 5)
                planned = connection.execute(  # run more than once, not set-up
                    "SELECT plans, query FROM pg_stat_statements WHERE plans > 0 "
                    "AND calls > 1 AND query NOT LIKE '%pg_stat_statements%' "
                    "AND query NOT LIKE 'SELECT set_config(%'"
                ).fetchall()
                if not planned:
                    break
    assert planned == [], "\n".join(f"{plans}: {query}" for plans, query in planned)


def test_an_inline_catch_up_reads_where_the_read_models_are_once(
    counting_server: PostgresServer,
) -> None:
    """It was read three times under the applier lock: with the lock, then
    again by the read of the log and by the read of the purged places."""
    url = counting_server.url(counting_server.new_schema())
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create(uuid.uuid4().hex)
        saved(trail, session, 3)
        with psycopg.connect(counting_server.dsn(), autocommit=True) as connection:
            connection.execute("SELECT pg_stat_statements_reset()")
            saved(trail, session, 5)
            [(reads,)] = connection.execute(
                "SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements "
                "WHERE query LIKE '%FROM st\\_projections WHERE (name =%'"
            ).fetchall()
    assert reads == 5


def prepared_names(connection: psycopg.Connection[Any]) -> set[str]:
    rows = connection.execute("SELECT name FROM pg_prepared_statements").fetchall()
    return {row["name"] if isinstance(row, dict) else row[0] for row in rows}


def test_a_read_model_connection_that_lost_its_statements_prepares_them_again(
    postgres_server: PostgresServer,
) -> None:
    """DEALLOCATE ALL (anyone's; psycopg's own after a rollback did it) must
    not fail the next catch-up: its first message is sent again, afresh."""
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("lost")
        saved(trail, session, 3)
        pool = trail.read_models._pool  # type: ignore[attr-defined]
        assert every_connection(pool, "SELECT 1 FROM pg_prepared_statements")
        every_connection(pool, "DEALLOCATE ALL")
        saved(trail, session, 1)
        assert every_connection(pool, "SELECT 1 FROM pg_prepared_statements")
        [summary] = trail.sessions.list().items  # the read model, caught up
        assert summary.message_count == 4


def every_connection(pool: Any, statement: str) -> list[Any]:
    """`statement`'s rows on each connection the pool holds, all together."""
    connections = [pool.getconn() for _ in range(pool.get_stats()["pool_size"])]
    try:
        done = [connection.execute(statement) for connection in connections]
        return [row for cursor in done if cursor.description for row in cursor]
    finally:
        for connection in connections:
            pool.putconn(connection)


def test_an_appending_connection_that_lost_its_statements_prepares_them_again(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        session = trail.sessions.load_or_create("lost")
        saved(trail, session, 3)
        datastore = trail.store.recorder._datastore  # type: ignore[attr-defined]
        with datastore.appending() as connection:
            assert prepared_names(connection)
            connection.execute("DEALLOCATE ALL")
        saved(trail, session, 1)
        with datastore.appending() as connection:
            assert prepared_names(connection)
        assert len(trail.sessions.load("lost").messages) == 4


def test_prepared_statements_off_prepares_nothing(
    postgres_server: PostgresServer,
) -> None:
    """For a pooler in transaction mode, which does not keep a session's
    prepared statements from one transaction to the next."""
    schema = postgres_server.new_schema()
    url = f"{postgres_server.url(schema)}&prepared_statements=off"
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("unprepared")
        saved(trail, session, 8)
        with trail.read_models._pool.connection() as connection:  # type: ignore[attr-defined]
            assert prepared_names(connection) == set()
        datastore = trail.store.recorder._datastore  # type: ignore[attr-defined]
        with datastore.appending() as connection:
            assert prepared_names(connection) == set()
        with datastore.get_connection() as connection:
            assert prepared_names(connection) == set()
        assert len(trail.sessions.load("unprepared").messages) == 8


def test_a_connection_past_its_most_statements_starts_afresh(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statements whose text varies (an IN list's length) would pile up on a
    long-lived connection: past KEPT, the next message deallocates them all
    and prepares what it uses again."""
    monkeypatch.setattr(postgres_prepared, "KEPT", 2)
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("afresh")
        saved(trail, session, 5)
        [summary] = trail.sessions.list().items
        assert summary.message_count == 5
        pool = trail.read_models._pool  # type: ignore[attr-defined]
        kept = every_connection(pool, "SELECT count(*) FROM pg_prepared_statements")
        assert max(count for (count,) in kept) <= 16, kept  # 32 without the bound


def test_a_statement_prepared_by_a_failed_message_is_prepared_afresh(
    postgres_server: PostgresServer,
) -> None:
    """The failed message's PREPAREs ran before the statement that failed, but
    were not recorded; a message after it that prepares nothing (a rollback to
    a savepoint) must not make the record trusted again."""
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url) as trail, trail.read_models.write() as cur:
        cur.execute("CREATE TABLE probe (x INTEGER)")
        cur.execute("INSERT INTO probe (x) VALUES (?)", (0,))
        cur.execute("SAVEPOINT before")
        cur.execute("UPDATE probe SET x = ? WHERE x = ?", (5, 0))
        with pytest.raises(sessiontrail.StorageUnavailable):  # 1 / 0
            cur.execute("SELECT 1 / (x - ?) FROM probe", (5,))
        cur.discard()
        cur.execute("ROLLBACK TO SAVEPOINT before")
        cur.execute("UPDATE probe SET x = ? WHERE x = ?", (7, 0))
        assert cur.execute("SELECT x FROM probe").fetchall() == [(7,)]
