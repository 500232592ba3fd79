"""Merge-on-write through real stores: two trails on one database, as two processes."""

from __future__ import annotations

import functools
import multiprocessing
import threading

import pytest
from support.deadlines import outcomes_within
from support.workers import append_messages

from sessiontrail import SessionTrail


def test_stale_runtime_keeps_the_users_title_and_its_own_message(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    runtime, ui = trail.sessions, other_trail.sessions
    session = runtime.load_or_create("chat-42", model="gpt-4o", user_id="alice")
    session.append_message(role="user", content="plan my trip")
    runtime.save(session)

    ui_copy = ui.load("chat-42", user_id="alice")
    ui_copy.edit_title("Trip to Lisbon")
    ui.save(ui_copy)

    session.append_message(role="assistant", content="Here is a plan")
    session.edit_title("untitled", actor="runtime")  # a stale copy of the metadata
    runtime.save(session)

    assert session.title == "Trip to Lisbon"  # the caller's object is the merged state
    for repo in (runtime, ui):
        stored = repo.load_merged("chat-42", user_id="alice")
        assert stored.title == "Trip to Lisbon"
        assert stored.title_version == 1
        assert [m.content for m in stored.messages] == [
            "plan my trip",
            "Here is a plan",
        ]
    assert [h.event for h in runtime.history("chat-42")] == [
        "Started",
        "MessageAppended",
        "TitleEdited",
        "MessageAppended",
        "EditDropped",  # the stale rename is kept in the history, not applied
    ]


def test_concurrent_appends_from_two_trails_are_all_kept(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    a = trail.sessions.load_or_create("shared")
    a.append_message(role="system", content="start")
    trail.sessions.save(a)
    b = other_trail.sessions.load("shared")
    a.append_message(role="user", content="a1")
    b.append_message(role="user", content="b1")
    b.append_message(role="user", content="b2")
    other_trail.sessions.save(b)
    trail.sessions.save(a)
    assert [m.content for m in a.messages] == ["start", "b1", "b2", "a1"]
    assert a.version == 5


def test_a_user_edit_based_on_the_current_version_wins_over_a_runtime_append(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    runtime = trail.sessions.load_or_create("s")
    trail.sessions.save(runtime)
    ui = other_trail.sessions.load("s")
    runtime.append_message(role="assistant", content="working")
    trail.sessions.save(runtime)
    ui.edit_title("Mine")
    ui.set_pinned(True)
    other_trail.sessions.save(ui)  # rebased: nothing moved the metadata meanwhile
    assert (ui.title, ui.pinned, ui.metadata_version) == ("Mine", True, 2)
    assert [m.content for m in ui.messages] == ["working"]


def test_racing_threads_on_two_trails_lose_no_append(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    seed = trail.sessions.load_or_create("race")
    trail.sessions.save(seed)
    writers, per_writer = 4, 10
    barrier = threading.Barrier(writers, timeout=60)

    def write(number: int) -> None:
        repo = (trail if number % 2 else other_trail).sessions
        barrier.wait()
        for i in range(per_writer):
            s = repo.load_merged("race")
            s.append_message(role="user", content=f"w{number}-{i}")
            repo.save(s)

    calls = [functools.partial(write, number) for number in range(writers)]
    assert outcomes_within(120, *calls) == [None] * writers
    contents = [m.content for m in trail.sessions.load_merged("race").messages]
    assert sorted(contents) == sorted(
        f"w{n}-{i}" for n in range(writers) for i in range(per_writer)
    )
    for n in range(writers):
        mine = [c for c in contents if c.startswith(f"w{n}-")]
        assert mine == [f"w{n}-{i}" for i in range(per_writer)]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_write_from_another_process_is_seen_and_merged(
    trail: SessionTrail,
) -> None:
    mine = trail.sessions.load_or_create("cross")
    mine.append_message(role="system", content="parent")
    trail.sessions.save(mine)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        version = pool.apply(
            append_messages, (trail.url, "cross", ["child-1", "child-2"])
        )
    assert version == 4
    mine.append_message(role="assistant", content="parent again")
    trail.sessions.save(mine)
    assert [m.content for m in mine.messages] == [
        "parent",
        "child-1",
        "child-2",
        "parent again",
    ]
