"""The projection runner: worker mode, status, exactly-once after a kill, skips."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

import pytest
from eventsourcing.persistence import StoredEvent
from support.read_models import READ_MODELS, each
from support.workers import catch_up_in_worker

import sessiontrail
from sessiontrail import SessionTrail


def write_backlog(trail: SessionTrail, sessions: int, messages: int) -> None:
    for number in range(sessions):
        session = trail.sessions.load_or_create(f"s{number}", user_id="u", model="m")
        for count in range(messages):
            session.append_message(role="user", content=f"{number}/{count}")
        trail.sessions.save(session)
        trail.sessions.append_token_usage(f"s{number}", {"total_tokens": number})


def all_rows(trail: SessionTrail) -> dict[str, dict[str, list[tuple[object, ...]]]]:
    return {name: trail.projections.rows(name) for name in READ_MODELS}


def rebuilt_rows(trail: SessionTrail) -> dict[str, dict[str, list[tuple[object, ...]]]]:
    for name in READ_MODELS:
        trail.projections.rebuild(name)
    return all_rows(trail)


def test_worker_mode_writes_leave_read_models_to_the_worker(url: str):
    with sessiontrail.connect(url, projections="worker") as writer:
        write_backlog(writer, 3, 2)
        assert writer.sessions.list().items == []
        lags = {s.name: s.lag for s in writer.projections.status()}
        assert all(lag > 0 for lag in lags.values())
        assert writer.projections.sync_status().state == "behind"

        writer.projections.catch_up()

        assert [s.session_id for s in writer.sessions.list().items] == [
            "s2",
            "s1",
            "s0",
        ]
        statuses = writer.projections.status()
        assert {s.name for s in statuses} == set(READ_MODELS)
        assert all(s.lag == 0 and s.position == s.head for s in statuses)
        assert all(s.state == "in_sync" for s in statuses)
        assert writer.projections.sync_status().state == "in_sync"


def test_a_running_worker_keeps_read_models_current(url: str):
    with (
        sessiontrail.connect(url, projections="worker") as writer,
        sessiontrail.connect(url, projections="worker") as worker,
    ):
        stop = threading.Event()
        thread = threading.Thread(
            target=worker.projections.run, args=(stop,), kwargs={"poll_interval": 0.05}
        )
        thread.start()
        try:
            write_backlog(writer, 4, 3)
            deadline = time.monotonic() + 30
            while writer.projections.sync_status().state != "in_sync":
                assert time.monotonic() < deadline, "the worker never caught up"
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not thread.is_alive()
        assert len(writer.sessions.list().items) == 4
        assert all_rows(writer) == rebuilt_rows(writer)


def test_inline_and_worker_trails_share_one_set_of_read_models(
    url: str, trail: SessionTrail
):
    with sessiontrail.connect(url, projections="worker") as writer:
        write_backlog(writer, 2, 2)
        write_backlog(trail, 1, 1)  # the inline write catches up everything before
        assert writer.projections.sync_status().state == "in_sync"
        assert all_rows(trail) == rebuilt_rows(trail)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_worker_killed_mid_catch_up_loses_and_repeats_nothing(url: str):
    with sessiontrail.connect(url, projections="worker") as trail:
        write_backlog(trail, 100, 40)  # ~4,300 events: several batches
        head = trail.store.head()
        context = multiprocessing.get_context("spawn")
        worker = context.Process(target=catch_up_in_worker, args=(url,))
        worker.start()
        try:
            deadline = time.monotonic() + 120
            while True:
                position = min(s.position for s in trail.projections.status())
                if 0 < position < head or not worker.is_alive():
                    break
                assert time.monotonic() < deadline, "the worker made no progress"
                time.sleep(0.005)
            worker.kill()
        finally:
            worker.join(timeout=30)
        assert 0 < position < head, "the kill must land mid catch-up"

        trail.projections.catch_up()

        assert all(s.position == head for s in trail.projections.status())
        assert len(trail.sessions.list(limit=1000).items) == 100
        assert all_rows(trail) == rebuilt_rows(trail)


def store_raw_event(trail: SessionTrail, topic: str, state: bytes) -> None:
    """Append a stored event as-is to a new stream, as a foreign writer might."""
    trail.store.recorder.insert_events([StoredEvent(uuid.uuid4(), 1, topic, state)])


@pytest.mark.expect_read_model_warnings
def test_unreadable_events_are_skipped_and_counted_not_fatal(trail: SessionTrail):
    write_backlog(trail, 1, 1)
    store_raw_event(trail, "sessiontrail.domain.session:Session.Vanished", b"{}")
    store_raw_event(trail, "sessiontrail.domain.session:Session.Started", b"not json")
    write_backlog(trail, 2, 1)

    statuses = trail.projections.status()
    assert all(s.skipped == 2 and s.lag == 0 for s in statuses)
    assert len(trail.sessions.list().items) == 2
    assert all_rows(trail) == rebuilt_rows(trail)
    assert all(s.skipped == 2 for s in trail.projections.status())


def test_rebuilding_an_unknown_read_model_names_the_known_ones(trail: SessionTrail):
    with pytest.raises(
        sessiontrail.InvalidInput,
        match="adk, audit, langgraph, qa, retention, search, sessions, "
        "title_tokens, usage",
    ):
        trail.projections.rebuild("nope")


def test_unknown_projection_mode_is_rejected(url: str):
    with pytest.raises(sessiontrail.InvalidInput, match="projections"):
        sessiontrail.connect(url, projections="eventually")  # type: ignore[arg-type]


@pytest.mark.expect_read_model_warnings
def test_an_event_a_read_model_cannot_hold_is_skipped_alone(trail: SessionTrail):
    write_backlog(trail, 1, 1)
    started = trail.store.recorder.select_notifications(start=1, limit=1)[0]
    # An impossible event: a second stream claiming session id "s0" (the index
    # keeps session ids unique), stored as if by a buggy importer.
    store_raw_event(trail, started.topic, started.state)
    write_backlog(trail, 2, 1)

    skipped = {s.name: s.skipped for s in trail.projections.status()}
    assert skipped == {**each(0), "sessions": 1}
    assert all(s.lag == 0 for s in trail.projections.status())
    assert [s.session_id for s in trail.sessions.list().items] == ["s1", "s0"]
    assert len(trail.audit.entries().items) == trail.store.head()
    assert all_rows(trail) == rebuilt_rows(trail)
    assert {s.name: s.skipped for s in trail.projections.status()} == skipped


def test_inline_reads_catch_up_after_a_writer_that_never_did(
    url: str, trail: SessionTrail
):
    with sessiontrail.connect(url, projections="worker") as crashed:
        write_backlog(crashed, 2, 1)  # as a writer killed before its catch-up
    assert [s.session_id for s in trail.sessions.list().items] == ["s1", "s0"]
    assert len(trail.audit.entries().items) == 6
