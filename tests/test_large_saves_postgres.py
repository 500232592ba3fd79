"""The largest message the limits allow saves on PostgreSQL, beside other writers.

psycopg's pipeline mode could leave the end of a large INSERT unsent over a unix
socket (whose send buffer is about 200 KB), and the save then waited for ever while
holding the events table's lock. The test server listens on a unix socket only.
"""

from __future__ import annotations

import base64
import os
import threading

import pytest
from support.deadlines import outcomes_within
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.domain.limits import MAX_EVENT_CHARS, MAX_TEXT_CHARS

DEADLINE = 60  # seconds, on a loaded 2-core machine; about 1 s when idle
SMALL_SAVES = 10
ROOM = 1_000  # characters of the event budget left to role, ids, actor and keys


def noise(chars: int) -> str:
    """Text that compresses little (as real prose after zlib), so the bytes sent
    stay large."""
    return base64.b64encode(os.urandom(chars)).decode()[:chars]


def filling_metadata() -> dict[str, str]:
    """Metadata that, beside a content and a reasoning of the longest length one
    string may have, fills the event's budget of characters but for a little room."""
    rest = MAX_EVENT_CHARS - 2 * MAX_TEXT_CHARS - ROOM
    lengths = [MAX_TEXT_CHARS] * (rest // MAX_TEXT_CHARS) + [rest % MAX_TEXT_CHARS]
    return {f"part{index}": noise(length) for index, length in enumerate(lengths)}


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "encrypted"])
def test_the_largest_message_saves_while_another_writer_appends(
    postgres_server: PostgresServer, keyed: bool
) -> None:
    url = postgres_server.url(postgres_server.new_schema())
    key = sessiontrail.new_key() if keyed else None
    content, reasoning, metadata = (
        noise(MAX_TEXT_CHARS),
        noise(MAX_TEXT_CHARS),
        filling_metadata(),
    )
    with (
        sessiontrail.connect(url, key=key) as trail,
        sessiontrail.connect(url, key=key) as other,
    ):
        big = trail.sessions.load_or_create("big")
        big.append_message(
            role="user", content=content, reasoning=reasoning, metadata=metadata
        )
        small = other.sessions.load_or_create("small")
        start = threading.Barrier(2, timeout=DEADLINE)

        def save_big() -> None:
            start.wait()
            trail.sessions.save(big)

        def append_small() -> None:
            start.wait()
            for index in range(SMALL_SAVES):
                small.append_message(role="user", content=f"small {index}")
                other.sessions.save(small)

        assert outcomes_within(DEADLINE, save_big, append_small) == [None, None]
    with sessiontrail.connect(url, key=key) as reopened:
        stored, appended = (reopened.sessions.load(name) for name in ("big", "small"))
        assert stored is not None and appended is not None
        assert (stored.messages[0].content, stored.messages[0].metadata) == (
            content,
            metadata,
        )
        assert len(appended.messages) == SMALL_SAVES
