"""Tamper evidence on real SQLite and PostgreSQL: edit the stored rows as an attacker
with database access would, and `verify` names the stream and version."""

from __future__ import annotations

import sqlite3
import uuid
import zlib
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail import ChecksumMismatch, Session, SessionTrail
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.backends.memory import _shared as memory_recorders
from sessiontrail.infrastructure.chain import digest, frame, unframe
from sessiontrail.infrastructure.mapper import COMPRESSED


class RawEvents:
    """Direct access to the stored events table, bypassing sessiontrail."""

    def __init__(self, execute: Any, placeholder: str, table: str, as_id: Any) -> None:
        self._execute = execute
        self._p = placeholder
        self._table = table
        self._id = as_id

    def of(self, table: str) -> RawEvents:
        """The same access to another table of records (the snapshots)."""
        return RawEvents(self._execute, self._p, table, self._id)

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return self._execute(
            statement.replace("?", self._p).format(t=self._table), params
        )

    def row(self, stream: UUID, version: int) -> tuple[str, bytes]:
        [(topic, state)] = self.sql(
            "SELECT topic, state FROM {t} "
            "WHERE originator_id = ? AND originator_version = ?",
            self._id(stream),
            version,
        )
        return topic, bytes(state)

    def put(self, stream: UUID, version: int, topic: str, state: bytes) -> None:
        self.sql(
            "UPDATE {t} SET topic = ?, state = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            topic,
            state,
            self._id(stream),
            version,
        )

    def delete(self, stream: UUID, version: int) -> None:
        self.sql(
            "DELETE FROM {t} WHERE originator_id = ? AND originator_version = ?",
            self._id(stream),
            version,
        )

    def insert(self, stream: UUID, version: int, topic: str, state: bytes) -> None:
        self.sql(
            "INSERT INTO {t} (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            self._id(stream),
            version,
            topic,
            state,
        )


