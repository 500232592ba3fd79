"""Session ids to streams, for every read and write: the one place that applies
the spelling rule of `domain/session_ids.py` to what the log holds.

A caller's id is not hashed into a stream id directly: "Café" in NFC and in NFD
name one session, and a session stored before that rule keeps its spelling. The
cost: nothing for an id with one spelling (every ASCII id); otherwise one small
read (the stream's newest record, not decoded) per spelling tried until one
holds a session, so at most three for an id that names no session yet.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ..domain.qa import qa_stream_id
from ..domain.session import stream_id
from ..domain.session_ids import stored_spelling


class StoredIds:
    """The stored spelling and stream of a session id, and of a Q&A session's."""

    def __init__(self, holds_stream: Callable[[UUID], bool]) -> None:
        """`holds_stream(stream)`: whether the log has a record in `stream`."""
        self._holds = holds_stream

    def session(self, session_id: str) -> str:
        """The spelling of the chat session `session_id` names (NFC if none)."""
        return stored_spelling(session_id, lambda each: self._holds(stream_id(each)))

    def stream(self, session_id: str) -> UUID:
        """The stream of the chat session `session_id` names."""
        return stream_id(self.session(session_id))

    def qa_session(self, user_id: str, session_id: str) -> str:
        """The session spelling of the user's Q&A stream for `session_id`."""
        return stored_spelling(
            session_id, lambda each: self._holds(qa_stream_id(user_id, each))
        )

    def qa_stream(self, user_id: str, session_id: str) -> UUID:
        """The user's Q&A stream for `session_id`."""
        return qa_stream_id(user_id, self.qa_session(user_id, session_id))
