"""A PostgreSQL append whose COMMIT took effect while its reply was lost: the
connection cut while the server waited, after committing locally, for a
synchronous standby (here one that never answers). The append is retried on a
new connection and meets its own records; each kind of write is then stored
once and succeeds, as it did."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from support.deadlines import outcomes_within, wait_until
from support.postgres import PostgresServer, running

import sessiontrail
from sessiontrail import Session, SessionTrail
from sessiontrail.domain.qa_values import SessionTraceStep


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server of this module's own, whose settings the tests change."""
    with running() as server:
        yield server


@pytest.fixture
def trail(own_server: PostgresServer) -> Iterator[SessionTrail]:
    url = own_server.url(own_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as opened:
        yield opened


def _commits_wait(server: PostgresServer, wait: bool) -> None:
    """Make commits wait for a standby that never comes (or stop that), once
    the server has taken the setting (a new connection starts with it, and
    every older one is told before it)."""
    value = "nobody" if wait else ""
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        db.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{value}'")
        db.execute("SELECT pg_reload_conf()")

    def taken() -> bool:
        with psycopg.connect(server.dsn(), autocommit=True) as db:
            row = db.execute("SHOW synchronous_standby_names").fetchone()
        return row is not None and row[0] == value

    wait_until(taken, "the server's settings reloaded")


def _with_the_commit_reply_lost(
    server: PostgresServer, write: Callable[[], object]
) -> BaseException | None:
    """Run `write` while commits wait; cut its connection once its commit is
    done locally; what `write` raised (None: it returned)."""
    outcome: list[BaseException | None] = []
    _commits_wait(server, True)
    try:
        writer = threading.Thread(
            target=lambda: outcome.extend(outcomes_within(60, write))
        )
        writer.start()
        with psycopg.connect(server.dsn(), autocommit=True) as db:
            waiting: list[int] = []

            def committed_locally() -> bool:
                waiting[:] = [
                    pid
                    for (pid,) in db.execute(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                    ).fetchall()
                ]
                return bool(waiting)

            wait_until(committed_locally, "a commit waiting for the standby")
            db.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
    finally:
        _commits_wait(server, False)
    writer.join(60)
    [raised] = outcome
    return raised


def test_a_save_whose_commit_reply_was_lost_is_stored_once(
    own_server: PostgresServer, trail: SessionTrail
) -> None:
    s = trail.sessions.load_or_create("chat")
    s.append_message(role="user", content="first")
    trail.sessions.save(s)

    def save() -> None:
        s.append_message(role="user", content="second")
        trail.sessions.save(s)

    assert _with_the_commit_reply_lost(own_server, save) is None
    loaded = trail.sessions.load_merged("chat")
    assert loaded is not None
    assert [m.content for m in loaded.messages] == ["first", "second"]


def test_a_create_whose_commit_reply_was_lost_succeeds(
    own_server: PostgresServer, trail: SessionTrail
) -> None:
    trail.sessions.save(trail.sessions.load_or_create("opens the connections"))

    def create() -> None:
        trail.sessions.create(Session(session_id="new", model="m"))

    assert _with_the_commit_reply_lost(own_server, create) is None
    loaded = trail.sessions.load_merged("new")
    assert loaded is not None
    assert (loaded.model, loaded.version) == ("m", 1)


def test_a_qa_entry_whose_commit_reply_was_lost_is_stored_once(
    own_server: PostgresServer, trail: SessionTrail
) -> None:
    trail.qa.create_qa_entry("chat", "q0", "a0", user_id="u")

    def add() -> None:
        trail.qa.create_qa_entry("chat", "q1", "a1", user_id="u", qa_id="e1")

    assert _with_the_commit_reply_lost(own_server, add) is None
    events = [entry.event for entry in trail.qa.history("chat", user_id="u")]
    assert events == ["QASessionStarted", "QAEntryAdded", "QAEntryAdded"]


def test_a_trace_step_whose_commit_reply_was_lost_is_stored_once(
    own_server: PostgresServer, trail: SessionTrail
) -> None:
    trail.qa.create_qa_entry("chat", "q0", "a0", user_id="u")
    step = SessionTraceStep(trace_id="t1", memory_query="plan")

    def record() -> None:
        trail.qa.append_agent_trace_step("u", "chat", step)

    assert _with_the_commit_reply_lost(own_server, record) is None
    trail.projections.catch_up()
    assert len(trail.qa.get_agent_trace_steps("u", "chat")) == 1
