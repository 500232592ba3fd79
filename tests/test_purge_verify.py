"""verify after purges: each purge is listed with the last chain value read just
before it, a stream damaged (or rewritten) before its purge stays a problem, and
a checkpoint taken before a purge still verifies."""

from __future__ import annotations

import zlib

from test_tamper_evidence import S1, RawEvents, only_problem, record, setup

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.infrastructure.chain import digest, frame, unframe
from sessiontrail.infrastructure.mapper import COMPRESSED

__all__ = ["setup"]  # the fixture: a SQLite or PostgreSQL log with raw access


def test_verify_lists_a_purge_with_the_chain_value_read_before_it(
    trail: SessionTrail,
) -> None:
    record(trail)
    head = trail.store.chain_value(S1, 7).hex()
    trail.sessions.purge("s1", actor="dpo", reason="user request")
    report = trail.verify()
    assert report.ok, report.problems
    [entry] = report.purged
    assert (entry.stream, entry.label, entry.last_version, entry.last_hash) == (
        S1,
        "session s1",
        7,
        head,
    )
    assert (entry.actor, entry.reason) == ("dpo", "user request")
    assert report.streams == 3  # s0, s2 and the purge's own record


def test_a_stream_damaged_before_its_purge_stays_a_problem(
    setup: tuple[str, RawEvents],
) -> None:
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        topic, state = raw.row(S1, 4)
        raw.put(S1, 4, topic, state[:-3] + bytes([state[-3] ^ 1]) + state[-2:])
        report = trail.sessions.purge("s1")
        assert not report.chain_ok
        stream, version, problem = only_problem(trail)
        assert (stream, version) == (S1, 4)
        assert problem.startswith("damaged before its purge")


def test_a_checkpoint_taken_before_a_purge_still_verifies(
    setup: tuple[str, RawEvents],
) -> None:
    url, _ = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        checkpoint = trail.checkpoint()
        trail.sessions.purge("s1")
        again = trail.sessions.load_or_create("s1")  # the id starts over
        again.append_message(role="user", content="a new life")
        trail.sessions.save(again)
        report = trail.verify(checkpoint)
        assert report.ok, report.problems


def test_a_rewrite_before_a_purge_is_named_against_a_checkpoint(
    setup: tuple[str, RawEvents],
) -> None:
    """Recomputing the chain then purging does not hide the rewrite from a
    checkpoint kept elsewhere: the purge keeps the head it found."""
    url, raw = setup
    with sessiontrail.connect(url) as trail:
        record(trail)
        checkpoint = trail.checkpoint()
        topic, state = raw.row(S1, 7)
        previous, _ = unframe(raw.row(S1, 6)[1])
        _, body = unframe(state)
        text = zlib.decompress(body[1:])
        forged = bytes([COMPRESSED]) + zlib.compress(text.replace(b"5", b"6"))
        raw.put(S1, 7, topic, frame(forged, digest(previous, S1, 7, topic, forged)))
        assert previous is not None
        assert trail.sessions.purge("s1").chain_ok  # consistent: the walk passes
        stream, version, problem = only_problem(trail, since_checkpoint=checkpoint)
        assert (stream, version) == (S1, 7)
        assert problem.startswith("rewritten before its purge")
