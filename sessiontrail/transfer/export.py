"""Export sessions: every event as a JSON line, one JSON document, or Markdown.

JSON lines stream in log order with O(1) memory and import back exactly
(`importer.py`); the JSON document and Markdown hold whole sessions in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol, cast, runtime_checkable

from ..domain.errors import SessionNotFound
from ..domain.session import Session
from ..domain.validation import SessionId, UserId, validated
from ..infrastructure.event_store import SessionStore
from ..infrastructure.log_reader import LogReader
from ..projections.qa import QAReads
from .markdown import markdown_transcript
from .portable import PortableEvent, StreamOwner

ExportFormat = Literal["jsonl", "json", "md"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "json", "md")
Progress = Callable[[int], None]


@runtime_checkable
class TextSink(Protocol):
    """Where an export is written: an open text file, `sys.stdout`, a StringIO."""

    def write(self, text: str, /) -> object: ...


class Exporter:
    """Reads sessions' streams (and their Q&A streams) as portable events."""

    def __init__(
        self, store: SessionStore, reader: LogReader, qa_reads: QAReads
    ) -> None:
        self._store = store
        self._reader = reader
        self._qa_reads = qa_reads

    @validated
    def events(
        self,
        session_ids: Sequence[SessionId] | None = None,
        *,
        user_id: UserId | None = None,
    ) -> Iterator[PortableEvent]:
        """The named sessions' events (None: the whole log, in log order); with
        `user_id`, only that user's streams, and another user's session is unknown."""
        if session_ids is None:
            yield from self._log(user_id)
            return
        for session_id in session_ids:
            yield from self._session(session_id, user_id)

    @validated
    def write(
        self,
        out: TextSink,
        session_ids: Sequence[SessionId] | None = None,
        *,
        format: ExportFormat = "jsonl",
        user_id: UserId | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Write the export to `out`; returns how many events it holds."""
        count = 0
        events = self.events(session_ids, user_id=user_id)
        if format == "jsonl":
            for count, event in enumerate(events, start=1):
                out.write(event.model_dump_json() + "\n")
                if progress and count % 1000 == 0:
                    progress(count)
            return count
        kept = list(events)
        sessions = _replayed(kept)
        if format == "json":
            document = {
                "format": "sessiontrail-export",
                "version": 1,
                "sessions": [
                    session.summary().model_dump(mode="json")
                    | {
                        "messages": [
                            m.model_dump(mode="json") for m in session.messages
                        ]
                    }
                    for session in sessions
                ],
                "events": [event.model_dump(mode="json") for event in kept],
            }
            json.dump(document, out, ensure_ascii=False, indent=1)
            out.write("\n")
        else:
            out.write("\n\n".join(markdown_transcript(s) for s in sessions) + "\n")
        return len(kept)

    def _log(self, user_id: str | None) -> Iterator[PortableEvent]:
        owners: dict[object, StreamOwner] = {}
        for event in self._store.every_event():
            owner = StreamOwner.of_start(event) or owners.get(event.originator_id)
            if owner is None:
                continue  # a stream whose start is unreadable was already reported
            owners[event.originator_id] = owner
            if user_id is None or owner.user_id == user_id:
                yield PortableEvent.of(event, owner)

    def _session(self, session_id: str, user_id: str | None) -> Iterator[PortableEvent]:
        events = self._reader.stream_events(self._store.ids.stream(session_id))
        owner = StreamOwner.of_start(events[0]) if events else None
        if owner is None or (user_id is not None and owner.user_id != user_id):
            raise SessionNotFound(f"no session {session_id!r}")
        for event in events:
            yield PortableEvent.of(event, owner)
        for qa_user, qa_session in self._qa_reads.streams():
            if qa_session != owner.session_id or user_id not in (None, qa_user):
                continue
            qa_owner = StreamOwner(stream="qa", session_id=qa_session, user_id=qa_user)
            for event in self._reader.stream_events(qa_owner.stream_uuid):
                yield PortableEvent.of(event, qa_owner)


def _replayed(events: list[PortableEvent]) -> list[Session]:
    """The sessions the exported session streams add up to, in order of creation."""
    sessions: dict[str, Session | None] = {}
    for portable in events:
        if portable.stream == "session":
            before = sessions.get(portable.session_id)
            sessions[portable.session_id] = cast(
                Session, portable.to_event().mutate(before)
            )
    return [session for session in sessions.values() if session is not None]
