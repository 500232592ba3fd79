"""A catch-up stuck in this process (a read-model statement waiting on a lock,
say) holds the runner's catch-up lock: a save or a worker-mode read that needs
that lock waits for it at most the URL's lock timeout, as an append waits for
the write lock, and then goes on (a save: stored, its read models lag) or fails
(a read that must see its own writes: StorageUnavailable). Behind a catch-up
that moves the read models on (a backlog, batch by batch) they wait on, up to
PROGRESSING_WAIT lock timeouts in all."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.deadlines import outcomes_within
from support.langgraph import checkpoint, config
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable
from sessiontrail.infrastructure.backends import sqlite as sqlite_backend
from sessiontrail.infrastructure.log_position import LogPosition
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.projections import catch_up_lock
from sessiontrail.projections import runner as runner_module
from sessiontrail.projections.batches import BatchApplier
from sessiontrail.projections.runner import ProjectionRunner

BOUND = 1.0
"""The URL's lock timeout in these tests, seconds."""
HELD = 30.0
"""How long the stuck catch-up holds on unless released: far past the bound."""
STEP = 0.4
"""How long each batch of a progressing catch-up takes: well within the bound."""
BACKLOG = 5
"""Saves behind the read models when a progressing catch-up starts: in batches
of one event, STEP seconds each, it outlasts the bound several times."""


@pytest.fixture(params=["sqlite", "postgres"])
def bounded_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database whose URL sets the lock timeout to BOUND."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trail.db'}?lock_timeout={BOUND}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return f"{server.url(server.new_schema())}&lock_timeout={BOUND}"


