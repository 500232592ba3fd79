"""Replay reads a session's stream once: what it yields is one consistent read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sessiontrail import SessionTrail


def test_replay_is_one_read_while_another_writer_appends(
    trail: SessionTrail, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = trail.sessions.load_or_create("chat", user_id="ann")
    session.append_message(role="user", content="one")
    session.append_message(role="assistant", content="two")
    trail.sessions.save(session)
    read = trail.store.events.get
    reads = []

    def read_then_append(stream: Any, **kwargs: Any) -> Iterator[Any]:
        """Read the stream, then let another process append to it."""
        events = list(read(stream, **kwargs))
        reads.append(len(events))
        if len(reads) == 1:
            later = other_trail.sessions.load("chat", user_id="ann")
            assert later is not None
            later.append_message(role="user", content="three")
            other_trail.sessions.save(later)
        return iter(events)

    monkeypatch.setattr(trail.store.events, "get", read_then_append)
    steps = list(trail.sessions.replay("chat", user_id="ann"))
    assert [entry.version for entry, _ in steps] == [1, 2, 3]
    assert [m.content for m in steps[-1][1].messages] == ["one", "two"]
    assert reads == [3]
