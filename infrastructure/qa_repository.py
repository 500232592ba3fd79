"""Writes to Q&A streams: load the head, decide, append; retry on conflict.

Unlike chat saves there is nothing to merge: each call's decision (is the entry
there? what changes?) is simply re-made on the newer head when another process
appended first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..domain.errors import SessionNotFound
from ..domain.qa import QASession, qa_stream_id
from ..domain.values import HistoryEntry
from .appends import AfterWrite, attempts, caught_up, gave_up
from .event_store import SessionStore, StreamMoved
from .locks import KeyedLocks
from .log_reader import LogReader

T = TypeVar("T")


class QARepository:
    """The Q&A streams of (user, session) pairs; `after_write(position)` per write."""

    def __init__(
        self,
        store: SessionStore,
        reader: LogReader,
        after_write: AfterWrite | None,
    ) -> None:
        self._store = store
        self._reader = reader
        self._after_write = after_write
        self._locks = KeyedLocks()

    def change(
        self, user_id: str, session_id: str, command: Callable[[QASession], T]
    ) -> T:
        """Run `command` on the stored Q&A session (a new one if none) and append
        what it decided; a stream is only created by a command that writes."""
        session_id = self._store.ids.qa_session(user_id, session_id)
        stream = qa_stream_id(user_id, session_id)
        with self._locks.hold(str(stream)):
            for _ in attempts():
                head = self._store.load_qa(stream)
                if head is None:
                    head = QASession.start(user_id, session_id)
                    new = len(head.pending_events)
                else:
                    new = 0
                result = command(head)
                if len(head.pending_events) == new:
                    return result  # decided to write nothing
                try:
                    position = self._store.record(head)
                except StreamMoved:
                    continue
                caught_up(self._after_write, position, f"Q&A of {session_id!r}")
                return result
        raise gave_up(f"Q&A of {session_id!r}")

    def history(self, user_id: str, session_id: str) -> list[HistoryEntry]:
        """Every Q&A event of (user, session), oldest first."""
        events = self._reader.stream_events(
            self._store.ids.qa_stream(user_id, session_id)
        )
        if not events:
            raise SessionNotFound(f"no Q&A for session {session_id!r}")
        return [HistoryEntry.of(event) for event in events]
