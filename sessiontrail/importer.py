"""Import a file of events (an export) or of plain chat messages into the log.

Events are checked in a first pass over the file (every line valid, each stream
starting at version 1 with consecutive versions, consistent with what the database
already holds) and written in a second, so bad input writes nothing. Streams the
database already holds are continued from their head, which makes a re-run after an
interruption finish the job and a repeated import write nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from .domain.errors import InvalidInput
from .domain.event_model import CreatedEventModel, EventModel
from .domain.session import Session
from .domain.validation import Actor, ModelName, SessionId, UserId, validated
from .domain.values import Value
from .import_checks import imported_event
from .infrastructure.event_store import SessionStore
from .infrastructure.mapper import content_owner
from .infrastructure.portable import PortableEvent, StreamOwner
from .infrastructure.repository import SessionRepository

ImportKind = Literal["events", "messages"]
Records = Callable[[], Iterator[tuple[str, Any]]]
Progress = Callable[[int, int], None]
CHUNK_EVENTS = 2000

MESSAGE_FIELDS = frozenset(
    {
        "id",
        "role",
        "content",
        "reasoning",
        "content_parts",
        "tool_calls",
        "tool_call_id",
        "tool_success",
        "created_at",
        "metadata",
    }
)
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


class ImportReport(Value):
    """What an import wrote: its kind, the sessions touched, events new and known."""

    kind: ImportKind
    sessions: list[str]
    written: int
    already_present: int


@dataclass
class _Plan:
    """One stream of the file: what the database holds, and the file's last event."""

    owner: StreamOwner
    stored: int
    last: EventModel


class Importer:
    """Reads an import file and appends what the database does not hold yet."""

    def __init__(
        self,
        store: SessionStore,
        repository: SessionRepository,
        after_write: Callable[[int], object] | None,
        forget: Callable[[str], None],
    ) -> None:
        """`after_write(position)` brings inline read models up; `forget(session_id)`
        drops a cached copy of a session the import extended."""
        self._store = store
        self._repository = repository
        self._after_write = after_write
        self._forget = forget

    @validated
    def import_file(
        self,
        path: Path,
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
        kind, records = _detect(path)
        if kind == "messages":
            target = session_id or path.stem
            return self._import_messages(records, target, user_id, model, actor)
        if session_id is not None:
            raise InvalidInput("session_id: only for files of chat messages")
        return self._import_events(records, user_id, progress)

    def _import_events(
        self, records: Records, user_id: str | None, progress: Progress | None
    ) -> ImportReport:
        plans = self._check(records, user_id)
        owners = {
            stream: content_owner(plan.owner.user_id) for stream, plan in plans.items()
        }
        total = sum(
            max(plan.last.originator_version - plan.stored, 0)
            for plan in plans.values()
        )
        written = 0
        position: int | None = None
        chunk: list[EventModel] = []
        for _, record in records():
            event = PortableEvent.model_validate(record).to_event()
            if event.originator_version > plans[event.originator_id].stored:
                chunk.append(event)
            if len(chunk) >= CHUNK_EVENTS:
                position = self._store.append_imported(chunk, owners) or position
                written += len(chunk)
                chunk = []
                if progress:
                    progress(written, total)
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

    def _check(self, records: Records, user_id: str | None) -> dict[UUID, _Plan]:
        """First pass: every line valid and every stream consistent; nothing written."""
        plans: dict[UUID, _Plan] = {}
        for where, record in records():
            try:
                portable, event = imported_event(record)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: {exc}") from None
            label = f"{where}: {portable.stream} stream of {portable.session_id!r}"
            if user_id is not None and portable.user_id != user_id:
                raise InvalidInput(
                    f"{label}: belongs to {portable.user_id!r}, not {user_id!r}"
                )
            plan = plans.get(event.originator_id)
            if plan is None:
                plan = plans[event.originator_id] = self._start(portable, event, label)
            else:
                _continues(plan, portable, event, label)
            plan.last = event
            if event.originator_version == plan.stored:
                self._same_as_stored(event, label)
        for plan in plans.values():
            if plan.stored > plan.last.originator_version:
                self._same_as_stored(
                    plan.last,
                    f"{plan.owner.stream} stream of {plan.owner.session_id!r}",
                )
        return plans

    def _start(self, portable: PortableEvent, event: EventModel, label: str) -> _Plan:
        """The plan of a stream's first line: its own start event, at version 1."""
        if (
            not isinstance(event, CreatedEventModel)
            or event.originator_version != 1
            or StreamOwner.of_start(event) != portable.owner
        ):
            raise InvalidInput(
                f"{label}: must start with its own start event at version 1"
            )
        stored = self._store.stream_version(event.originator_id)
        return _Plan(portable.owner, stored, event)

    def _same_as_stored(self, event: EventModel, label: str) -> None:
        stored = self._store.event_at(event.originator_id, event.originator_version)
        if stored != event:
            raise InvalidInput(
                f"{label}: the database holds a different event at version "
                f"{event.originator_version}; it is not this export's session"
            )

    def _import_messages(
        self,
        records: Records,
        session_id: str,
        user_id: str | None,
        model: str,
        actor: str,
    ) -> ImportReport:
        if self._store.stream_version(_session_stream(session_id)):
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
            sessions=[session_id],
            written=session.version,
            already_present=0,
        )