class MemoryEvents:
    """The same access to a shared in-memory log (memory://NAME): its records in
    eventsourcing's in-memory recorder."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _recorder(self) -> Any:
        return memory_recorders[self._name]["application"]

    def _index(self, stream: UUID) -> dict[int, int]:
        index: dict[int, int] = self._recorder()._stored_events_index[str(stream)]
        return index

    def row(self, stream: UUID, version: int) -> tuple[str, bytes]:
        stored = self._recorder()._stored_events[self._index(stream)[version]]
        return stored.topic, bytes(stored.state)

    def put(self, stream: UUID, version: int, topic: str, state: bytes) -> None:
        events = self._recorder()._stored_events
        events[self._index(stream)[version]] = StoredEvent(
            stream, version, topic, state
        )

    def delete(self, stream: UUID, version: int) -> None:
        del self._index(stream)[version]


Raw = RawEvents | MemoryEvents


def raw_access(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[str, Any]:
    """A fresh log's URL and direct access to its stored events."""
    if backend == "memory":
        name = uuid.uuid4().hex
        return f"memory://{name}", MemoryEvents(name)
    if backend == "sqlite":
        path = tmp_path / "log.db"

        def on_sqlite(statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as db:
                return db.execute(statement, params).fetchall()

        return (
            f"sqlite:///{path}",
            RawEvents(on_sqlite, "?", "stored_events", lambda s: s.hex),
        )
    server: PostgresServer = request.getfixturevalue("postgres_server")
    schema = server.new_schema()

    def on_postgres(statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(server.dsn(), autocommit=True) as db:
            db.execute(f"SET search_path TO {schema}")
            cursor = db.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    return (
        server.url(schema),
        RawEvents(on_postgres, "%s", "sessiontrail_events", lambda s: s),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, RawEvents]:
    url, raw = raw_access(request.param, request, tmp_path)
    return url, raw


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_log(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Raw]:
    """`setup` on every backend: the tests of what a load checks."""
    url, raw = raw_access(request.param, request, tmp_path)
    return url, raw


def record(trail: SessionTrail, sessions: int = 3, messages: int = 6) -> None:
    for number in range(sessions):
        session = trail.sessions.load_or_create(f"s{number}")  # unsealed: readable
        for index in range(messages):
            session.append_message(role="user", content=f"message {index}")
            trail.sessions.save(session)  # one save per message: a chain of saves


def only_problem(trail: SessionTrail, **kwargs: Any) -> tuple[UUID, int, str]:
    report = trail.verify(**kwargs)
    assert not report.ok
    [problem] = report.problems
    error = problem.error()
    assert isinstance(error, ChecksumMismatch)
    assert (error.stream, error.version) == (str(problem.stream), problem.version)
    return problem.stream, problem.version, problem.problem


S1 = stream_id("s1")


def test_an_untouched_log_verifies_clean(setup: tuple[str, RawEvents]) -> None:
    url, _ = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        report = trail.verify()
        assert report.ok and report.streams == 3 and report.events == 3 * 7
        assert report.unchained == 0


def test_a_modified_byte_is_named(setup: tuple[str, RawEvents]) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        topic, state = raw.row(S1, 4)
        raw.put(S1, 4, topic, state[:-3] + bytes([state[-3] ^ 1]) + state[-2:])
        assert only_problem(trail)[:2] == (S1, 4)


def test_a_deleted_event_is_named(setup: tuple[str, RawEvents]) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        raw.delete(S1, 3)
        stream, version, problem = only_problem(trail)
        assert (stream, version) == (S1, 3) and "missing" in problem


def test_a_reordered_pair_is_named(setup: tuple[str, RawEvents]) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        second, third = raw.row(S1, 2), raw.row(S1, 3)
        raw.put(S1, 2, *third)
        raw.put(S1, 3, *second)
        assert only_problem(trail)[:2] == (S1, 2)


def test_an_inserted_event_is_named(setup: tuple[str, RawEvents]) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        for version in range(7, 3, -1):  # make room at version 4
            raw.insert(S1, version + 1, *raw.row(S1, version))
            raw.delete(S1, version)
        raw.insert(S1, 4, *raw.row(S1, 3))  # a copy of a real record
        stream, version, problem = only_problem(trail)
        assert (stream, version) == (S1, 4) and "checksum" in problem


def test_an_event_stripped_of_its_checksum_is_named(
    setup: tuple[str, RawEvents],
) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        topic, state = raw.row(S1, 5)
        _, body = unframe(state)
        raw.put(S1, 5, topic, body[1:])  # as if written before the chain existed
        stream, version, problem = only_problem(trail)
        assert (stream, version) == (S1, 5) and "no checksum" in problem


def test_a_truncated_tail_is_named_against_a_checkpoint(
    setup: tuple[str, RawEvents],
) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        checkpoint = trail.checkpoint()
        assert trail.verify(checkpoint).ok
        raw.delete(S1, 7)
        raw.delete(S1, 6)
        assert trail.verify().ok  # the chain alone cannot see a cut-off tail
        stream, version, problem = only_problem(trail, since_checkpoint=checkpoint)
        assert (stream, version) == (S1, 6)
        assert "truncated: the checkpoint saw version 7, the log ends at 5" in problem


def test_a_consistent_rewrite_is_named_against_a_checkpoint(
    setup: tuple[str, RawEvents],
) -> None:
    """An attacker who knows the algorithm recomputes the chain; the root held
    elsewhere still differs."""
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        checkpoint = trail.checkpoint()
        topic, state = raw.row(S1, 7)
        previous, _ = unframe(raw.row(S1, 6)[1])
        _, body = unframe(state)
        assert body[0] == COMPRESSED  # flags byte, then the zlib payload
        text = zlib.decompress(body[1:])
        assert b"message 5" in text
        forged = bytes([COMPRESSED]) + zlib.compress(
            text.replace(b"message 5", b"forged!!!")
        )
        raw.put(S1, 7, topic, frame(forged, digest(previous, S1, 7, topic, forged)))
        assert trail.verify().ok
        stream, version, problem = only_problem(trail, since_checkpoint=checkpoint)
        assert (stream, version) == (S1, 7) and "rewritten" in problem
        trail.sessions._cache.evict("s1")
        assert trail.sessions.load("s1").messages[-1].content == "forged!!!"


def test_writes_after_a_checkpoint_still_verify(setup: tuple[str, RawEvents]) -> None:
    url, _ = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        checkpoint = trail.checkpoint()
        record(trail, sessions=4)
        report = trail.verify(checkpoint)
        assert report.ok, report.problems
        assert report.checkpoint == checkpoint and not report.signature_checked


def test_a_signed_checkpoint_detects_an_edited_root(tmp_path: Path) -> None:
    key = sessiontrail.new_key()
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'k.db'}", key=key) as trail:
        record(trail, sessions=1)
        checkpoint = trail.checkpoint()
        assert checkpoint.signature is not None
        report = trail.verify(checkpoint)
        assert report.ok and report.signature_checked
        edited = checkpoint.model_copy(update={"position": checkpoint.position + 1})
        assert (
            "signature does not match"
            in only_problem(trail, since_checkpoint=edited)[2]
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_ten_thousand_events_verify_clean(trail: SessionTrail) -> None:
    for number in range(100):
        session = trail.sessions.load_or_create(f"big{number}")
        for index in range(100):
            session.append_message(role="assistant", content=f"step {index}")
        trail.sessions.save(session)
    seen: list[tuple[int, int]] = []
    report = trail.verify(trail.checkpoint(), progress=lambda d, t: seen.append((d, t)))
    assert report.ok, report.problems
    assert report.events >= 100 * 101
    assert seen[-1][0] == report.events


SNAPSHOTS = {
    "stored_events": "stored_snapshots",
    "sessiontrail_events": "sessiontrail_snapshots",
}


def test_an_edited_snapshot_is_named(setup: tuple[str, RawEvents]) -> None:
    """Loads start from the newest snapshot, so verify replays the log to it."""
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("long")
        session.edit_title("Plan A for the whole long session")
        reach_a_snapshot(trail, session)
        assert trail.verify().ok
    snapshots = raw.of(SNAPSHOTS[raw._table])
    stream = stream_id("long")
    topic, state = snapshots.row(stream, 100)
    _, body = unframe(state)
    text = zlib.decompress(body[1:])
    assert b"Plan A" in text
    forged = bytes([COMPRESSED]) + zlib.compress(text.replace(b"Plan A", b"Plan X"))
    snapshots.put(stream, 100, topic, frame(forged))
    with sessiontrail.connect(url) as fresh:
        assert fresh.sessions.load("long").title.startswith("Plan X")  # misleads
        stream_, version, problem = only_problem(fresh)
        assert (stream_, version) == (stream, 100) and "snapshot differs" in problem


@pytest.mark.expect_read_model_warnings
def test_an_undecodable_record_is_named_and_skipped(
    setup: tuple[str, RawEvents],
) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
    topic, state = raw.row(S1, 3)
    value, _ = unframe(state)
    raw.put(S1, 3, topic, frame(b"\x00not json at all", value))
    with sessiontrail.connect(url) as fresh:
        with pytest.raises(ChecksumMismatch) as caught:
            fresh.sessions.load("s1")
        assert (caught.value.stream, caught.value.version) == (str(S1), 3)
        assert "does not match its checksum" in caught.value.problem  # loads check
        assert fresh.sessions.load("s2") is not None  # other sessions unaffected
        status = fresh.projections.rebuild("sessions")
        assert status.skipped == 1  # the read model skips and counts it
        assert len(fresh.sessions.list().items) == 3
        assert only_problem(fresh)[:2] == (S1, 3)  # and verify names it


# -- loads check the chain over what they read ------------------------------------


def load_refused(trail: SessionTrail, session_id: str) -> tuple[str, int, str]:
    """Loading the session raises ChecksumMismatch: its (stream, version, problem)."""
    with pytest.raises(ChecksumMismatch) as caught:
        trail.sessions.try_load(session_id)
    return caught.value.stream, caught.value.version, caught.value.problem


def swap(raw: Raw, stream: UUID, version: int) -> None:
    """Swap the stored records at `version` and the one after it."""
    first, second = raw.row(stream, version), raw.row(stream, version + 1)
    raw.put(stream, version, *second)
    raw.put(stream, version + 1, *first)


def test_a_load_refuses_two_swapped_records(any_log: tuple[str, Raw]) -> None:
    url, raw = any_log
    with sessiontrail.connect(url, cache_size=0) as trail:
        record(trail)
        swap(raw, S1, 3)
        stream, version, problem = load_refused(trail, "s1")
        assert (stream, version) == (str(S1), 3)
        assert "does not match its checksum" in problem
        with pytest.raises(ChecksumMismatch):
            trail.sessions.history("s1")  # every fold of the stream checks
        assert len(trail.sessions.try_load("s2").messages) == 6  # others unaffected


def test_a_load_refuses_a_record_copied_from_another_stream(
    any_log: tuple[str, Raw],
) -> None:
    url, raw = any_log
    with sessiontrail.connect(url, cache_size=0) as trail:
        record(trail)
        raw.put(S1, 3, *raw.row(stream_id("s2"), 3))
        assert load_refused(trail, "s1")[:2] == (str(S1), 3)


def test_a_load_names_a_deleted_middle_record(any_log: tuple[str, Raw]) -> None:
    url, raw = any_log
    with sessiontrail.connect(url, cache_size=0) as trail:
        record(trail)
        raw.delete(S1, 3)
        stream, version, problem = load_refused(trail, "s1")
        assert (stream, version) == (str(S1), 3) and problem.startswith("missing")


LONG = stream_id("long")


def reach_a_snapshot(trail: SessionTrail, session: Session) -> None:
    """Save messages until version 100 (a save ending there snapshots the
    session at 100), then five more in another save: six events after it."""
    index = 0
    while session.version < 100:
        session.append_message(role="user", content=f"line {index}")
        index += 1
    trail.sessions.save(session)
    assert [s.originator_version for s in trail.store.snapshots.get(session.id)][
        -1:
    ] == [100]
    for later in range(index, index + 6):
        session.append_message(role="user", content=f"line {later}")
    trail.sessions.save(session)


def long_session(trail: SessionTrail) -> None:
    """A session with a snapshot at version 100 and six events after it."""
    reach_a_snapshot(trail, trail.sessions.load_or_create("long"))


def test_a_load_from_a_snapshot_checks_the_records_after_it(
    any_log: tuple[str, Raw],
) -> None:
    url, raw = any_log
    with sessiontrail.connect(url, cache_size=0) as trail:
        long_session(trail)
        assert len(trail.sessions.try_load("long").messages) == 105
        swap(raw, LONG, 102)
        assert load_refused(trail, "long")[:2] == (str(LONG), 102)


def test_a_load_from_a_snapshot_checks_the_first_record_after_it(
    any_log: tuple[str, Raw],
) -> None:
    """The snapshot's version anchors the chain: the record right after it is
    checked against that version's stored chain value."""
    url, raw = any_log
    with sessiontrail.connect(url, cache_size=0) as trail:
        long_session(trail)
        raw.put(LONG, 101, *raw.row(stream_id("long"), 102))
        assert load_refused(trail, "long")[:2] == (str(LONG), 101)


def test_a_load_from_a_snapshot_names_its_missing_version(
    any_log: tuple[str, Raw],
) -> None:
    url, raw = any_log
    with sessiontrail.connect(url, cache_size=0) as trail:
        long_session(trail)
        raw.delete(LONG, 100)
        stream, version, problem = load_refused(trail, "long")
        assert (stream, version) == (str(LONG), 100) and problem.startswith("missing")
