"""SQLite: a save waits a bounded time for another thread's append while a read
of the read models does not wait for it, and a trail closing while a save races
it leaves no connection open."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.sqlite import SQLiteConnectionPool

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable
from sessiontrail.infrastructure.backends.sqlite_store import GuardedRecorder
from sessiontrail.integrations.langgraph import TrailSaver

BOUND = 0.2
"""The lock timeout and the pool's timeout in these tests, seconds."""


@contextlib.contextmanager
def stuck_append(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Another thread's append that holds the file's write lock and does not
    return until the block ends."""
    stuck = trail.sessions.load_or_create("stuck")
    trail.sessions.save(stuck)
    entered, release = threading.Event(), threading.Event()
    insert = GuardedRecorder._insert_events

    def held(self: Any, cursor: Any, records: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "stuck":
            entered.set()
            release.wait(30)  # an append that does not return until told
        return insert(self, cursor, records, **kwargs)

    monkeypatch.setattr(GuardedRecorder, "_insert_events", held)
    stuck.append_message(role="user", content="stuck")
    holder = threading.Thread(target=trail.sessions.save, args=(stuck,), name="stuck")
    holder.start()
    try:
        assert entered.wait(30)
        yield
    finally:
        release.set()
        holder.join()


def test_a_save_behind_another_threads_stuck_append_fails_after_the_lock_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stuck thread holds the file's write lock: the other save waits the
    URL's lock timeout for it, then fails as a storage error, nothing written."""
    url = f"sqlite:///{tmp_path / 't.db'}?lock_timeout={BOUND}"
    with sessiontrail.connect(url, projections="worker") as trail:
        other = trail.sessions.load_or_create("other")
        trail.sessions.save(other)
        with stuck_append(trail, monkeypatch):
            other.append_message(role="user", content="waits")
            began = time.monotonic()
            with pytest.raises(StorageUnavailable, match="timed out waiting"):
                trail.sessions.save(other)
            waited = time.monotonic() - began
        assert waited < 10 * BOUND  # not the 30 s the stuck append would take
        assert trail.store.stream_version(other.id) == 1


@pytest.mark.parametrize("mode", ["inline", "worker"])
def test_a_read_beside_another_threads_stuck_append_reads_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Reads of the read models have connections of their own, not the file's
    write lock: one reads the last committed state while an append is stuck
    (a read behind the lock would wait the lock timeout, then fail)."""
    url = f"sqlite:///{tmp_path / 't.db'}?lock_timeout=5"
    with sessiontrail.connect(url, projections=mode) as trail:
        earlier = trail.sessions.load_or_create("earlier")
        trail.sessions.save(earlier)
        trail.projections.catch_up()
        with stuck_append(trail, monkeypatch):
            began = time.monotonic()
            listed = {item.session_id for item in trail.sessions.list().items}
            waited = time.monotonic() - began
        # "stuck" was saved once before it stuck: inline mode applied that save
        # as it committed; in worker mode no worker runs here to apply it.
        assert listed == ({"earlier", "stuck"} if mode == "inline" else {"earlier"})
        assert waited < 5  # not the lock timeout


def test_a_langgraph_read_behind_a_stuck_append_fails_after_the_lock_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LangGraph saver reads on the appending connection (inline mode): it
    waits the URL's lock timeout for a stuck append's, then fails as a storage
    error."""
    url = f"sqlite:///{tmp_path / 't.db'}?lock_timeout={BOUND}"
    with sessiontrail.connect(url) as trail:
        saver = TrailSaver(trail)
        with stuck_append(trail, monkeypatch):
            began = time.monotonic()
            with pytest.raises(StorageUnavailable, match="timed out waiting"):
                saver.get_tuple({"configurable": {"thread_id": "t1"}})
            waited = time.monotonic() - began
        assert waited < 10 * BOUND
        assert saver.get_tuple({"configurable": {"thread_id": "t1"}}) is None


def test_a_save_racing_the_trails_close_opens_no_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that reaches the appending connection while the pool closes is
    refused, and the closed pool keeps no appending connection open."""
    trail = sessiontrail.connect(f"sqlite:///{tmp_path / 't.db'}", projections="worker")
    session = trail.sessions.load_or_create("s")
    trail.sessions.save(session)
    pool = trail.store.recorder.datastore.pool
    pool.pool_timeout = BOUND
    close = SQLiteConnectionPool.close
    outcome: list[str] = []

    def racing(self: Any) -> None:
        """The base pool's close, with a save from another thread at its start."""
        if self is pool and not outcome:
            session.append_message(role="user", content="during close")

            def save() -> None:
                try:
                    trail.sessions.save(session)
                    outcome.append("saved")
                except StorageUnavailable:
                    outcome.append("refused")

            racer = threading.Thread(target=save)
            racer.start()
            racer.join()
        close(self)

    monkeypatch.setattr(SQLiteConnectionPool, "close", racing)
    trail.close()
    assert (outcome, pool._appender) == (["refused"], None)


def test_closing_behind_a_stuck_append_returns_after_the_lock_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """close() waits the lock timeout for the stuck append, says what it left
    (the append's connection), and that connection is closed when it ends."""
    url = f"sqlite:///{tmp_path / 't.db'}?lock_timeout={BOUND}"
    trail = sessiontrail.connect(url, projections="worker")
    pool = trail.store.recorder.datastore.pool
    with stuck_append(trail, monkeypatch):
        began = time.monotonic()
        trail.close()
        waited = time.monotonic() - began
        assert waited < 10 * BOUND  # not the 30 s the stuck append would take
        assert "an append still running" in caplog.text
        assert pool._appender is not None  # the stuck append's, still in use
    assert pool._appender is None  # closed as the append ended
