"""PostgreSQL appends use connections of their own, outside the pool: they come
back after the server restarts, are shared safely by threads within their bound,
keep working after a conflicting append, and close with the trail."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Literal

import psycopg
import psycopg.sql
import pytest
from support.deadlines import outcomes_within
from support.postgres import PostgresServer, append_statement

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable
from sessiontrail.infrastructure.backends import postgres_checks
from sessiontrail.infrastructure.backends.postgres_appending import (
    AppendingConnections,
)


def save_a_message(trail: SessionTrail, session_id: str, content: str) -> None:
    session = trail.sessions.load_or_create(session_id)
    session.append_message(role="user", content=content)
    trail.sessions.save(session)


def appending_backends(server: PostgresServer, trail: SessionTrail) -> set[int]:
    """The server processes of connections whose last message appended to
    `trail`'s log or woke its listeners after an append (the guarded INSERT
    is prepared under a name its text gives, the NOTIFY names its channel)."""
    recorder = trail.store.recorder
    append = append_statement(server, trail)
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE (query LIKE %s OR query LIKE %s) "
            "AND pid <> pg_backend_pid()",
            (
                f"BEGIN;% {append}%",
                f"BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY "
                f'"{recorder.channel_name}"%',  # type: ignore[attr-defined]
            ),
        ).fetchall()
    return {pid for (pid,) in rows}


def messages(trail: SessionTrail, session_id: str) -> list[str]:
    session = trail.sessions.load_merged(session_id)
    assert session is not None
    return [message.content for message in session.messages]


def test_a_save_after_the_server_restarted_goes_through(
    own_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The appending connection broke with the restart; it is trusted without a
    check (used moments ago), so the append meets the break, and the retry opens
    a new connection. Worker mode: the read models' pool is not under test."""
    monkeypatch.setattr(postgres_checks, "TRUSTED_FOR", 3600.0)
    url = own_postgres.url(own_postgres.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        save_a_message(trail, "restarted", "before")
        own_postgres.halt()
        own_postgres.resume()
        [outcome] = outcomes_within(
            30, lambda: save_a_message(trail, "restarted", "after")
        )
        assert outcome is None
        assert messages(trail, "restarted") == ["before", "after"]


def test_a_save_while_the_server_is_down_fails_as_unavailable(
    own_postgres: PostgresServer,
) -> None:
    """Each step of the save waits at most the connect timeout per attempt."""
    url = f"{own_postgres.url(own_postgres.new_schema())}&connect_timeout=1"
    with sessiontrail.connect(url, projections="worker") as trail:
        save_a_message(trail, "down", "before")
        own_postgres.halt()
        try:
            [outcome] = outcomes_within(
                60, lambda: save_a_message(trail, "down", "lost")
            )
        finally:
            own_postgres.resume()
        assert isinstance(outcome, StorageUnavailable), outcome


def test_closing_the_trail_closes_its_appending_connections(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        save_a_message(trail, "closed", "hello")
        assert len(appending_backends(postgres_server, trail)) == 1
    deadline = time.monotonic() + 30
    while appending_backends(postgres_server, trail):
        assert time.monotonic() < deadline, "an appending connection stayed open"
        time.sleep(0.01)


def test_threads_saving_at_once_share_the_bounded_connections(
    postgres_server: PostgresServer,
) -> None:
    """Eight threads, two connections (pool_size=2, no overflow): each thread
    waits for one another gives back, and every save is stored."""
    schema = postgres_server.new_schema()
    url = f"{postgres_server.url(schema)}&pool_size=2&max_overflow=0&connect_timeout=5"
    threads, saves = 8, 15
    sessions = [f"thread-{number}" for number in range(threads)]
    start = threading.Barrier(threads)
    with sessiontrail.connect(url, projections="worker") as trail:

        def saving(number: int) -> None:
            start.wait(30)
            for count in range(saves):
                save_a_message(trail, sessions[number], str(count))

        outcomes = outcomes_within(
            120, *[lambda n=n: saving(n) for n in range(threads)]
        )
        assert outcomes == [None] * threads
        assert len(appending_backends(postgres_server, trail)) == 2
        for session_id in sessions:
            assert messages(trail, session_id) == [str(count) for count in range(saves)]


@pytest.mark.parametrize("mode", ["inline", "worker"])
def test_a_conflicting_append_leaves_its_connection_working(
    postgres_server: PostgresServer, mode: Literal["inline", "worker"]
) -> None:
    """The other trail's append wins; this one's transaction fails and is rolled
    back, and the same connection carries the rebased save (in worker mode, the
    message that failed also held the wake of the log's listeners)."""
    contested = "contested"
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with (
        sessiontrail.connect(url, projections=mode) as trail,
        sessiontrail.connect(url, projections=mode) as other,
    ):
        save_a_message(trail, contested, "first")
        [before] = appending_backends(postgres_server, trail)
        stale = trail.sessions.load(contested)
        assert stale is not None
        save_a_message(other, contested, "theirs")
        stale.append_message(role="user", content="ours")
        trail.sessions.save(stale)
        assert sorted(messages(trail, contested)) == ["first", "ours", "theirs"]
        assert before in appending_backends(postgres_server, trail)


def test_a_save_whose_wake_up_fails_is_stored_and_succeeds(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The NOTIFY after an append can fail (its commit's lock wait cut by the
    lock timeout, here a division by zero in its place): the append is stored
    by then, so the save succeeds and the failure costs listeners a poll."""
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        save_a_message(trail, "woken", "first")
        recorder = trail.store.recorder
        monkeypatch.setattr(recorder, "_wake_statement", psycopg.sql.SQL("SELECT 1/0"))
        monkeypatch.setattr(recorder, "_rendered", None)  # composed again, once
        save_a_message(trail, "woken", "second")
        assert "could not wake the log's listeners" in caplog.text
        save_a_message(trail, "woken", "third")  # the connection still works
        assert messages(trail, "woken") == ["first", "second", "third"]


def test_a_save_waiting_for_a_busy_appending_connection_waits_the_bound_once(
    postgres_server: PostgresServer,
) -> None:
    """Every appending connection in use past the connect timeout: the save
    fails as StorageUnavailable after about that long, not after ten retries."""
    schema = postgres_server.new_schema()
    url = f"{postgres_server.url(schema)}&pool_size=1&max_overflow=0&connect_timeout=1"
    with sessiontrail.connect(url, projections="worker") as trail:
        save_a_message(trail, "s", "first")
        taken, release = threading.Event(), threading.Event()

        def hold() -> None:
            with trail.store.recorder._datastore.appending():
                taken.set()
                release.wait(60)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert taken.wait(10)
            began = time.monotonic()
            with pytest.raises(StorageUnavailable):
                save_a_message(trail, "s", "second")
            waited = time.monotonic() - began
        finally:
            release.set()
            holder.join()
        assert waited < 5, waited  # one wait of 1 s, not ten


LIFETIME = 100.0
"""The appending connections' lifetime in the tests of it, seconds of a clock
the test moves."""


@pytest.fixture
def aged(
    postgres_server: PostgresServer,
) -> Iterator[tuple[AppendingConnections, list[float]]]:
    """Appending connections to the test server whose clock is the list's one
    value (the test moves it), with LIFETIME as their lifetime."""
    now = [0.0]
    connections = AppendingConnections(
        lambda: psycopg.connect(postgres_server.dsn(), autocommit=True),
        size=1,
        timeout=5,
        max_lifetime=LIFETIME,
        clock=lambda: now[0],
    )
    try:
        yield connections, now
    finally:
        connections.close()


def test_an_appending_connection_past_its_lifetime_is_replaced(
    aged: tuple[AppendingConnections, list[float]],
) -> None:
    """Taken after its lifetime, the connection is closed and a new one opened
    in its place, as the read models' pool recycles its own."""
    connections, now = aged
    with connections.connection() as connection:
        first, old = connection.info.backend_pid, connection
    now[0] = LIFETIME + 1
    with connections.connection() as connection:
        assert connection.info.backend_pid != first
    assert old.closed


def test_an_appending_connection_within_its_lifetime_is_kept(
    aged: tuple[AppendingConnections, list[float]],
) -> None:
    """Before its lifetime (less the 5 % spread) is up, the same connection
    serves the next append."""
    connections, now = aged
    with connections.connection() as connection:
        first = connection.info.backend_pid
    now[0] = LIFETIME * 0.9
    with connections.connection() as connection:
        assert connection.info.backend_pid == first
