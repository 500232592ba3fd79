"""Purging one session: afterwards nothing of it is readable or stored (the files
and tables hold none of its content), every other session is untouched, and the
log still verifies and records who purged it, when and why."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
from support.postgres import PostgresServer
from test_erasure import disk, write_everything
from test_sealed_read_models import tables_text

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.errors import (
    ConcurrencyConflict,
    InvalidInput,
    SessionNotFound,
)
from sessiontrail.domain.purge import Purge
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure import purge_watch


def everything_of(trail: SessionTrail, user: str) -> object:
    """What every reader gives for `chat-<user>`, to compare before and after."""
    session_id = f"chat-{user}"
    repo = trail.sessions
    session = repo.load(session_id, user_id=user)
    assert session is not None
    return (
        (session.version, session.title, session.metadata, session.token_usage),
        [m.model_dump() for m in session.messages],
        [h.model_dump() for h in repo.history(session_id)],
        [s.model_dump() for s in repo.list(user_id=user).items],
        [e.model_dump() for e in trail.qa.get_all_qa_entries(session_id, user_id=user)],
        [r.model_dump() for r in trail.usage.records(session_id, user_id=user)],
        [
            (e.event, e.summary, e.version)
            for e in trail.audit.entries(session_id=session_id).items
        ],
    )


def check_purged(trail: SessionTrail) -> None:
    """Alice's session reads as missing everywhere; its content is in no read."""
    repo = trail.sessions
    assert repo.load("chat-alice") is None
    assert not repo.exists("chat-alice")
    with pytest.raises(SessionNotFound):
        repo.history("chat-alice")
    assert repo.at("chat-alice", version=1) is None
    assert [s.session_id for s in repo.list().items] == ["chat-bob"]
    assert trail.qa.get_all_qa_entries("chat-alice", user_id="alice") == []
    assert trail.qa.get_agent_trace_steps("alice", "chat-alice") == []
    with pytest.raises(SessionNotFound):
        trail.usage.records("chat-alice", user_id="alice")
    [entry] = trail.audit.entries(session_id="chat-alice").items
    assert (entry.event, entry.actor) == ("SessionPurged", "dpo@example.com")
    assert "MARK-alice" not in entry.summary
    exported = io.StringIO()
    trail.exporter.write(exported)
    assert "MARK-alice" not in exported.getvalue()
    assert "MARK-bob" in exported.getvalue()


def test_a_purged_session_reads_as_missing_and_others_are_untouched(
    trail: SessionTrail,
) -> None:
    write_everything(trail, "alice", messages=120)  # a snapshot at version 100
    write_everything(trail, "bob")
    bob = everything_of(trail, "bob")
    report = trail.sessions.purge(
        "chat-alice", user_id="alice", actor="dpo@example.com", reason="user request"
    )
    assert (report.events, report.snapshots, report.qa_events) == (126, 1, 4)
    assert report.last_version == 126 and report.chain_ok
    check_purged(trail)
    assert everything_of(trail, "bob") == bob
    assert trail.verify().ok


