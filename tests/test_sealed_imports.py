"""An append that seals the content of many users at once (an import) checks
each user's key in its transaction and stores everything."""

from __future__ import annotations

from uuid import UUID

import sessiontrail
from sessiontrail import SessionTrail

USERS = 1_500
"""More users than one condition per key would let SQLite's expression hold."""


def test_an_import_of_many_users_content_in_one_append_is_stored(
    trail: SessionTrail,
) -> None:
    pending = []
    owners: dict[UUID, str | None] = {}
    for number in range(USERS):
        session = sessiontrail.Session(session_id=f"s{number}", user_id=f"u{number}")
        session.append_message(role="user", content=f"hello {number}")
        pending += list(session.collect_events())
        owners[session.id] = session.user_id
    trail.store.append_imported(pending, owners)
    last = trail.sessions.load(f"s{USERS - 1}")
    assert last is not None
    assert [message.content for message in last.messages] == [f"hello {USERS - 1}"]
