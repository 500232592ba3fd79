"""Id questions about a stored transcript, answered by the transcript read model.

A loaded session's state leaves its transcript out; its commands still ask
whether a given message id is in it (a retried append, a re-delivered ADK event,
an idempotent HTTP append, a truncation merged onto a newer head), what its
newest messages are (pop), and whether it ever lost a message (the LangGraph
mirror's usage records). The `messages` table answers both by index, in
O(answer), but only when the session's index row stands at the version asked
about (always after an inline save; in worker mode the trail gives it a
database whose reads first bring the read model up to the log): otherwise it
says it cannot tell, and the session reads its log instead.
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from ..domain.values import Message
from ..infrastructure.gc_pause import gc_paused
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .sessions import MESSAGE_FIELDS, SessionsProjection

_CHUNK = 500  # ids per statement
_MESSAGES = TypeAdapter(list[Message])


class TranscriptIds:
    """The `TranscriptIndex` port over the `sessions` projection's tables."""

    def __init__(self, database: ProjectionDatabase) -> None:
        self._database = database

    def held_ids(
        self, stream: UUID, version: int, ids: Collection[str]
    ) -> set[str] | None:
        wanted = list(ids)
        with self._database.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            if not _at(cur, tables.table("sessions"), stream, version):
                return None
            held: set[str] = set()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                rows = cur.execute(
                    f"SELECT message_id FROM {tables.table('messages')} "
                    f"WHERE stream = ? AND message_id IN ({marks})",
                    (str(stream), *chunk),
                ).fetchall()
                held.update(row[0] for row in rows)
        return held

    def last(self, stream: UUID, version: int, count: int) -> list[Message] | None:
        with self._database.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            if not _at(cur, tables.table("sessions"), stream, version):
                return None
            rows = cur.execute(
                f"SELECT message FROM {tables.table('messages')} WHERE stream = ? "
                "ORDER BY position DESC LIMIT ?",
                (str(stream), count),
            ).fetchall()
            sealer = cur.sealer
        texts = [sealer.open_state(row[0], MESSAGE_FIELDS) for row in reversed(rows)]
        try:
            with gc_paused():  # a whole transcript is many objects at once
                return _MESSAGES.validate_json("[" + ",".join(texts) + "]")
        except ValidationError:
            return None  # a row this code cannot read: the log can tell

    def cut(self, stream: UUID, version: int) -> bool | None:
        """A message's place is one past the last appended, never reused: a
        transcript holding fewer messages than it was given has lost some. One
        that never lost any by a later version never had by `version` either."""
        with self._database.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            row = cur.execute(
                "SELECT version, message_count, next_position FROM "
                f"{tables.table('sessions')} WHERE stream = ?",
                (str(stream),),
            ).fetchone()
        if row is None or int(row[0]) < version:
            return None
        cut = int(row[2]) - 1 > int(row[1])
        return None if cut and int(row[0]) != version else cut


def _at(cur: Cursor, sessions: str, stream: UUID, version: int) -> bool:
    """Whether the stream's index row stands exactly at `version`."""
    row = cur.execute(
        f"SELECT version FROM {sessions} WHERE stream = ?", (str(stream),)
    ).fetchone()
    return row is not None and int(row[0]) == version
