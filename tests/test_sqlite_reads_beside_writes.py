"""SQLite: reads of the read models run on read-only connections of their own,
so a long write (one user's erasure rewriting the read models) never stops
another user's reads; those connections are few, bounded in their waits, and
closed with the trail."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from support.deadlines import outcomes_within

import sessiontrail
from sessiontrail import StorageUnavailable
from sessiontrail.infrastructure.backends.sqlite import SQLiteDatabase
from sessiontrail.infrastructure.backends.sqlite_read_pool import ReadConnections
from sessiontrail.projections.sessions import SessionsProjection

BOUND = 0.2
"""The lock timeout in these tests, seconds."""


@pytest.mark.parametrize("mode", ["inline", "worker"])
def test_a_list_during_another_users_erasure_reads_the_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The erasure is held inside its rewrite of the read models (which holds
    the file's write lock and, inline, the catch-up) while another user lists."""
    url = f"sqlite:///{tmp_path / 't.db'}?lock_timeout={BOUND}"
    with sessiontrail.connect(url, projections=mode) as trail:
        for user in ("big", "other"):
            session = trail.sessions.load_or_create(f"{user}-chat", user_id=user)
            session.append_message(role="user", content="hello")
            trail.sessions.save(session)
        trail.projections.catch_up()
        listed: list[list[str]] = []
        outcome: list[BaseException | None] = []
        forget = SessionsProjection.forget

        def forget_while_listing(
            self: Any, cur: Any, user_id: str, streams: Any
        ) -> None:
            forget(self, cur, user_id, streams)
            if user_id == "big" and not outcome:  # the erasure, holding the lock

                def list_other() -> None:
                    page = trail.sessions.list(user_id="other")
                    listed.append([item.session_id for item in page.items])

                outcome.extend(outcomes_within(30, list_other))

        monkeypatch.setattr(SessionsProjection, "forget", forget_while_listing)
        trail.erase_user("big")
        trail.projections.catch_up()
        assert outcome == [None], f"the list failed: {outcome[0]!r}"
        assert listed == [["other-chat"]]


def test_a_read_waits_for_a_free_connection_at_most_the_lock_timeout(
    tmp_path: Path,
) -> None:
    """Every connection busy: a further read fails as a storage error after
    the timeout, and reads again once one is given back."""
    reads = ReadConnections(str(tmp_path / "t.db"), BOUND, size=1)
    try:
        with reads.read():
            began = time.monotonic()
            with (
                pytest.raises(StorageUnavailable, match="free connection"),
                reads.read(),
            ):
                pass
            waited = time.monotonic() - began
        assert 0.9 * BOUND <= waited < 10 * BOUND
        with reads.read() as cur:
            assert cur.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        reads.close()


def test_a_read_cannot_write(tmp_path: Path) -> None:
    """The reading connections are query-only: a write through one is refused."""
    database = SQLiteDatabase.open_file(str(tmp_path / "t.db"), BOUND)
    try:
        with (
            pytest.raises(StorageUnavailable, match="readonly"),
            database.read() as cur,
        ):
            cur.execute("CREATE TABLE t (a INTEGER)")
    finally:
        database.close()


def test_closing_during_a_read_closes_its_connection_as_it_ends(
    tmp_path: Path,
) -> None:
    """close() does not wait for a running read: the read finishes on its
    connection, which is closed as it ends; a later read is refused."""
    reads = ReadConnections(str(tmp_path / "t.db"), BOUND)
    with reads.read() as cur:
        reads.close()
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
        assert reads._opened == 1  # the running read's, still open
    assert (reads._opened, reads._idle) == (0, [])
    with pytest.raises(StorageUnavailable, match="closed"), reads.read():
        pass
