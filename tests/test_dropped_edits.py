"""What a save did not apply is said, and kept: `save` reports the edits the merge
dropped, the history records each as an EditDropped event, and an edit made now
(`sessions.edit`) is applied to the newest state instead of being dropped."""

from __future__ import annotations

import asyncio
import threading

import pytest

import sessiontrail
from sessiontrail import (
    ConcurrencyConflict,
    DroppedEdit,
    Session,
    SessionNotFound,
    SessionTrail,
    aio,
)


def saved(trail: SessionTrail) -> Session:
    session = trail.sessions.load_or_create("chat", user_id="ann")
    session.append_message(role="user", content="hi")
    trail.sessions.save(session)
    return session


def stale_copy_after_a_rename(trail: SessionTrail, other: SessionTrail) -> Session:
    """A copy loaded before another writer renamed the session and set a key."""
    saved(trail)
    stale = trail.sessions.load("chat")
    assert stale is not None
    other.sessions.edit("chat", title="Theirs", metadata={"theirs": 1})
    return stale


def test_a_save_that_stores_every_edit_reports_nothing_dropped(
    trail: SessionTrail,
) -> None:
    session = saved(trail)
    session.edit_title("Mine")
    result = trail.sessions.save(session)
    assert result.dropped == [] and not result


def test_save_of_a_stale_copy_reports_each_edit_it_dropped(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    stale = stale_copy_after_a_rename(trail, other_trail)
    stale.edit_title("Mine", actor="bob")
    stale.update_metadata({"mine": 2}, actor="bob")
    stale.append_message(role="assistant", content="kept")
    result = trail.sessions.save(stale)
    assert result
    assert [(d.edit, d.changes, d.actor) for d in result.dropped] == [
        ("TitleEdited", {"title": "Mine"}, "bob"),
        ("MetadataEdited", {"metadata": {"mine": 2}}, "bob"),
    ]
    assert (stale.title, stale.metadata) == ("Theirs", {"theirs": 1})
    assert stale.messages[-1].content == "kept"


def test_history_shows_the_dropped_edit_as_an_event_that_changes_nothing(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    stale = stale_copy_after_a_rename(trail, other_trail)
    stale.set_pinned(True, actor="bob")
    (dropped,) = trail.sessions.save(stale).dropped
    entry = trail.sessions.history("chat")[-1]
    assert (entry.version, entry.event, entry.actor) == (
        dropped.version,
        "EditDropped",
        "bob",
    )
    assert entry.payload == {
        "edit": "PinChanged",
        "changes": {"pinned": True},
        "based_on": 0,
    }
    before = trail.sessions.at("chat", version=dropped.version - 1)
    after = trail.sessions.at("chat", version=dropped.version)
    assert before is not None and after is not None
    assert before.to_state().model_dump(
        exclude={"modified_on"}
    ) == after.to_state().model_dump(exclude={"modified_on"})


def test_the_async_facade_returns_the_same_report(
    url: str, other_trail: SessionTrail
) -> None:
    async def scenario() -> list[DroppedEdit]:
        async with await aio.connect(url) as trail:
            stale = stale_copy_after_a_rename(trail.sync, other_trail)
            stale.edit_title("Mine")
            return (await trail.sessions.save(stale)).dropped

    assert [d.edit for d in asyncio.run(scenario())] == ["TitleEdited"]


def test_an_edit_made_now_lands_when_another_process_writes_first(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(trail)
    record = trail.store.record
    raced: list[bool] = []

    def another_writer_first(session: Session) -> int | None:
        if not raced:  # between this edit's load and its append
            raced.append(True)
            other_trail.sessions.edit("chat", metadata={"theirs": 1})
        return record(session)

    monkeypatch.setattr(trail.store, "record", another_writer_first)
    edited = trail.sessions.edit("chat", metadata={"mine": 2})
    assert raced
    assert edited.metadata == {"theirs": 1, "mine": 2}
    assert [h.event for h in trail.sessions.history("chat")][-2:] == [
        "MetadataEdited",
        "MetadataEdited",
    ]


def test_concurrent_edits_of_different_keys_from_several_trails_all_land(
    url: str, trail: SessionTrail
) -> None:
    saved(trail)
    writers, rounds = 4, 5
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def edit(number: int) -> None:
        try:
            with sessiontrail.connect(url) as own:
                for round_ in range(rounds):
                    start.wait(timeout=60)
                    own.sessions.edit("chat", metadata={f"k{number}-{round_}": round_})
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    stored = trail.sessions.load_merged("chat")
    assert stored is not None
    assert len(stored.metadata) == writers * rounds


def test_edit_with_if_version_writes_nothing_when_the_session_moved(
    trail: SessionTrail,
) -> None:
    session = saved(trail)
    with pytest.raises(ConcurrencyConflict, match="if_version"):
        trail.sessions.edit("chat", title="Late", if_version=session.version - 1)
    assert trail.sessions.history("chat")[-1].version == session.version
    assert trail.sessions.edit("chat", title="On time", if_version=session.version)


def test_edit_of_a_missing_or_foreign_session_is_not_found(trail: SessionTrail) -> None:
    saved(trail)
    with pytest.raises(SessionNotFound):
        trail.sessions.edit("nope", title="x")
    with pytest.raises(SessionNotFound):
        trail.sessions.edit("chat", title="x", user_id="bob")


def test_what_a_dropped_edit_tried_is_erased_with_its_user(url: str) -> None:
    key = sessiontrail.new_key()
    with (
        sessiontrail.connect(url, key=key) as trail,
        sessiontrail.connect(url, key=key) as other,
    ):
        stale = stale_copy_after_a_rename(trail, other)
        stale.edit_title("MARK secret plan")
        (dropped,) = trail.sessions.save(stale).dropped
        trail.erase_user("ann")
        entry = trail.sessions.history("chat")[dropped.version - 1]
        assert entry.event == "EditDropped"
        assert "MARK" not in str(entry.payload)
