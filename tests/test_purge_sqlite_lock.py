"""A purge on SQLite waits for another writer's lock as every write does (up to
the URL's lock_timeout), rather than failing at once with "database is locked"."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

import sessiontrail
from sessiontrail.domain.errors import StorageUnavailable

LOCK_TIMEOUT = 1.0


def test_a_purge_waits_the_lock_timeout_for_another_writers_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trail.db"
    with sessiontrail.connect(f"sqlite:///{path}?lock_timeout={LOCK_TIMEOUT}") as trail:
        session = trail.sessions.load_or_create("chat-7")
        session.append_message(role="user", content="one")
        trail.sessions.save(session)
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process's write, in progress
        try:
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match="locked"):
                trail.sessions.purge("chat-7")
            waited = time.monotonic() - started
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert waited >= LOCK_TIMEOUT * 0.9
        trail.sessions.purge("chat-7")  # once the lock is free, it goes through
        assert trail.sessions.load("chat-7") is None
