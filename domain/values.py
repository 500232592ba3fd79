"""Immutable value objects a session is made of, and the views reads return."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)

from .errors import InvalidInput
from .event_model import EventModel
from .frozen import FrozenDict, FrozenList, frozen
from .limits import MAX_ID_CHARS

Role = Literal["system", "user", "assistant", "tool"]
ReadOnly = AfterValidator(frozen)
"""A JSON container of a stored value, made read-only (see frozen.py)."""


def utc_now() -> datetime:
    """The current time, timezone-aware, as every stored time is."""
    return datetime.now(tz=UTC)


def new_message_id() -> str:
    """A fresh, globally unique message id: a random (version 4) UUID's 32 hex
    digits, as `uuid4().hex` spells them, without building the UUID object
    (every message without an id of its own gets one)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return raw.hex()


class Value(BaseModel):
    """Base of value objects: immutable, no unknown fields, finite floats only.

    No custom __init__: pydantic would then run Python code for every nested value
    it decodes. Built directly, a bad value raises pydantic's ValidationError;
    passed to a sessiontrail call (as a value or a dict), InvalidInput.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Arguments(Value):
    """A value built only to be passed to a call (options, an update, an asset):
    a bad field is InvalidInput naming it, as the call's own arguments are, and
    is checked as strictly (never coerced: True is not 1, "5" is not 5). Not
    for values stored in events, which are decoded without running this."""

    model_config = ConfigDict(strict=True)

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc) from None


class ReadOnlyCopies(Value):
    """A value whose JSON containers are read-only (`ReadOnly` fields, named in
    `read_only`), in its copies too: pydantic's `model_copy(update=...)` skips
    validation, so an updated container would stay a plain, mutable one that a
    session then shares with the caller."""

    read_only: ClassVar[tuple[str, ...]] = ()

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        for name in self.read_only:
            object.__setattr__(copied, name, frozen(getattr(copied, name)))
        return copied


class ToolCall(ReadOnlyCopies):
    """One tool invocation requested by an assistant message."""

    read_only = ("arguments",)

    id: StrictStr = Field(min_length=1)
    name: StrictStr = Field(min_length=1)
    arguments: Annotated[StrictStr | dict[str, JsonValue], ReadOnly] = Field(
        default_factory=FrozenDict
    )


class Message(ReadOnlyCopies):
    """One transcript entry; `id` identifies it across merges and retries."""

    read_only = ("content_parts", "tool_calls", "metadata")

    id: str = Field(
        default_factory=new_message_id, min_length=1, max_length=MAX_ID_CHARS
    )
    role: Role
    content: StrictStr = ""
    reasoning: StrictStr | None = None
    content_parts: Annotated[list[dict[str, JsonValue]] | None, ReadOnly] = None
    tool_calls: Annotated[list[ToolCall] | None, ReadOnly] = None
    tool_call_id: str | None = None
    tool_success: bool | None = None
    created_at: AwareDatetime = Field(default_factory=utc_now)
    metadata: Annotated[dict[str, JsonValue], ReadOnly] = Field(
        default_factory=FrozenDict
    )
    """Read-only, as every container of a message (frozen.py): copies of a
    session share its messages, and one caller's edit must not reach another."""

    @model_validator(mode="after")
    def _tool_fields_match_role(self) -> Self:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self


def is_same_message(stored: Message, given: Message) -> bool:
    """Whether `given` stands for `stored`: equal, or, when the caller gave no id,
    equal on every field the caller gave (its time aside)."""
    if "id" in given.model_fields_set:
        return stored == given
    given_fields = given.model_fields_set - {"created_at"}
    return all(getattr(stored, name) == getattr(given, name) for name in given_fields)


PREVIEW_LENGTH = 120


_CONTROL_CHARACTERS = dict.fromkeys([*range(32), 127])


def one_line(text: str) -> str:
    """`text` with runs of whitespace as one space and control characters dropped."""
    return " ".join(text.split()).translate(_CONTROL_CHARACTERS)


