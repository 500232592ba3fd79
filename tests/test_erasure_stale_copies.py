"""A copy of a session read before its user was erased by another process, and
saved once this process no longer remembers the erased key (more than
KEY_CACHE_SECONDS later): the save makes the user a new key, so its key check
passes, yet the copy still holds the erased title and metadata in plaintext.
Neither the snapshot the save takes nor the copy the cache keeps may bring them
back: the copy is read anew from the log, where they read erased."""

from __future__ import annotations

import pytest

import sessiontrail
from sessiontrail import Session, SessionTrail
from sessiontrail.infrastructure import user_keys

SECRET = "Alice's diagnosis"


@pytest.fixture(autouse=True)
def keys_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every use reads the key table, as one more than KEY_CACHE_SECONDS after
    the last does."""
    monkeypatch.setattr(user_keys, "KEY_CACHE_SECONDS", 0.0)


def _saved_with_a_secret_title(trail: SessionTrail, version: int) -> Session:
    s = trail.sessions.load_or_create("chat", user_id="alice")
    s.edit_title(SECRET)
    s.update_metadata({"ward": "oncology"})
    while s.version < version:
        s.append_message(role="user", content="hello")
    trail.sessions.save(s)
    return s


def _loaded_by_a_new_process(url: str) -> Session:
    with sessiontrail.connect(url) as fresh:
        loaded = fresh.sessions.load("chat", user_id="alice")
    assert loaded is not None
    return loaded


def test_a_snapshot_taken_after_an_erasure_elsewhere_holds_no_erased_title(
    url: str, trail: SessionTrail, other_trail: SessionTrail
) -> None:
    s = _saved_with_a_secret_title(trail, 99)
    other_trail.erase_user("alice")

    s.append_message(role="user", content="after the erasure")  # version 100
    trail.sessions.save(s)

    loaded = _loaded_by_a_new_process(url)  # from the snapshot at 100
    assert (loaded.version, loaded.title) == (100, "[erased]")
    assert loaded.metadata.get("ward") != "oncology"


def test_a_copy_saved_after_an_erasure_elsewhere_is_not_served_with_its_title(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    s = _saved_with_a_secret_title(trail, 4)
    other_trail.erase_user("alice")

    s.append_message(role="user", content="after the erasure")
    trail.sessions.save(s)

    assert s.title != SECRET  # the caller's copy reads as the log does
    loaded = trail.sessions.load("chat", user_id="alice")  # from the cache
    assert loaded is not None
    assert loaded.title != SECRET
    assert [m.content for m in loaded.messages][-1] == "after the erasure"


def test_a_pin_saved_on_a_copy_read_before_an_erasure_elsewhere_brings_nothing_back(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """A save that seals nothing makes no key; the copy is still read anew."""
    s = _saved_with_a_secret_title(trail, 3)
    other_trail.erase_user("alice")

    s.set_pinned(True)
    trail.sessions.save(s)

    loaded = trail.sessions.load("chat", user_id="alice")
    assert loaded is not None
    assert (loaded.pinned, loaded.title) == (True, "[erased]")