@contextlib.contextmanager
def stuck_catch_up(monkeypatch: pytest.MonkeyPatch, start: Any) -> Iterator[None]:
    """`start()`, run in a thread named "stuck", gets into a catch-up and stays
    there, holding the catch-up lock, until the block ends."""
    entered, release = threading.Event(), threading.Event()
    batch = ProjectionRunner._catch_up_batch

    def held(self: ProjectionRunner, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "stuck":
            entered.set()
            release.wait(HELD)
        return batch(self, *args, **kwargs)

    monkeypatch.setattr(ProjectionRunner, "_catch_up_batch", held)
    holder = threading.Thread(target=start, name="stuck", daemon=True)
    holder.start()
    try:
        assert entered.wait(HELD)
        yield
    finally:
        release.set()
        holder.join(HELD)


def saved_once(trail: SessionTrail, session_id: str) -> None:
    session = trail.sessions.load_or_create(session_id)
    session.append_message(role="user", content="hello")
    trail.sessions.save(session)


@pytest.mark.expect_read_model_warnings  # the save's catch-up gives up, logged
def test_a_save_behind_a_stuck_catch_up_is_stored_within_the_lock_timeout(
    bounded_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The save's own catch-up waits the lock timeout for the stuck one, gives
    up (logged), and the save returns: its events are stored."""
    with (
        sessiontrail.connect(bounded_url) as trail,
        sessiontrail.connect(bounded_url, projections="worker") as other,
    ):
        saved_once(other, "elsewhere")  # the read models lag: the save catches up
        with stuck_catch_up(monkeypatch, trail.projections.catch_up):
            began = time.monotonic()
            [outcome] = outcomes_within(HELD, lambda: saved_once(trail, "mine"))
            waited = time.monotonic() - began
        assert outcome is None
        assert BOUND * 0.9 <= waited < HELD / 3
        stored = other.sessions.load("mine")  # read from the log, not a cache
        assert stored is not None
        assert [message.content for message in stored.messages] == ["hello"]
        assert "lag until the next catch-up" in caplog.text


def test_a_worker_mode_read_behind_a_stuck_catch_up_fails_within_the_lock_timeout(
    bounded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker-mode read that must see its own writes (the LangGraph saver's)
    cannot read past the stuck catch-up: StorageUnavailable after the bound."""
    with sessiontrail.connect(bounded_url, projections="worker") as trail:
        saved_once(trail, "lagging")  # the read finds the read model behind

        def read() -> None:
            trail.langgraph.namespaces("thread")

        with stuck_catch_up(monkeypatch, read):
            began = time.monotonic()
            [outcome] = outcomes_within(HELD, read)
            waited = time.monotonic() - began
        assert isinstance(outcome, StorageUnavailable), outcome
        assert "catch-up" in str(outcome)
        assert BOUND * 0.9 <= waited < HELD / 3


def test_a_memory_logs_read_models_held_by_another_thread_fail_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A memory:// log's read models live in one in-memory database that the
    trails of a named log share: a thread holding it (a write stuck there) keeps
    another's read waiting at most the default lock timeout, not for ever."""
    monkeypatch.setattr(sqlite_backend, "DEFAULT_LOCK_TIMEOUT", BOUND)
    with sessiontrail.connect("memory://bounded") as trail:
        saved_once(trail, "first")
        held = trail.projections._database._database._lock
        taken, release = threading.Event(), threading.Event()

        def hold() -> None:
            with held:
                taken.set()
                release.wait(HELD)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        try:
            assert taken.wait(HELD)
            began = time.monotonic()
            [outcome] = outcomes_within(HELD, lambda: trail.sessions.list())
            waited = time.monotonic() - began
        finally:
            release.set()
            holder.join(HELD)
        assert isinstance(outcome, StorageUnavailable), outcome
        assert BOUND * 0.9 <= waited < HELD / 3


@contextlib.contextmanager
def progressing_catch_up(
    monkeypatch: pytest.MonkeyPatch, start: Any
) -> Iterator[threading.Event]:
    """`start()`, run in a thread named "busy", catches up a backlog in batches
    of one event (each a full batch, so it goes on), every batch taking STEP
    seconds and committing, and holds the catch-up lock until done. Setting the
    event yielded makes its remaining batches quick."""
    entered, hurry = threading.Event(), threading.Event()
    batch, notifications = ProjectionRunner._catch_up_batch, BatchApplier.notifications

    def slow(self: ProjectionRunner, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "busy":
            entered.set()
            hurry.wait(STEP)
        return batch(self, *args, **kwargs)

    def one(self: BatchApplier, after: LogPosition, limit: int = 1) -> Any:
        return notifications(self, after, limit)

    monkeypatch.setattr(runner_module, "BATCH_SIZE", 1)
    monkeypatch.setattr(BatchApplier, "notifications", one)
    monkeypatch.setattr(ProjectionRunner, "_catch_up_batch", slow)
    holder = threading.Thread(target=start, name="busy", daemon=True)
    holder.start()
    try:
        assert entered.wait(HELD)
        yield hurry
    finally:
        hurry.set()
        holder.join(HELD)


def backlog(trail: SessionTrail, saves: int = BACKLOG) -> None:
    """Saves a worker-mode trail leaves the read models behind."""
    for number in range(saves):
        saved_once(trail, f"backlog-{number}")


def test_a_worker_mode_read_behind_a_progressing_catch_up_waits_and_sees_its_write(
    bounded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another thread's catch-up of a backlog holds the lock for several lock
    timeouts, but moves the read models on batch after batch: the LangGraph
    saver's read waits it out and reads the checkpoint it has just put."""
    with sessiontrail.connect(bounded_url, projections="worker") as trail:
        saver = TrailSaver(trail)
        backlog(trail)
        read: list[str] = []

        def put_then_read() -> None:
            saved = checkpoint({"step": 1}, {"step": 1})
            saver.put(config("t1"), saved, {"step": 1}, {"step": 1})
            found = saver.get_tuple(config("t1"))
            read.append("nothing" if found is None else found.checkpoint["id"])
            read.append(saved["id"])

        with progressing_catch_up(
            monkeypatch, lambda: trail.langgraph.namespaces("thread")
        ):
            began = time.monotonic()
            [outcome] = outcomes_within(HELD, put_then_read)
            waited = time.monotonic() - began
        assert outcome is None
        assert read[0] == read[1]
        assert BOUND * 2 < waited < HELD / 3


def test_a_save_behind_a_progressing_catch_up_returns_with_its_read_models_current(
    bounded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inline save behind another thread's catch-up of a backlog waits while
    it moves the read models on, and returns once they hold the save, rather
    than after the lock timeout with them behind (a warning)."""
    with (
        sessiontrail.connect(bounded_url) as trail,
        sessiontrail.connect(bounded_url, projections="worker") as other,
    ):
        backlog(other)
        with progressing_catch_up(monkeypatch, trail.projections.catch_up):
            began = time.monotonic()
            [outcome] = outcomes_within(HELD, lambda: saved_once(trail, "mine"))
            waited = time.monotonic() - began
            behind = trail.projections.behind()
        assert outcome is None
        assert not behind
        assert BOUND * 2 < waited < HELD / 3


def test_a_read_behind_a_catch_up_that_never_ends_fails_after_the_overall_bound(
    bounded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-up still moving the read models on after PROGRESSING_WAIT lock
    timeouts (a log that grows as fast as it is applied) is waited for no
    longer: the read fails, naming the catch-up."""
    monkeypatch.setattr(catch_up_lock, "PROGRESSING_WAIT", 3)
    with sessiontrail.connect(bounded_url, projections="worker") as trail:
        backlog(trail, saves=4 * BACKLOG)  # far more than 3 lock timeouts' worth

        def read() -> None:
            trail.langgraph.namespaces("thread")

        with progressing_catch_up(monkeypatch, read):
            began = time.monotonic()
            [outcome] = outcomes_within(HELD, read)
            waited = time.monotonic() - began
        assert isinstance(outcome, StorageUnavailable), outcome
        assert "catch-up, still moving them on" in str(outcome)
        assert 3 * BOUND * 0.9 <= waited < 3 * BOUND + 2 * STEP
