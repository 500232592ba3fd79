"""The transcript pages the framework adapters read: their own writes, in both modes.

The OpenAI Agents SDK's and ADK's own stores answer every read with every write
made before it, and the adapters behave as those stores do. In inline mode the
read models are current when a save returns. In worker mode the trail builds
this on a database whose reads first bring the read models the adapters read
(sessions, ADK's) up to the log, as the LangGraph saver's reads do: an adapter
never waits for the worker, and whichever of the two gets to an event first
applies it, once.
"""

from __future__ import annotations

from ..domain.values import Message, MessagePage
from ..infrastructure.session_ids import StoredIds
from .session_list.reader import SessionIndex


class TranscriptPages:
    """The newest messages of a session, as its transcript read model holds them."""

    def __init__(self, index: SessionIndex, ids: StoredIds) -> None:
        self._index = index
        self._ids = ids

    def messages(
        self, session_id: str, *, user_id: str | None, last_n: int | None
    ) -> MessagePage:
        """The newest `last_n` messages (every one: None), oldest first;
        SessionNotFound unless the session is live and, when `user_id` is
        given, theirs."""
        return self._index.messages(
            self._ids.session(session_id), user_id=user_id, last_n=last_n, before=None
        )

    def message(
        self, session_id: str, message_id: str, *, user_id: str | None
    ) -> Message | None:
        """The message of that id in the transcript (None if it holds none),
        read by index whatever the session's length; SessionNotFound as for
        `messages`. An adapter that finds an id it was given already stored
        compares what it was given with what is stored."""
        page = self._index.messages(
            self._ids.session(session_id),
            user_id=user_id,
            last_n=1,
            before=None,
            message_id=message_id,
        )
        return page.items[0] if page.items else None
