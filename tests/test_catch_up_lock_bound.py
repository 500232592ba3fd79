"""A catch-up stuck in this process (a read-model statement waiting on a lock,
say) holds the runner's catch-up lock: a save or a worker-mode read that needs
that lock waits for it at most the URL's lock timeout, as an append waits for
the write lock, and then goes on (a save: stored, its read models lag) or fails
(a read that must see its own writes: StorageUnavailable)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.deadlines import outcomes_within
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable
from sessiontrail.projections.runner import ProjectionRunner

BOUND = 1.0
"""The URL's lock timeout in these tests, seconds."""
HELD = 30.0
"""How long the stuck catch-up holds on unless released: far past the bound."""


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