def preview(message: Message) -> str:
    """The start of a message's text on one line, as session lists show it."""
    text = one_line(message.content)
    if not text and message.tool_calls:
        text = ", ".join(call.name for call in message.tool_calls)
    return text[:PREVIEW_LENGTH]


class PendingQuestion(ReadOnlyCopies):
    """A question the agent put to the person, waiting for an answer."""

    read_only = ("options",)  # copies of a session share the question

    tool_call_id: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)
    question: str = Field(min_length=1)
    options: Annotated[list[str], ReadOnly] = Field(default_factory=FrozenList)
    allow_custom: StrictBool = True  # also a request body: 1 or "yes" is no bool
    source: str | None = None
    checkpoint_id: str | None = None
    """For a LangGraph interrupt: the checkpoint its run waits at (a checkpoint
    put after it answers the question)."""


class SessionSummary(Value):
    """What a session list shows: no message content."""

    session_id: str
    user_id: str | None
    title: str
    pinned: bool
    model: str
    message_count: int
    created_at: datetime
    updated_at: datetime
    version: int
    deleted: bool
    preview: str = ""
    forked_from: str | None = None
    """The session this one was forked from (lists show it; None: not a fork)."""
    forked_version: int | None = None
    """The version of `forked_from` the fork copied."""


class HistoryEntry(Value):
    """One event of a session's audit timeline."""

    version: int
    event: str
    timestamp: datetime
    actor: str
    payload: dict[str, JsonValue]

    @classmethod
    def of(cls, event: EventModel) -> HistoryEntry:
        return cls(
            version=event.originator_version,
            event=type(event).__name__,
            timestamp=event.timestamp,
            actor=event.actor,
            payload=event.json_payload(),
        )


class DroppedEdit(Value):
    """A title, pin or metadata edit a save did not apply: another writer had
    changed the metadata since the copy it was made on, and the stored edit won.
    The history records it as the EditDropped event at `version`."""

    edit: str
    changes: dict[str, JsonValue]
    actor: str
    version: int


class SaveResult(Value):
    """What a save did not apply: `dropped`, oldest first, and `skipped`.

    Falsy when every edit was stored (as the None `save` once returned), truthy
    when some were dropped: `if trail.sessions.save(s): ...` asks "was anything
    of mine dropped?". `skipped` lists the ids of the save's messages the merge
    did not store because the stored session already held a message of that id
    (a retried save's own, or another writer's that gave the same id): whoever
    gave the id needs it to tell which message the log kept.
    """

    dropped: list[DroppedEdit] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.dropped)


class Page(Value):
    """One page of a session list; pass `next_cursor` back for the next one."""

    items: list[SessionSummary]
    next_cursor: str | None


class MessagePage(Value):
    """Consecutive transcript messages, oldest first.

    `before` is the position to pass back for the messages preceding these; None
    when there are none.
    """

    items: list[Message]
    before: int | None


class ProjectionStatus(Value):
    """Where one read model stands against the log.

    `skipped`: events it could not decode; `unreadable_rows`: its rows this
    process's reads skipped.
    """

    name: str
    version: int
    live_version: int
    position: int
    head: int
    lag: int
    skipped: int
    unreadable_rows: int = 0

    @property
    def state(self) -> Literal["in_sync", "behind", "needs_rebuild", "newer"]:
        """needs_rebuild: older code built the live tables; newer: newer code did
        (this code leaves them alone)."""
        if self.live_version < self.version:
            return "needs_rebuild"
        if self.live_version > self.version:
            return "newer"
        return "in_sync" if self.lag == 0 else "behind"


class SyncStatus(Value):
    """The asset store's sync status: how far the read models are behind the log.

    `offline`: the database could not be reached (positions are then 0).
    """

    state: Literal["in_sync", "behind", "offline"]
    mode: Literal["inline", "worker"]
    last_synced_position: int
    pending: int
