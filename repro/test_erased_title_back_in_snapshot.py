"""Repro: a process holding a Session object of a user another process erased
saves it after its key memory lapsed (more than KEY_CACHE_SECONDS later): the
save makes the user a new key, passes the key check, and the snapshot due at
version 100 is taken from the caller's object, which still holds the erased
title and metadata in plaintext. Sealed under the new key, they read back."""

from __future__ import annotations

import pytest

from sessiontrail import SessionTrail
from sessiontrail.infrastructure import user_keys


def test_a_snapshot_taken_after_an_erasure_elsewhere_holds_no_erased_title(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(user_keys, "KEY_CACHE_SECONDS", 0.0)  # time has passed
    s = trail.sessions.load_or_create("chat", user_id="alice")
    s.edit_title("Alice's diagnosis")
    s.update_metadata({"ward": "oncology"})
    while s.version < 99:
        s.append_message(role="user", content="hello")
    trail.sessions.save(s)
    assert s.version == 99

    other_trail.erase_user("alice")  # another process

    s.append_message(role="user", content="after the erasure")  # version 100
    trail.sessions.save(s)

    for reader in (other_trail, trail):
        reader.sessions._cache.clear()
        loaded = reader.sessions.load("chat", user_id="alice")
        assert loaded is not None
        assert loaded.title != "Alice's diagnosis"
        assert loaded.metadata.get("ward") != "oncology"


def test_a_load_after_saving_an_object_read_before_an_erasure_shows_no_erased_title(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No snapshot due: the process's cache keeps the caller's object as saved,
    stamped with the user's new key, and serves the erased title to any load."""
    monkeypatch.setattr(user_keys, "KEY_CACHE_SECONDS", 0.0)  # time has passed
    s = trail.sessions.load_or_create("chat", user_id="alice")
    s.edit_title("Alice's diagnosis")
    s.append_message(role="user", content="before")
    trail.sessions.save(s)

    other_trail.erase_user("alice")  # another process

    s.append_message(role="user", content="after the erasure")
    trail.sessions.save(s)

    loaded = trail.sessions.load("chat", user_id="alice")
    assert loaded is not None
    assert loaded.title != "Alice's diagnosis"
    assert loaded.messages[0].content != "before"


def test_a_pin_saved_on_an_object_read_before_an_erasure_elsewhere_brings_back_nothing(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that seals nothing (a pin) makes no key: the cache's stamp (no
    key) then matches, and the erased title is served."""
    monkeypatch.setattr(user_keys, "KEY_CACHE_SECONDS", 0.0)
    s = trail.sessions.load_or_create("chat", user_id="alice")
    s.edit_title("Alice's diagnosis")
    trail.sessions.save(s)

    other_trail.erase_user("alice")

    s.set_pinned(True)
    trail.sessions.save(s)

    loaded = trail.sessions.load("chat", user_id="alice")
    assert loaded is not None
    assert loaded.title != "Alice's diagnosis"
