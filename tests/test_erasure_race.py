"""A save racing an erasure: a process that still remembers the erased user's
key (it may for KEY_CACHE_SECONDS) saves new content right after another
process's `erase_user`. No read model may hold that content in a form the log
does not give, and nothing the log holds is sealed under the destroyed key."""

from __future__ import annotations

import pytest
from test_erasure_in_place import READ_MODELS, every_row

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.infrastructure import user_keys
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL


@pytest.fixture(autouse=True)
def keys_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """However slow the machine, the saving process still holds the key it read."""
    monkeypatch.setattr(user_keys, "KEY_CACHE_SECONDS", 3600.0)


def save_across_an_erasure(trail: SessionTrail, other_trail: SessionTrail) -> None:
    """`trail` saves for alice (and so remembers her key), `other_trail` erases
    her, then `trail` saves new content for her."""
    chat = trail.sessions.load_or_create("chat-1", user_id="alice")
    chat.append_message(role="user", content="MARK-before")
    trail.sessions.save(chat)
    other_trail.erase_user("alice")
    chat.append_message(role="user", content="MARK-after")
    trail.sessions.save(chat)


def test_read_models_after_a_save_racing_an_erasure_equal_a_rebuild(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    save_across_an_erasure(trail, other_trail)
    inline = every_row(trail)
    for name in READ_MODELS:
        trail.projections.rebuild(name)
    assert every_row(trail) == inline


def test_a_save_racing_an_erasure_is_stored_under_a_new_key(
    url: str, trail: SessionTrail, other_trail: SessionTrail
) -> None:
    save_across_an_erasure(trail, other_trail)
    with sessiontrail.connect(url) as fresh:
        chat = fresh.sessions.load("chat-1")
        assert chat is not None
        assert [m.content for m in chat.messages] == ["[erased]", "MARK-after"]
        assert fresh.verify().ok


def test_the_saving_process_reads_no_erased_content_after_a_racing_save(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """Its session object, and the copy it caches, become what the log reads."""
    save_across_an_erasure(trail, other_trail)
    chat = trail.sessions.load("chat-1")
    assert chat is not None
    assert [m.content for m in chat.messages] == ["[erased]", "MARK-after"]


def test_a_snapshot_after_a_save_racing_an_erasure_keeps_nothing_erased(
    url: str, trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """The saving process's own session object still holds the erased title:
    a snapshot the racing save takes is not made from it."""
    chat = trail.sessions.load_or_create("chat-1", user_id="alice")
    chat.edit_title("MARK-title")
    while chat.version < SNAPSHOT_INTERVAL - 1:
        chat.append_message(role="user", content="MARK-before")
    trail.sessions.save(chat)
    other_trail.erase_user("alice")
    chat.append_message(role="user", content="MARK-after")  # snapshotted
    trail.sessions.save(chat)
    with sessiontrail.connect(url) as fresh:
        loaded = fresh.sessions.load("chat-1")
        assert loaded is not None and loaded.title == "[erased]"
        assert fresh.verify().ok
