"""Database outages: clear errors in bounded time, nothing half-written, recovery."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import SessionTrail, StorageUnavailable

CONNECT_TIMEOUT = 1
# eventsourcing tries each PostgreSQL call 10 times, 0.2 s apart, to ride out blips.
FAILURE_BOUND = 10 * (CONNECT_TIMEOUT + 0.2) + 5


# psycopg_pool re-connects in the background with a growing pause (1 s, doubling).
RECOVERY_BOUND = 90


def wait_for_recovery(trail: SessionTrail) -> float:
    """Seconds until both pools answer again after a restart, polling as a caller
    would: the log's and the read models' (each reconnects on its own schedule)."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_BOUND:
        try:
            trail.sessions.exists("up")  # reads the log, never the cache
            trail.sessions.list(limit=1)  # reads the read models
        except StorageUnavailable:
            continue
        return time.monotonic() - started
    return RECOVERY_BOUND


@contextmanager
def fails_within(seconds: float) -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < seconds


def test_postgres_stopped_and_restarted_under_one_trail(
    own_postgres: PostgresServer,
) -> None:
    url = own_postgres.url(own_postgres.new_schema())
    url += f"&connect_timeout={CONNECT_TIMEOUT}"
    with sessiontrail.connect(url) as trail:
        repo = trail.sessions
        session = repo.load_or_create("up")
        session.append_message(role="user", content="before the outage")
        repo.save(session)

        own_postgres.halt()
        with fails_within(FAILURE_BOUND), pytest.raises(StorageUnavailable):
            repo.try_load("elsewhere")
        with fails_within(FAILURE_BOUND):
            assert repo.load("elsewhere") is None  # load's contract: None, logged
        session.append_message(role="user", content="during the outage")
        with fails_within(FAILURE_BOUND), pytest.raises(StorageUnavailable):
            repo.save(session)
        assert repo.load("up").version == 2  # the cache still answers
        assert len(session.pending_events) == 1
        with fails_within(FAILURE_BOUND):
            assert trail.assets.sync_status().state == "offline"

        own_postgres.resume()
        recovered_in = wait_for_recovery(trail)  # the same trail, not recreated
        assert recovered_in < RECOVERY_BOUND
        repo.save(session)
        assert [m.content for m in repo.try_load("up").messages] == [
            "before the outage",
            "during the outage",
        ]
        assert trail.assets.sync_status().state == "in_sync"
    with sessiontrail.connect(url) as fresh:
        assert len(fresh.sessions.history("up")) == 3


@pytest.mark.parametrize(
    ("lock_timeout", "shortest", "longest"),
    [("1", 1.0, 10.0), ("0.3", 0.3, 1.0)],  # whole seconds would wait 1 s for 0.3
)
def test_sqlite_locked_past_the_busy_timeout_fails_cleanly(
    tmp_path: Path, lock_timeout: str, shortest: float, longest: float
) -> None:
    path = tmp_path / "locked.db"
    with sessiontrail.connect(f"sqlite:///{path}?lock_timeout={lock_timeout}") as trail:
        session = trail.sessions.load_or_create("s")
        trail.sessions.save(session)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            session.append_message(role="user", content="blocked")
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match="locked"):
                trail.sessions.save(session)
            assert shortest <= time.monotonic() - started < longest
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        trail.sessions.save(session)  # works again once the lock is gone
        assert len(trail.sessions.history("s")) == 2
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()


def test_a_file_that_is_not_a_database_is_a_clear_error_and_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my notes, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StorageUnavailable, match="not a database"):
        sessiontrail.connect(f"sqlite:///{path}")
    assert path.read_bytes() == before


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files read-only even for root (immutable attribute), then writable again."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        else:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_database_is_a_clear_error_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 't.db'}"
    with sessiontrail.connect(url) as trail:
        trail.sessions.save(trail.sessions.load_or_create("s"))
    files = sorted(folder.iterdir())
    before = {path: path.read_bytes() for path in files}
    with read_only(folder, *files), pytest.raises(StorageUnavailable, match="database"):
        sessiontrail.connect(url)  # WAL needs a writable file and folder: fails at once
    assert {path: path.read_bytes() for path in files} == before
    with sessiontrail.connect(url) as trail:
        assert len(trail.sessions.history("s")) == 1
