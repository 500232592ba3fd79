"""Time travel: a session's audit timeline, its replay, and the session as it was.

Each reads the stream once: `replay` folds the very events its timeline shows, so
an append while it runs is simply not part of that replay.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from typing import cast
from uuid import UUID

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.event_model import EventModel
from ..domain.session import Session
from ..domain.values import HistoryEntry
from .event_store import SessionStore
from .log_reader import LogReader


class SessionHistory:
    """History, replay and point-in-time loads of chat sessions."""

    def __init__(self, store: SessionStore, reader: LogReader) -> None:
        self._store = store
        self._reader = reader

    def history(self, session_id: str, user_id: str | None) -> list[HistoryEntry]:
        """Every event, oldest first, deleted sessions included; SessionNotFound
        for an unknown session or another user's."""
        return [HistoryEntry.of(event) for event in self._events(session_id, user_id)]

    def replay(
        self, session_id: str, until: int | None, user_id: str | None
    ) -> Iterator[tuple[HistoryEntry, Session]]:
        """Each event up to `until`, oldest first, with a copy of the session
        right after it."""
        session: Session | None = None
        for event in self._events(session_id, user_id):
            if until is not None and event.originator_version > until:
                return
            session = cast(Session, event.mutate(session))
            yield HistoryEntry.of(event), copy.deepcopy(session)

    def at(
        self,
        session_id: str,
        version: int | None,
        at: datetime | None,
        user_id: str | None,
        *,
        named: str = "version",
    ) -> Session | None:
        """The session at a version or a moment (give one); None if it did not
        exist then, or is another user's. A version past the last is InvalidInput
        naming the caller's argument, `named`."""
        if (version is None) == (at is None):
            raise InvalidInput("version/at: give exactly one of them")
        stream = self._store.ids.stream(session_id)
        if at is not None:
            version = self.version_at(stream, at)
            if version is None:
                return None
        session = self._store.load(stream, version=version)
        if session is None or (user_id is not None and session.user_id != user_id):
            return None
        if version is not None and session.version < version:
            raise InvalidInput(
                f"{named}: {session_id!r} has {session.version} versions, not {version}"
            )
        return session

    def version_at(self, stream: UUID, moment: datetime) -> int | None:
        """The last version recorded at or before `moment`; None if none was."""
        version = None
        for event in self._reader.stream_events(stream):
            if event.timestamp > moment:
                break
            version = event.originator_version
        return version

    def _events(self, session_id: str, user_id: str | None) -> list[EventModel]:
        """The session's stream, read once; SessionNotFound unless it is a session
        (of `user_id`, when named)."""
        events = self._reader.stream_events(self._store.ids.stream(session_id))
        owner = events[0] if events else None
        if not isinstance(owner, Session.Started) or (
            user_id is not None and owner.user_id != user_id
        ):
            raise SessionNotFound(f"no session {session_id!r}")
        return events
