"""An inline save on SQLite is one transaction: its events and its read models'
rows commit together, fsynced, on the append's own connection."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.application import project_aggregate

import sessiontrail
from sessiontrail import Session, StorageUnavailable
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL
from sessiontrail.infrastructure.sql import Cursor
from sessiontrail.projections.projection import LIVE


def test_an_inline_save_leaves_its_read_models_current_when_it_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing after the events' commit is needed: a second transaction of the
    read models' own connection would fail here, and is never opened."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("chat", user_id="alice")
        trail.sessions.save(session)

        @contextlib.contextmanager
        def unwritable() -> Iterator[Cursor]:
            raise StorageUnavailable("the read models' own connection cannot write")
            yield  # pragma: no cover - a generator, never reached

        monkeypatch.setattr(trail.read_models, "write", unwritable)
        session.append_message(role="user", content="hello")
        trail.sessions.save(session)
        with sessiontrail.connect(url, projections="worker") as other:
            # a worker-mode trail catches nothing up when it opens or reads
            assert {status.lag for status in other.projections.status()} == {0}
            [summary] = other.sessions.list(user_id="alice").items
            assert summary.message_count == 1


def test_a_message_an_inline_save_removes_leaves_no_bytes_in_the_file(
    tmp_path: Path,
) -> None:
    """The rows an inline save deletes are zeroed, as the read models' own
    connection zeroes them: no plaintext stays in freed space for an erasure to
    miss (the log holds the message sealed with its user's key; the audit
    summary only its first words). SQLite builds with SQLITE_SECURE_DELETE zero
    them by default; the others only when asked."""
    path = tmp_path / "log.db"
    with sessiontrail.connect(f"sqlite:///{path}") as trail:
        session = trail.sessions.load_or_create("chat", user_id="alice")
        session.append_message(role="user", content="kept")
        session.append_message(role="user", content="x" * 2000 + " MARK-alice")
        trail.sessions.save(session)
        session.truncate(1)
        trail.sessions.save(session)
        with sqlite3.connect(path) as raw:  # the latest pages into the file
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        files = b"".join(path.read_bytes() for path in sorted(tmp_path.glob("log.db*")))
        assert b"MARK-alice" not in files


def test_a_save_crossing_a_snapshot_interval_snapshots_without_a_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's object is the stream at that version: its state is what a
    replay gives, so the snapshot is taken from it."""
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'log.db'}") as trail:
        session = trail.sessions.load_or_create("chat", user_id="alice")
        session.edit_title("Plan")
        session.set_pinned(True)
        session.update_metadata({"topic": "x"})
        trail.sessions.save(session)
        while session.version < SNAPSHOT_INTERVAL - 1:
            session.append_message(role="user", content=f"m{session.version}")
            trail.sessions.save(session)
        session.set_pending_question(
            {"tool_call_id": "q", "tool_name": "ask", "question": "?"}
        )

        def no_replay(*args: object, **kwargs: object) -> None:
            raise AssertionError("the snapshot replayed the stream")

        with monkeypatch.context() as patch:
            patch.setattr(trail.store.repository, "get", no_replay)
            trail.sessions.save(session)
        assert trail.store.snapshots is not None
        [snapshot] = trail.store.snapshots.get(session.id)
        assert snapshot.originator_version == SNAPSHOT_INTERVAL
        events = trail.store.events_until(session.id, SNAPSHOT_INTERVAL)
        replayed = project_aggregate(None, events)
        assert isinstance(replayed, Session)
        assert snapshot.state == replayed.to_state()
        assert replayed.pending_question is not None and replayed.pinned


def test_an_inline_save_moves_no_registry_row_of_a_read_model_it_does_not_write(
    trail: sessiontrail.SessionTrail,
) -> None:
    """A read model of another release (a name or version this code does not
    know) keeps its place: the save moves only the read models it applied."""
    with trail.read_models.write() as cur:
        cur.execute(
            f"INSERT INTO {LIVE} (name, generation, version, position, skipped) "
            "VALUES ('newer', 1, 1, 0, 0)"
        )
    session = trail.sessions.load_or_create("chat", user_id="alice")
    session.append_message(role="user", content="hello")
    trail.sessions.save(session)

    with trail.read_models.read() as cur:
        rows = cur.execute(f"SELECT name, position FROM {LIVE}").fetchall()
    assert {name: position > 0 for name, position in rows} == {
        name: name != "newer" for name, _ in rows
    }