def _continues(
    plan: _Plan, portable: PortableEvent, event: EventModel, label: str
) -> None:
    """A later line of a stream: the same owner, no second start, the next version."""
    if portable.owner != plan.owner:
        raise InvalidInput(
            f"{label}: user_id {portable.user_id!r}, but the stream belongs to "
            f"{plan.owner.user_id!r}"
        )
    version = event.originator_version
    if isinstance(event, CreatedEventModel):
        raise InvalidInput(f"{label}: a start event at version {version}")
    if version != plan.last.originator_version + 1:
        raise InvalidInput(
            f"{label}: version {version} follows {plan.last.originator_version}; "
            "versions must be consecutive"
        )


def _session_stream(session_id: str) -> UUID:
    return StreamOwner(
        stream="session", session_id=session_id, user_id=None
    ).stream_uuid


def chat_message(item: Any) -> dict[str, Any]:
    """append_message arguments from a chat message in our form or OpenAI's
    (`content` as a list of parts, `tool_calls[].function`, role "developer");
    fields we do not model are kept in the message's metadata."""
    if not isinstance(item, Mapping) or "role" not in item:
        raise InvalidInput("expected a message object with a role")
    fields = {key: value for key, value in item.items() if key in MESSAGE_FIELDS}
    extra = {key: value for key, value in item.items() if key not in MESSAGE_FIELDS}
    if fields["role"] == "developer":
        fields["role"] = "system"
    content = fields.get("content")
    if content is None:
        fields["content"] = ""
    elif isinstance(content, list):
        fields["content_parts"] = content
        fields["content"] = "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") in TEXT_PART_TYPES
        )
    elif not isinstance(content, str):
        raise InvalidInput("content: expected text or a list of content parts")
    calls = fields.get("tool_calls")
    if isinstance(calls, list):
        fields["tool_calls"] = [_tool_call(call) for call in calls]
    if extra:
        fields["metadata"] = {**(fields.get("metadata") or {}), **extra}
    return fields


def _tool_call(call: Any) -> Any:
    """OpenAI's `{id, type, function: {name, arguments}}` as `{id, name, arguments}`."""
    if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
        function = call["function"]
        return {
            "id": call.get("id"),
            "name": function.get("name"),
            "arguments": function.get("arguments", {}),
        }
    return call


def _detect(path: Path) -> tuple[ImportKind, Records]:
    """What the file holds, and a way to read its records (more than once)."""
    try:
        with path.open(encoding="utf-8") as file:
            start = file.read(4096).lstrip()
            file.seek(0)
            first_line = file.readline().strip()
    except OSError as exc:
        raise InvalidInput(f"file: cannot read {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"file: {str(path)!r} is not UTF-8 text") from None
    except ValueError as exc:  # a NUL or a lone surrogate: no file has that name
        raise InvalidInput(f"path: not a file name: {exc}") from None
    if not start:
        raise InvalidInput(f"file: {str(path)!r} is empty")
    if start[0] == "{" and first_line[:1] == "{" and first_line[-1:] == "}":
        records = _lines(path)
    elif start[0] in "[{":
        records = _document(path)
    else:
        raise InvalidInput(f"file: {str(path)!r} is neither JSON nor JSON lines")
    first = next(records(), None)
    if first is None:
        raise InvalidInput(f"file: {str(path)!r} holds no messages or events")
    if isinstance(first[1], Mapping) and "event" in first[1]:
        return "events", records
    if isinstance(first[1], Mapping) and "role" in first[1]:
        return "messages", records
    raise InvalidInput(
        f"{first[0]}: neither an event (no 'event') nor a message (no 'role')"
    )


def _json_problem(exc: ValueError) -> str:
    """Why text is not JSON this reads, in words users know."""
    if "integer string conversion" in str(exc):
        return f"a number longer than {sys.get_int_max_str_digits():,} digits"
    return str(exc)


def _lines(path: Path) -> Records:
    def read() -> Iterator[tuple[str, Any]]:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"line {number}", json.loads(line)
                except ValueError as exc:
                    raise InvalidInput(
                        f"line {number}: not JSON: {_json_problem(exc)}"
                    ) from None

    return read


def _document(path: Path) -> Records:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput(
            f"file: {str(path)!r} is not valid JSON: {_json_problem(exc)}"
        ) from None
    if isinstance(document, Mapping):
        for key in ("events", "messages"):
            if isinstance(document.get(key), list):
                name, items = key, document[key]
                break
        else:
            raise InvalidInput(
                "file: a JSON object needs an 'events' or 'messages' list"
            )
    elif isinstance(document, list):
        name, items = "items", document
    else:
        raise InvalidInput("file: expected a JSON list or object")

    def read() -> Iterator[tuple[str, Any]]:
        for index, item in enumerate(items):
            yield f"{name}[{index}]", item

    return read
