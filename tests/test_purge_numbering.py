"""Purges leave read models' numbers alone: an event's number is its place among
every event ever stored, whether the read models applied a purged session's
events before the purge or never saw them, so a live generation, a worker, a
rebuild and an erasure's replay all number alike (on PostgreSQL the numbers
count the log's rows rather than reading their ids)."""

from __future__ import annotations

from support.postgres import PostgresServer
from support.read_models import READ_MODELS

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.session import stream_id


def save(trail: SessionTrail, session_id: str, user: str, *texts: str) -> None:
    session = trail.sessions.load_or_create(session_id, model="m", user_id=user)
    for text in texts:
        session.append_message(role="user", content=text)
    trail.sessions.save(session)


def purge_between_writes(trail: SessionTrail) -> None:
    """Two users' sessions, one of them purged, then a later session."""
    save(trail, "A1", "alice", "one", "two")
    save(trail, "B", "bob", "bob's message")
    trail.sessions.purge("A1")
    save(trail, "A2", "alice", "three", "four")


def every_row(trail: SessionTrail) -> dict[str, object]:
    return {name: trail.projections.rows(name) for name in READ_MODELS}


def rebuilt_rows(trail: SessionTrail) -> dict[str, object]:
    for name in READ_MODELS:
        trail.projections.rebuild(name)
    return every_row(trail)


def numbers(trail: SessionTrail) -> list[tuple[str, int, str, int]]:
    """Every audit entry's session, version, event and number, in log order."""
    return [
        (entry.session_id, entry.version, entry.event, entry.position)
        for entry in trail.audit.entries(limit=1000).items
    ]


def test_a_rebuild_after_a_purge_numbers_as_the_live_read_models(trail: SessionTrail):
    purge_between_writes(trail)
    live = every_row(trail)
    assert rebuilt_rows(trail) == live


def test_an_erasure_after_a_purge_rewrites_the_users_rows_as_a_rebuild_does(
    trail: SessionTrail,
):
    purge_between_writes(trail)
    trail.erase_user("alice")
    assert [status.skipped for status in trail.projections.status()] == [0] * len(
        READ_MODELS
    )
    [listed] = trail.sessions.list(user_id="alice").items
    assert listed.message_count == 2
    erased = every_row(trail)
    assert rebuilt_rows(trail) == erased


def test_a_worker_applying_after_a_purge_numbers_as_inline_read_models_did(
    postgres_server: PostgresServer,
):
    inline_url = postgres_server.url(postgres_server.new_schema())
    worker_url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(inline_url) as inline:
        purge_between_writes(inline)  # applied each write before the purge
        applied_first = numbers(inline)
    with sessiontrail.connect(worker_url, projections="worker") as worker:
        purge_between_writes(worker)  # nothing applied until now
        worker.projections.catch_up()
        assert numbers(worker) == applied_first


def test_a_purged_event_still_lies_between_its_neighbours_for_inline_writes(
    postgres_server: PostgresServer,
):
    """An inline write applies its own events only when nothing lies between the
    read models' place and them: the purged events' places count too."""
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as trail:
        save(trail, "B", "bob", "first")
        before = trail.store.head_position()
        save(trail, "A1", "alice", "one", "two")
        trail.sessions.purge("A1")
        purge_record = trail.store.head_position()
        assert not trail.store.follows(before, purge_record)


def test_numbers_asked_together_and_out_of_order_are_the_live_read_models(
    trail: SessionTrail,
):
    """An erasure numbers all of a user's events in one ask (PostgreSQL counts
    each only from the one before it): the numbers match what the live read
    models gave each event, in whatever order the positions are asked."""
    purge_between_writes(trail)
    save(trail, "A2", "alice", "five")
    save(trail, "B", "bob", "again")
    live = {
        (stream_id(session_id), version): number
        for session_id, version, _, number in numbers(trail)
    }
    asked = trail.store.stream_notifications(
        [stream_id("A2"), stream_id("B")], trail.store.head_position()
    )[::-1]
    assert len(asked) == 7  # A2: created, three messages; B: created, two
    assert trail.store.sequence_numbers([position for position, _ in asked]) == [
        live[(notification.originator_id, notification.originator_version)]
        for _, notification in asked
    ]
