"""Repro: a PostgreSQL append whose COMMIT took effect but whose reply was lost
(the connection cut while the server waited after its local commit: synchronous
replication, here a standby that never answers). The append is retried on a new
connection; what the caller then gets, per kind of write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from support.deadlines import outcomes_within, wait_until
from support.postgres import PostgresServer, running

import sessiontrail
from sessiontrail.domain.qa_values import SessionTraceStep
from sessiontrail.domain.session import Session


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    with running() as server:
        yield server


def _commits_wait(server: PostgresServer, wait: bool) -> None:
    """Make commits wait for a standby that never comes (or stop that)."""
    value = "'nobody'" if wait else "''"
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        db.execute(f"ALTER SYSTEM SET synchronous_standby_names = {value}")
        db.execute("SELECT pg_reload_conf()")

    def reloaded() -> bool:  # a new connection starts with the postmaster's
        with psycopg.connect(server.dsn(), autocommit=True) as db:  # settings,
            row = db.execute("SHOW synchronous_standby_names").fetchone()  # so
            return row is not None and row[0] == value.strip("'")  # every one

    wait_until(reloaded, "the server's settings reloaded")  # has been signalled


def _cut_the_commit_reply(
    server: PostgresServer, write: Callable[[], object]
) -> BaseException | None:
    """Run `write` while commits wait; cut its connection once its commit is
    done locally (waiting for the standby); return what `write` raised."""
    _commits_wait(server, True)
    outcome: list[BaseException | None] = []

    def run() -> None:
        [result] = outcomes_within(60, write)
        outcome.append(result)

    thread = threading.Thread(target=run)
    thread.start()
    with psycopg.connect(server.dsn(), autocommit=True) as db:
        waiting: list[int] = []

        def found() -> bool:
            waiting[:] = [
                pid
                for (pid,) in db.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                ).fetchall()
            ]
            return bool(waiting)

        wait_until(found, "a commit waiting for the standby")
        db.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
    _commits_wait(server, False)
    thread.join(60)
    return outcome[0]


def test_a_session_save_whose_commit_reply_was_lost_is_stored_once(
    own_server: PostgresServer,
) -> None:
    url = own_server.url(own_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        s = trail.sessions.load_or_create("chat")
        s.append_message(role="user", content="first")
        trail.sessions.save(s)

        def save() -> None:
            s.append_message(role="user", content="second")
            trail.sessions.save(s)

        assert _cut_the_commit_reply(own_server, save) is None
        loaded = trail.sessions.load_merged("chat")
        assert loaded is not None
        assert [m.content for m in loaded.messages] == ["first", "second"]


def test_a_create_whose_commit_reply_was_lost_succeeds(
    own_server: PostgresServer,
) -> None:
    url = own_server.url(own_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        trail.sessions.save(trail.sessions.load_or_create("warm"))  # connections open

        def create() -> None:
            trail.sessions.create(Session(session_id="new"))

        outcome = _cut_the_commit_reply(own_server, create)
        assert trail.sessions.load_merged("new") is not None  # it is stored
        assert outcome is None, f"the caller was told: {outcome!r}"


def test_a_qa_entry_whose_commit_reply_was_lost_is_stored_once_and_succeeds(
    own_server: PostgresServer,
) -> None:
    url = own_server.url(own_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        trail.qa.create_qa_entry("chat", "q0", "a0", user_id="u")

        def add() -> None:
            trail.qa.create_qa_entry("chat", "q1", "a1", user_id="u", qa_id="e1")

        outcome = _cut_the_commit_reply(own_server, add)
        history = [e.event for e in trail.qa.history("chat", user_id="u")]
        assert outcome is None, f"the caller was told: {outcome!r}; stored: {history}"


def test_a_trace_step_whose_commit_reply_was_lost_is_stored_once(
    own_server: PostgresServer,
) -> None:
    url = own_server.url(own_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        step = SessionTraceStep(trace_id="t1", memory_query="plan")
        trail.qa.create_qa_entry("chat", "q0", "a0", user_id="u")

        def record() -> None:
            trail.qa.append_agent_trace_step("u", "chat", step)

        assert _cut_the_commit_reply(own_server, record) is None
        trail.projections.catch_up()
        steps = trail.qa.get_agent_trace_steps("u", "chat")
        assert len(steps) == 1, steps
