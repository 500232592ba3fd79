"""Blue/green rebuilds: a new generation beside the live one, swapped atomically."""

from __future__ import annotations

import threading

import pytest
from support.deadlines import wait_until

import sessiontrail
from sessiontrail import SessionTrail, SessiontrailError, StorageUnavailable
from sessiontrail.domain.session import Session
from sessiontrail.infrastructure.sql import Cursor
from sessiontrail.projections import runner as runner_module
from sessiontrail.projections.audit import AuditProjection
from sessiontrail.projections.batches import BatchApplier
from sessiontrail.projections.projection import Table
from sessiontrail.projections.qa import QAProjection
from sessiontrail.projections.rebuild import Rebuilder
from sessiontrail.projections.runner import ProjectionRunner
from sessiontrail.projections.sessions import SessionsProjection
from sessiontrail.projections.skips import Skips
from sessiontrail.projections.usage import UsageProjection


class SessionsWithTitleLength(SessionsProjection):
    """A schema change: the next version adds a column to the session index."""

    version = SessionsProjection.version + 1
    tables = (
        Table(
            "sessions",
            SessionsProjection.tables[0].columns
            + ", title_length INTEGER NOT NULL DEFAULT 0",
            SessionsProjection.tables[0].indexes,
        ),
        *SessionsProjection.tables[1:],
    )

    def apply(self, event: Session.Event, cur: Cursor, position: int) -> None:
        super().apply(event, cur, position)
        cur.execute(
            f"UPDATE {self.table('sessions')} SET title_length = LENGTH(title) "
            "WHERE stream = ?",
            (str(event.originator_id),),
        )


def runner_v2(trail: SessionTrail) -> ProjectionRunner:
    """The runner a newer release of the code would have, on the same database."""
    return ProjectionRunner(
        trail.store,
        trail.read_models,
        (SessionsWithTitleLength, UsageProjection, AuditProjection, QAProjection),
        Skips(),
    )


def chat(trail: SessionTrail, session_id: str, messages: int) -> None:
    session = trail.sessions.load_or_create(session_id, user_id="u")
    session.edit_title(f"Chat {session_id}")
    for number in range(messages):
        session.append_message(role="user", content=f"{session_id}/{number}")
        trail.sessions.save(session)


def test_a_rebuild_reproduces_the_live_read_models(trail: SessionTrail):
    for number in range(5):
        chat(trail, f"s{number}", 3)
    trail.sessions.delete("s1")
    before = {n: trail.projections.rows(n) for n in ("sessions", "usage", "audit")}
    reports: list[tuple[int, int]] = []

    status = trail.projections.rebuild(
        "sessions", progress=lambda *r: reports.append(r)
    )
    trail.projections.rebuild("audit")
    trail.projections.rebuild("usage")

    after = {n: trail.projections.rows(n) for n in ("sessions", "usage", "audit")}
    assert after == before
    head = trail.store.head()
    assert reports[-1] == (head, head)
    assert (status.position, status.lag, status.state) == (head, 0, "in_sync")
    chat(trail, "later", 1)  # writes after the swap land in the new generation
    assert trail.sessions.list(limit=1).items[0].session_id == "later"


def test_a_schema_change_is_rebuilt_while_writers_append(trail: SessionTrail):
    for number in range(20):
        chat(trail, f"s{number}", 5)
    newer = runner_v2(trail)
    assert [s.state for s in newer.status() if s.name == "sessions"] == [
        "needs_rebuild"
    ]
    stop = threading.Event()
    written: list[str] = []
    listed: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            number = 0
            while not stop.is_set():
                chat(trail, f"during{number}", 2)
                written.append(f"during{number}")
                number += 1
        except BaseException as exc:  # reported below
            failures.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                listed.append(len(trail.sessions.list_paginated()))
        except BaseException as exc:  # reported below
            failures.append(exc)

    def written_or_failed(count: int) -> bool:
        return len(written) >= count or bool(failures)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: written_or_failed(3), "sessions written before the rebuild")
        newer.rebuild("sessions")
        wait_until(lambda: written_or_failed(6), "sessions written after the rebuild")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert listed == sorted(listed), "a reader saw sessions disappear mid-rebuild"
    statuses = {status.name: status for status in trail.projections.status()}
    assert statuses["sessions"].state == "newer"  # old code leaves it alone
    newer.catch_up()
    live = newer.rows("sessions")
    newer.rebuild("sessions")  # from scratch, after every write
    assert newer.rows("sessions") == live
    ids = {row[1] for row in live["sessions"]}
    assert set(written) <= ids and len(ids) == 20 + len(written)
    assert {row[-1] for row in live["sessions"]} == {
        len(f"Chat {session_id}") for session_id in ids
    }
    assert len(live["messages"]) == 20 * 5 + 2 * len(written)


def test_connecting_with_newer_code_rebuilds_outdated_read_models(
    trail: SessionTrail,
):
    chat(trail, "a", 2)
    newer = runner_v2(trail)
    assert newer.upgrade() == ["sessions"]
    assert newer.upgrade() == []
    live = {status.name: status.live_version for status in newer.status()}
    assert live == {
        "audit": AuditProjection.version,
        "qa": QAProjection.version,
        "sessions": SessionsWithTitleLength.version,  # the one rebuilt
        "usage": UsageProjection.version,
    }
    assert len(newer.rows("sessions")["sessions"]) == 1


def test_a_second_rebuild_supersedes_an_abandoned_one(trail: SessionTrail):
    chat(trail, "a", 2)
    crashed = Rebuilder(trail.read_models, BatchApplier(trail.store))
    abandoned = crashed.start(SessionsProjection)  # a build that never finished
    trail.projections.rebuild("sessions")
    with pytest.raises(SessiontrailError, match="superseded"):
        crashed.batch(abandoned, swap=True)
    assert len(trail.projections.rows("sessions")["messages"]) == 2


def test_replaced_tables_are_dropped_once_readers_are_done(
    url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(runner_module, "RETIRED_KEPT", 0.0)
    monkeypatch.setattr(runner_module, "SWEEP_EVERY", 0.0)
    with sessiontrail.connect(url) as trail:
        chat(trail, "a", 1)
        trail.projections.rebuild("sessions")
        with trail.read_models.read() as cur:
            assert cur.execute("SELECT COUNT(*) FROM st_sessions_g1").fetchone()
        chat(trail, "b", 1)  # the next catch-up sweeps retired generations
        with pytest.raises(StorageUnavailable), trail.read_models.read() as cur:
            cur.execute("SELECT COUNT(*) FROM st_sessions_g1")
        assert len(trail.sessions.list().items) == 2
