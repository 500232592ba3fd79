"""Import a file of events (an export) or of plain chat messages into the log.

Events are checked in a first pass over the file (every line valid, each stream
starting at version 1 with consecutive versions, consistent with what the database
already holds) and written in a second, so bad input writes nothing; the second
writes only blocks that read as the first checked them (`checked_file.py`). Streams the
database already holds are continued from their head, which makes a re-run after an
interruption finish the job and a repeated import write nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from ..domain.errors import InvalidInput
from ..domain.session import Session
from ..domain.validation import (
    Actor,
    FilePath,
    ModelName,
    SessionId,
    UserId,
    validated,
)
from ..domain.values import Value
from ..infrastructure.event_store import SessionStore
from ..infrastructure.log_position import LogPosition
from ..infrastructure.log_reader import LogReader
from ..infrastructure.mapper import content_owner
from ..infrastructure.repository import SessionRepository
from .chat import chat_message
from .checked_file import CheckedFile
from .planning import ImportPlanner
from .portable import PortableEvent
from .sniffing import ImportKind, Records, detect

Progress = Callable[[int, int], None]
CHUNK_EVENTS = 2000


class ImportReport(Value):
    """What an import wrote: its kind, the sessions touched, events new and known."""

    kind: ImportKind
    sessions: list[str]
    written: int
    already_present: int


class Importer:
    """Reads an import file and appends what the database does not hold yet."""

    def __init__(
        self,
        store: SessionStore,
        reader: LogReader,
        repository: SessionRepository,
        after_write: Callable[[LogPosition], object] | None,
        forget: Callable[[str], None],
    ) -> None:
        """`after_write(position)` brings inline read models up; `forget(session_id)`
        drops a cached copy of a session the import extended."""
        self._store = store
        self._planner = ImportPlanner(store, reader)
        self._repository = repository
        self._after_write = after_write
        self._forget = forget

    @validated
    def import_file(
        self,
        path: FilePath,
        *,
        user_id: UserId | None = None,
        session_id: SessionId | None = None,
        model: ModelName = "",
        actor: Actor = "import",
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import `path`: JSON lines of events (an export), a JSON export, or chat
        messages (a JSON list or JSON lines of `{"role", "content", ...}`).

        Messages go into a new session `session_id` (default: the file's name).
        With `user_id`, events must all be that user's; messages become theirs.
        """
        kind, records = detect(path)
        if kind == "messages":
            target = session_id or path.stem
            return self._import_messages(records, target, user_id, model, actor)
        if session_id is not None:
            raise InvalidInput("session_id: only for files of chat messages")
        return self._import_events(records, user_id, progress)

    def _import_events(
        self, records: Records, user_id: str | None, progress: Progress | None
    ) -> ImportReport:
        checked = CheckedFile(records, CHUNK_EVENTS)
        plans = self._planner.plan(checked.first_reading(), user_id)
        owners = {
            stream: content_owner(plan.owner.user_id) for stream, plan in plans.items()
        }
        total = sum(
            max(plan.last.originator_version - plan.stored, 0)
            for plan in plans.values()
        )
        written = 0
        position: LogPosition | None = None
        for block in checked.second_reading():
            events = (PortableEvent.model_validate(r).to_event() for _, r in block)
            chunk = [
                event
                for event in events
                if event.originator_version > plans[event.originator_id].stored
            ]
            position = self._store.append_imported(chunk, owners) or position
            written += len(chunk)
            if progress:
                progress(written, total)
        sessions = [
            p.owner.session_id for p in plans.values() if p.owner.stream == "session"
        ]
        for session_id in sessions:
            self._forget(session_id)
        if position is not None and self._after_write is not None:
            self._after_write(position)
        return ImportReport(
            kind="events",
            sessions=sorted(set(sessions)),
            written=written,
            already_present=sum(
                min(plan.stored, plan.last.originator_version)
                for plan in plans.values()
            ),
        )

    def _import_messages(
        self,
        records: Records,
        session_id: str,
        user_id: str | None,
        model: str,
        actor: str,
    ) -> ImportReport:
        if self._store.has_stream(self._store.ids.stream(session_id)):
            raise InvalidInput(
                f"session_id: {session_id!r} already exists; choose another id"
            )
        session = Session(
            session_id=session_id, model=model, user_id=user_id, actor=actor
        )
        for where, item in records():
            try:
                session.append_message(**chat_message(item), actor=actor)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            except TypeError as exc:
                raise InvalidInput(f"{where}: {exc}") from None
        self._repository.save(session)
        return ImportReport(
            kind="messages",
            sessions=[session.session_id],
            written=session.version,
            already_present=0,
        )
