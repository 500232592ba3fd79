"""A purge and a writer of the same session at the same moment, on PostgreSQL,
in both orders (forced by waiting until one is seen blocked on the other): the
session ends up fully purged either way, with no record written after it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from support.postgres import PostgresServer, append_statement

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.purge import PurgeReport
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.chain import digest, frame, unframe

STREAM = stream_id("s")
DEADLINE = 10.0


@pytest.fixture
def schema(postgres_server: PostgresServer) -> str:
    return postgres_server.new_schema()


@pytest.fixture
def trail(postgres_server: PostgresServer, schema: str) -> Iterator[SessionTrail]:
    with sessiontrail.connect(postgres_server.url(schema)) as opened:
        session = opened.sessions.load_or_create("s")
        for number in range(4):
            session.append_message(role="user", content=f"message {number}")
        opened.sessions.save(session)
        yield opened


def wait_until_blocked(server: PostgresServer, statement: str) -> None:
    """Poll until a backend whose query holds `statement` waits on a lock (an
    append's guard is part of its INSERT, run as EXECUTE of its name)."""
    deadline = time.monotonic() + DEADLINE
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        while time.monotonic() < deadline:
            row = db.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE %s",
                (f"%{statement}%",),
            ).fetchone()
            if row is not None:
                return
            time.sleep(0.01)
    raise AssertionError(f"no {statement} waited on a lock within {DEADLINE} s")


def records_left(server: PostgresServer, schema: str) -> int:
    with psycopg.connect(server.dsn()) as db:
        row = db.execute(
            f"SELECT COUNT(*) FROM {schema}.sessiontrail_events "
            "WHERE originator_id = %s",
            (STREAM,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_writer_that_locked_first_is_purged_with_the_rest(
    postgres_server: PostgresServer, schema: str, trail: SessionTrail
) -> None:
    """The writer holds the last record FOR KEY SHARE and inserts the next; the
    purge's DELETE waits for it, then finds the new record and purges again."""
    table = f"{schema}.sessiontrail_events"
    writer = psycopg.connect(postgres_server.dsn())
    row = writer.execute(
        f"SELECT topic, state FROM {table} WHERE originator_id = %s AND "
        "originator_version = 5 FOR KEY SHARE",
        (STREAM,),
    ).fetchone()
    assert row is not None
    topic, state = row[0], bytes(row[1])
    value, body = unframe(state)
    assert value is not None
    writer.execute(
        f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
        "VALUES (%s, 6, %s, %s)",
        (STREAM, topic, frame(body, digest(value, STREAM, 6, topic, body))),
    )
    reports: list[PurgeReport] = []
    purging = threading.Thread(target=lambda: reports.append(trail.sessions.purge("s")))
    purging.start()
    wait_until_blocked(postgres_server, "DELETE")
    writer.commit()
    writer.close()
    purging.join(DEADLINE)
    [report] = reports
    assert report.events == 6  # the writer's record went with the rest
    assert records_left(postgres_server, schema) == 0
    assert trail.verify().ok


def test_a_writer_after_the_purge_began_adds_nothing(
    postgres_server: PostgresServer, schema: str, trail: SessionTrail
) -> None:
    """The purge holds the deleted rows; the writer's guard waits for it, then
    finds its predecessor gone and the save is refused."""
    stale = trail.sessions.load("s")
    assert stale is not None
    purger = psycopg.connect(postgres_server.dsn())
    purger.execute(
        f"DELETE FROM {schema}.sessiontrail_events WHERE originator_id = %s",
        (STREAM,),
    )
    stale.append_message(role="user", content="after the purge")
    failures: list[BaseException] = []

    def save() -> None:
        try:
            trail.sessions.save(stale)
        except BaseException as exc:
            failures.append(exc)

    saving = threading.Thread(target=save)
    saving.start()
    wait_until_blocked(postgres_server, append_statement(postgres_server, trail))
    purger.commit()
    purger.close()
    saving.join(DEADLINE)
    [failure] = failures
    assert isinstance(failure, sessiontrail.SessionNotFound)
    assert records_left(postgres_server, schema) == 0
