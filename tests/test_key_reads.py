"""Sealing for a user whose key this process does not remember (a cache miss)
reads their key once from the key table."""

from __future__ import annotations

from typing import Any

import pytest

from sessiontrail import SessionTrail


@pytest.fixture
def reads(trail: SessionTrail, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The users whose key rows the trail reads from now on."""
    table = trail.store.keys._table
    read_row = table.get
    seen: list[str] = []

    def counted(user_id: str) -> Any:
        seen.append(user_id)
        return read_row(user_id)

    monkeypatch.setattr(table, "get", counted)
    return seen


def test_a_users_key_not_remembered_is_read_once_to_seal(
    trail: SessionTrail, reads: list[str]
) -> None:
    trail.store.keys.seal("ann")  # the key is made
    trail.store.keys.forget("ann")  # as after KEY_CACHE_SECONDS
    reads.clear()

    trail.store.keys.seal("ann")

    assert reads == ["ann"]


def test_a_new_users_key_is_read_back_once_after_it_is_made(
    trail: SessionTrail, reads: list[str]
) -> None:
    trail.store.keys.seal("bob")
    assert reads == ["bob", "bob"]  # none found; then the stored key (or a racer's)