def test_purge_on_sqlite_leaves_no_content_in_any_file(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with sessiontrail.connect(f"sqlite:///{path}") as trail:
        write_everything(trail, "alice", messages=120)
        write_everything(trail, "bob")
        assert b"MARK-alice" in disk(tmp_path)
        report = trail.sessions.purge("chat-alice", actor="dpo@example.com")
        assert report.log_compacted
        assert b"MARK-alice" not in disk(tmp_path)  # main, -wal, -shm, freed pages
        assert b"MARK-bob" in disk(tmp_path)
        check_purged(trail)
    with sqlite3.connect(path) as db:
        left = db.execute(
            "SELECT COUNT(*) FROM stored_events WHERE originator_id = ?",
            (stream_id("chat-alice").hex,),
        ).fetchone()
    assert left == (0,)


def test_purge_on_postgres_leaves_no_content_in_any_table(
    postgres_server: PostgresServer,
) -> None:
    schema = postgres_server.new_schema()
    with sessiontrail.connect(postgres_server.url(schema)) as trail:
        write_everything(trail, "alice", messages=120)
        write_everything(trail, "bob")
        assert "MARK-alice" in tables_text(postgres_server, schema)
        trail.sessions.purge("chat-alice", actor="dpo@example.com")
        text = tables_text(postgres_server, schema)
        assert "MARK-alice" not in text and b"MARK-alice".hex() not in text
        assert "MARK-bob" in text
        check_purged(trail)


def test_purging_another_users_session_is_refused_like_a_missing_one(
    trail: SessionTrail,
) -> None:
    write_everything(trail, "alice")
    with pytest.raises(SessionNotFound) as theirs:
        trail.sessions.purge("chat-alice", user_id="bob")
    with pytest.raises(SessionNotFound) as missing:
        trail.sessions.purge("chat-nobody", user_id="bob")
    assert str(theirs.value) == "no session 'chat-alice'"
    assert str(missing.value) == "no session 'chat-nobody'"
    assert trail.sessions.load("chat-alice", user_id="alice") is not None


def test_purging_a_purged_session_again_is_not_found(trail: SessionTrail) -> None:
    write_everything(trail, "alice")
    trail.sessions.purge("chat-alice")
    with pytest.raises(SessionNotFound, match="no session 'chat-alice'"):
        trail.sessions.purge("chat-alice")


def test_a_bad_reason_is_refused_and_nothing_is_purged(trail: SessionTrail) -> None:
    write_everything(trail, "alice")
    with pytest.raises(InvalidInput, match="reason"):
        trail.sessions.purge("chat-alice", reason="two\nlines")
    assert trail.sessions.load("chat-alice") is not None


def test_the_purge_record_says_who_when_why_and_how_much(trail: SessionTrail) -> None:
    write_everything(trail, "alice")
    report = trail.sessions.purge("chat-alice", actor="dpo", reason="user request")
    [record] = [
        e for e in trail.store.every_event() if isinstance(e, Purge.SessionPurged)
    ]
    assert (record.session_id, record.user_id, record.actor, record.reason) == (
        "chat-alice",
        "alice",
        "dpo",
        "user request",
    )
    session, qa = record.streams
    assert (session.kind, session.events, session.last_hash) == (
        "session",
        report.events,
        report.last_hash,
    )
    assert (qa.kind, qa.events) == ("qa", 4)
    assert "MARK" not in json.dumps(record.json_payload())


def test_a_writer_that_loaded_the_session_before_its_purge_cannot_bring_it_back(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    write_everything(trail, "alice")
    stale = trail.sessions.load("chat-alice", user_id="alice")
    assert stale is not None
    other_trail.sessions.purge("chat-alice")
    stale.append_message(role="user", content="written after the purge")
    with pytest.raises(SessionNotFound, match="was purged"):
        trail.sessions.save(stale)
    assert trail.store.stream_version(stream_id("chat-alice")) == 0


def test_a_purge_at_a_version_the_session_has_left_deletes_nothing(
    trail: SessionTrail,
) -> None:
    write_everything(trail, "alice")
    seen = trail.sessions.load("chat-alice", user_id="alice")
    assert seen is not None
    trail.sessions.edit("chat-alice", title="written after the caller looked")

    with pytest.raises(ConcurrencyConflict, match="not purged"):
        trail.sessions.purge("chat-alice", if_version=seen.version)

    kept = trail.sessions.load("chat-alice", user_id="alice")
    assert kept is not None and kept.version == seen.version + 1
    report = trail.sessions.purge("chat-alice", if_version=kept.version)
    assert report.last_version == kept.version
    assert trail.sessions.load("chat-alice", user_id="alice") is None


def test_a_snapshot_taken_while_its_session_was_purged_does_not_stay(
    trail: SessionTrail,
) -> None:
    """A writer whose events committed just before a purge takes its snapshot
    after it, from its own object: that snapshot must not outlive the purge."""
    write_everything(trail, "alice")
    session = trail.sessions.load("chat-alice", user_id="alice")
    assert session is not None and trail.store.snapshots is not None
    trail.sessions.purge("chat-alice")

    trail.store._snapshot(session.id, session.version, session)  # the late writer

    assert list(trail.store.snapshots.get(session.id)) == []


def test_a_purged_id_starts_over_as_a_new_session(trail: SessionTrail) -> None:
    write_everything(trail, "alice")
    trail.sessions.purge("chat-alice")
    again = trail.sessions.load_or_create("chat-alice", user_id="alice")
    again.append_message(role="user", content="a new life")
    trail.sessions.save(again)
    loaded = trail.sessions.load("chat-alice", user_id="alice")
    assert loaded is not None and loaded.version == 2
    assert [m.content for m in loaded.messages] == ["a new life"]
    events = [e.event for e in trail.audit.entries(session_id="chat-alice").items]
    assert events == ["SessionPurged", "Started", "MessageAppended"]
    assert trail.verify().ok


def test_usage_totals_by_model_survive_a_purge_and_a_rebuild(
    trail: SessionTrail,
) -> None:
    write_everything(trail, "alice")
    write_everything(trail, "bob")
    before = trail.usage.model_totals()
    trail.sessions.purge("chat-alice")
    assert trail.usage.model_totals() == before
    trail.projections.rebuild("usage")
    assert trail.usage.model_totals() == before


def test_another_process_stops_serving_a_purged_session_within_the_check_time(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge_watch, "PURGE_CHECK_SECONDS", 0.0)
    with sessiontrail.connect(url) as trail, sessiontrail.connect(url) as other:
        write_everything(trail, "alice")
        assert other.sessions.load("chat-alice") is not None  # now in its cache
        trail.sessions.purge("chat-alice")
        deadline = time.monotonic() + 10
        while other.sessions.load("chat-alice") is not None:
            assert time.monotonic() < deadline, "still served from the cache"
            time.sleep(0.01)
