"""The Session aggregate: one chat/agent session, one event stream.

A public command validates its input, then triggers an event; the event's `apply`
is re-run on every replay, so it holds no checks, no clock and no I/O. The events
are nested in the aggregate, and their stored topics name this module: they stay
here (see docs/schema-evolution.md before moving one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid5

from eventsourcing.domain import CanInitAggregate
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictStr,
    ValidationError,
)

from .aggregate import Aggregate, AggregateSnapshot
from .errors import InvalidInput, SessionNotFound, StorageUnavailable
from .event_model import CreatedEventModel, EventModel
from .limits import check_payload
from .log_fold import UNCHECKED, LogFold
from .personal import MESSAGE, QUESTION, SERIALIZED, USAGE, Spec
from .ports import SessionLog, TranscriptIndex
from .threads import ChannelValue, Serialized, TaskWrite
from .validation import (
    Actor,
    Count,
    InitialTitle,
    ItemId,
    JsonObject,
    MessageIn,
    ModelName,
    NewSessionId,
    SessionId,
    Title,
    UsageRecord,
    UserId,
    validated,
)
from .values import (
    Message,
    PendingQuestion,
    Role,
    SessionSummary,
    ToolCall,
    is_same_message,
    preview,
)

SESSION_NAMESPACE = UUID("6f0c2a8e-3b1d-5c4e-9a7f-2d8b1e0c4a93")


@functools.lru_cache(maxsize=4096)
def stream_id(session_id: str) -> UUID:
    """The stream a session id lands in: the same id always gives the same stream.
    Pass a stored spelling (see session_ids.py), not one a caller typed. The
    recent ones are remembered: every read and write asks, and uuid5 is ~5 us."""
    return uuid5(SESSION_NAMESPACE, session_id)


class SessionStart(BaseModel):
    """What a new session may be started with; checked once, at creation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    session_id: NewSessionId
    model: ModelName = ""
    user_id: UserId | None = None
    title: InitialTitle = ""
    metadata: JsonObject | None = None
    actor: Actor = "runtime"


class ForkStart(SessionStart):
    """What a fork is started with: a session's start, and where it came from."""

    source_id: SessionId
    source_version: int = Field(ge=1)


class SessionState(BaseModel):
    """What a Session decides and merges commands with, typed: what a snapshot
    stores and a load restores. The transcript and the token-usage records are
    not in it (they live in the log, read when asked for), so it stays small
    however long the session; `message_count` is None only after a truncation
    written before sessions counted their messages (then it is counted when
    asked for)."""

    model_config = ConfigDict(extra="forbid")

    created_on: datetime
    modified_on: datetime
    session_id: str
    user_id: str | None
    model: str
    title: str
    pinned: bool
    title_version: int
    metadata_version: int
    metadata: dict[str, JsonValue]
    message_count: int | None
    pending_question: PendingQuestion | None
    deleted: bool
    forked_from: str | None = None
    """The session this one was forked from (None: not a fork, or a snapshot
    taken before sessions kept it)."""
    forked_version: int | None = None


class Session(Aggregate, created_event_name="Started"):
    """A session's state is what its events say; commands append new events."""

    class Event(EventModel):
        """Base of every Session event."""

    class Started(Event, CreatedEventModel):
        personal: ClassVar[Spec] = {"": ("title", "metadata")}

        session_id: str
        model: str
        user_id: str | None
        title: str
        metadata: dict[str, JsonValue]

    class Forked(Started):
        """The first event of a fork: a session started as a copy of another
        (`source_id`) as it was at `source_version`. What a `Started` does, and
        says where it came from; the fork's messages follow as appends."""

        source_id: str
        source_version: int

        def apply(self, aggregate: Session) -> None:
            aggregate.forked_from = self.source_id
            aggregate.forked_version = self.source_version

    class MessageAppended(Event):
        personal: ClassVar[Spec] = {"message": MESSAGE}

        message: Message

        def apply(self, aggregate: Session) -> None:
            aggregate._messages.append(self.message)
            if aggregate._message_count is not None:
                aggregate._message_count += 1

    class TranscriptTruncated(Event):
        class_version = 2  # v2 added `message_count`: how many messages it left

        removed_ids: list[str]
        message_count: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["message_count"] = None  # v1 did not say: counted when asked

        def apply(self, aggregate: Session) -> None:
            aggregate._messages.remove(frozenset(self.removed_ids))
            for removed in self.removed_ids:
                aggregate._lost.append(removed)
            aggregate._message_count = (
                len(aggregate._messages.items())
                if aggregate._messages.loaded
                else self.message_count
            )

    class TitleEdited(Event):
        personal: ClassVar[Spec] = {"": ("title",)}

        title: str
        title_version: int
        metadata_version: int
        source: str

        def apply(self, aggregate: Session) -> None:
            aggregate.title = self.title
            aggregate.title_version = self.title_version
            aggregate.metadata_version = self.metadata_version

    class PinChanged(Event):
        pinned: bool
        metadata_version: int

        def apply(self, aggregate: Session) -> None:
            aggregate.pinned = self.pinned
            aggregate.metadata_version = self.metadata_version

    class MetadataEdited(Event):
        personal: ClassVar[Spec] = {"": ("changes",)}

        changes: dict[str, JsonValue]
        metadata_version: int

        def apply(self, aggregate: Session) -> None:
            for key, value in self.changes.items():
                if value is None:
                    aggregate.metadata.pop(key, None)
                else:  # a copy: the event keeps what it recorded
                    aggregate.metadata[key] = _json_copy(value)
            aggregate.metadata_version = self.metadata_version

    class EditDropped(Event):
        """A title, pin or metadata edit that a save did not apply (stale copy).

        The edit was based on metadata another writer had changed since, and the
        stored edit won. It changes no state: it keeps the attempt, and who made
        it (`actor`), in the history. `based_on` is the metadata_version the edit
        was made on."""

        personal: ClassVar[Spec] = {"": ("changes",)}

        edit: str
        changes: dict[str, JsonValue]
        based_on: int

    class ModelChanged(Event):
        model: str

        def apply(self, aggregate: Session) -> None:
            aggregate.model = self.model

    class QuestionPending(Event):
        personal: ClassVar[Spec] = {"question": QUESTION}

        question: PendingQuestion

        def apply(self, aggregate: Session) -> None:
            aggregate.pending_question = self.question

    class QuestionResolved(Event):
        tool_call_id: str

        def apply(self, aggregate: Session) -> None:
            aggregate.pending_question = None

    class TokenUsageRecorded(Event):
        personal: ClassVar[Spec] = {"record": USAGE}
        class_version = 2  # v2 added `model`: the session's model at the time

        record: dict[str, JsonValue]
        model: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["model"] = ""  # v1 did not say; readers use the session's model

        def apply(self, aggregate: Session) -> None:
            aggregate._usage.append(self.record)

    class SessionDeleted(Event):
        def apply(self, aggregate: Session) -> None:
            aggregate.deleted = True

    class SessionRestored(Event):
        def apply(self, aggregate: Session) -> None:
            aggregate.deleted = False

    # LangGraph threads: what they record lives in the log and the "langgraph" read
    # model, never in the session's state (these events change only its version).

    class CheckpointSaved(Event):
        """LangGraph saved a checkpoint of the thread this session is."""

        class_version = 2  # v2: values say whether they are `compressed`

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for value in [state["checkpoint"], *state["values"]]:
                value["compressed"] = False  # v1 stored every value as it was

        personal: ClassVar[Spec] = {
            "checkpoint": SERIALIZED,
            "values.*": SERIALIZED,
            "": ("app_metadata",),
        }

        checkpoint_id: str
        parent_checkpoint_id: str | None
        checkpoint: Serialized
        channel_versions: dict[str, str]
        values: list[ChannelValue]
        metadata: dict[str, JsonValue]
        app_metadata: dict[str, JsonValue]

    class WritesSaved(Event):
        """LangGraph saved a task's pending writes on a checkpoint of the thread."""

        class_version = 2  # v2: writes say whether they are `compressed`

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for write in state["writes"]:
                write["compressed"] = False  # v1 stored every value as it was

        personal: ClassVar[Spec] = {"writes.*": SERIALIZED}

        checkpoint_id: str
        task_id: str
        task_path: str
        writes: list[TaskWrite]
        replace: bool

    class CheckpointsCleared(Event):
        """The thread's checkpoints and pending writes recorded up to
        `through_version` are gone for LangGraph (its id was used again after the
        thread was deleted); the log keeps them. Later ones stay, so a writer
        merged after another's fresh start clears nothing of it."""

        through_version: int

    class Snapshot(AggregateSnapshot):
        personal: ClassVar[Spec] = {
            "state": ("title", "metadata"),
            "state.pending_question": QUESTION,
        }
        class_version = 2  # v2 left out the transcript and the token usage

        state: SessionState

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 snapshot held the whole transcript and every usage record: keep
            their count; the session reads them from the log when asked."""
            held = state["state"]
            held["message_count"] = len(held.pop("messages"))
            held.pop("token_usage")

    METADATA_EVENTS = (TitleEdited, PinChanged, MetadataEdited)

    def __init__(
        self,
        session_id: str,
        model: str = "",
        user_id: str | None = None,
        title: str = "",
        metadata: dict[str, JsonValue] | None = None,
        actor: str = "runtime",
    ) -> None:
        """The apply of `Started` (runs on replay too): set the initial state."""
        self.session_id = session_id
        self.user_id = user_id
        self.model = model
        self.title = title
        self.pinned = False
        self.title_version = 0
        self.metadata_version = 0
        self.metadata: dict[str, JsonValue] = _json_copy(metadata or {})
        self._messages: LogFold[Message] = LogFold([])
        self._message_count: int | None = 0
        self.pending_question: PendingQuestion | None = None
        self.deleted = False
        self.forked_from: str | None = None  # set by `Forked`
        self.forked_version: int | None = None
        self._usage = _usage_records([])
        self._lost: LogFold[str] = LogFold([])
        self._index: tuple[TranscriptIndex, int] | None = None
        self.stored_head: bytes | None = None
        """The chain value of the stored record at this version, set by the store
        when it loads or saves the session (None until then): which stored
        session this copy is of, when a purge lets a new one reach its version."""
        self.read_under: str | None = None
        """The id of the key its user's fields were last opened or sealed with
        in this copy, set by the store (None: none): once that key is erased,
        the copy holds content the log reads as erased."""

    @staticmethod
    def create_id(session_id: str) -> UUID:
        return stream_id(session_id)

    @classmethod
    def _create(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID | None = None,
        **kwargs: Any,
    ) -> Self:
        """Check the starting values before the `Started` event exists."""
        checks = ForkStart if event_class is cls.Forked else SessionStart
        try:
            start = checks.model_validate(kwargs)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc) from None
        values = start.model_dump()
        values["metadata"] = values["metadata"] or {}
        check_payload(values)
        return super()._create(event_class, id=id, **values)

    @classmethod
    def forked(cls, **start: Any) -> Self:
        """A new session whose first event is `Forked` (the fields of
        `ForkStart`); InvalidInput naming a bad one. Add the copied messages with
        `replace_messages` before it is stored."""
        return cls._create(cls.Forked, **start)

    def __deepcopy__(self, memo: dict[int, Any]) -> Session:
        """An independent copy: messages, pending questions and events are
        immutable values and are shared; every list (the unsaved events) is
        copied, the metadata deeply (it is JSON: copied as such, without
        copy.deepcopy's memo). The transcript and the usage records, held or
        not yet read, cost nothing to copy (see LogFold): a usage record is
        copied when a caller is given it, never shared with one. The cache
        copies on every save and load, so this is on the hot path."""
        twin = object.__new__(type(self))
        state = vars(self).copy()
        for name, value in state.items():
            if isinstance(value, list):
                state[name] = value.copy()
        state["metadata"] = _json_copy(self.metadata)
        state["_messages"] = self._messages.copy()
        state["_usage"] = self._usage.copy()
        state["_lost"] = self._lost.copy()
        twin.__dict__ = state
        return twin

    def attach(self, log: SessionLog, index: TranscriptIndex | None = None) -> None:
        """Read the transcript and the usage records from `log` when a caller asks
        for them (a loaded session's state leaves them out): as of this version,
        with what is applied after it replayed on top. `index` answers the
        commands' id questions without reading the transcript, when it can.
        Asked for after a purge of the session: SessionNotFound (it is gone)."""
        stream, version, name = self.id, self.version, self.session_id
        self._index = None if index is None else (index, version)
        if self._messages.loaded and self._usage.loaded and self._lost.loaded:
            return  # all held: nothing to read (a save of a held session)
        count, head = self._message_count, self.stored_head

        def purged() -> SessionNotFound:
            return SessionNotFound(f"session {name!r} was purged since its load")

        def still_stored() -> None:
            """SessionNotFound unless the log's record at this version is still
            the one loaded (same chain value): read after what it vouches for, so
            a purge and a new start under the id that reached the same version
            and message count since is not read as this session."""
            if head is not None and log.head_at(stream, version) != head:
                raise purged()

        def logged() -> Sequence[object]:
            """The log up to this version; SessionNotFound if it no longer holds
            it (purged since the load), rather than a shorter log's transcript."""
            events = log.events_until(stream, version)
            if len(events) < version:
                raise purged()
            still_stored()
            return events

        user = self.user_id

        def stamp() -> object:
            """What a read shared by this session's copies is used only while it
            holds: the session still stored, under its user's key (an erasure
            since: another key, or none, and the read is made again). UNCHECKED
            while storage is down: a read already made is used as it is."""
            try:
                still_stored()
                return log.key_of(user)
            except StorageUnavailable:
                return UNCHECKED

        if not self._messages.loaded:

            def transcript() -> list[Message]:
                held = None
                if index is not None and count is not None:
                    held = index.last(stream, version, count)
                if held is None or len(held) != count:
                    held = transcript_of(logged())
                else:
                    still_stored()  # the read model's rows: of which session?
                if count is not None and len(held) != count:
                    raise purged()
                return held

            self._messages = LogFold(load=transcript, stamp=stamp)
        if not self._usage.loaded:
            self._usage = _usage_records(load=lambda: usage_of(logged()), stamp=stamp)
        if not self._lost.loaded:
            self._lost = LogFold(load=lambda: lost_of(logged()), stamp=stamp)

    # -- views -------------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """The whole transcript, in order (read from the log on first use when
        this session was loaded: O(length) once; commands need not read it)."""
        return self._messages.items()

    @property
    def cache_weight(self) -> int:
        """How many messages a copy of this session may hold in memory once its
        transcript is read (the cache bounds the sum), known without reading."""
        return 1 + (self._message_count or 0)

    @property
    def message_count(self) -> int:
        """How many messages the transcript holds (known without reading it)."""
        if self._message_count is None:
            self._message_count = len(self._messages.held())
        return self._message_count

    @property
    def token_usage(self) -> list[dict[str, JsonValue]]:
        """Every token-usage record, oldest first (read from the log on first use
        when this session was loaded; the usage read model serves reports)."""
        return self._usage.items()

    @validated
    def held_ids(self, ids: list[StrictStr]) -> set[str]:
        """Which of `ids` are ids of messages in the transcript (without reading
        the transcript when the transcript read model can tell)."""
        return self._held(ids)

    def _held(self, ids: Collection[str]) -> set[str]:
        """What the read model says the stored transcript holds, with this
        copy's appends and removals since the load applied in order (an id
        taken out and appended again is held), when it can tell."""
        wanted = set(ids)
        changes = self._messages.changed_since_load()
        if changes is not None and self._index is not None:
            index, version = self._index
            held = index.held_ids(self.id, version, wanted)
            if held is not None:
                for _, change in changes:
                    if isinstance(change, Message):
                        held |= {change.id} & wanted
                    elif isinstance(change, frozenset):
                        held -= change
                return held
        return {m.id for m in self._messages.held() if m.id in wanted}

    def ever_cut(self) -> bool:
        """Whether a message was ever taken out of the transcript (truncated),
        so that one appended now may have been in it before; True when nothing
        tells without reading the log. Asks the transcript read model about
        the stored session (one indexed row), and this one's unsaved events."""
        if any(isinstance(e, Session.TranscriptTruncated) for e in self.pending_events):
            return True
        if self._index is None:
            return True
        index, _ = self._index
        cut = index.cut(self.id, self.version - len(self.pending_events))
        return True if cut is None else cut

    def lost_ids(self) -> set[str]:
        """The ids of the messages ever taken out of the transcript, so that one
        appended again is told from a new one (read from the log on first use
        when this session was loaded, O(its events): ask `ever_cut` first)."""
        return set(self._lost.held())

    @validated
    def last_messages(self, count: Count) -> list[Message]:
        """The newest `count` messages, in order (fewer if the transcript is
        shorter), without reading the whole transcript when they were appended
        since the load or the transcript read model has them."""
        return self._last(count)

    def _last(self, count: int) -> list[Message]:
        if count <= 0:
            return []
        recent = self._messages.appended_since_load()
        if recent is not None and len(recent) >= count:
            return recent[len(recent) - count :]
        if recent is not None and self._index is not None:
            index, version = self._index
            older = index.last(self.id, version, count - len(recent))
            if older is not None:
                return older + recent
        return self._messages.last(count)

    @property
    def created_at(self) -> datetime:
        return self.created_on

    @property
    def updated_at(self) -> datetime:
        return self.modified_on

    @validated
    def summary(self, *, with_preview: StrictBool = True) -> SessionSummary:
        """The list view of this session (the preview of the last message reads
        the transcript unless it was appended since the load)."""
        return SessionSummary(
            session_id=self.session_id,
            user_id=self.user_id,
            title=self.title,
            pinned=self.pinned,
            model=self.model,
            message_count=self.message_count,
            created_at=self.created_at,
            updated_at=self.updated_at,
            version=self.version,
            deleted=self.deleted,
            preview=self._preview() if with_preview else "",
            forked_from=self.forked_from,
            forked_version=self.forked_version,
        )

    def _preview(self) -> str:
        last = self._last(1)
        return preview(last[0]) if last else ""

    def to_state(self) -> SessionState:
        """Every attribute, typed, for snapshots and copies."""
        return SessionState(
            created_on=self.created_on,
            modified_on=self.modified_on,
            session_id=self.session_id,
            user_id=self.user_id,
            model=self.model,
            title=self.title,
            pinned=self.pinned,
            title_version=self.title_version,
            metadata_version=self.metadata_version,
            metadata=self.metadata,
            message_count=self._message_count,
            pending_question=self.pending_question,
            deleted=self.deleted,
            forked_from=self.forked_from,
            forked_version=self.forked_version,
        )

    def _restore(self, state: SessionState) -> None:
        """Take a snapshot's attributes (copies of its containers); the transcript
        and usage are read from the log once `attach` names it."""
        self.session_id = state.session_id
        self.user_id = state.user_id
        self.model = state.model
        self.title = state.title
        self.pinned = state.pinned
        self.title_version = state.title_version
        self.metadata_version = state.metadata_version
        self.metadata = _json_copy(state.metadata)
        self._message_count = state.message_count
        self._messages = LogFold(load=_unattached)
        self.pending_question = state.pending_question
        self.deleted = state.deleted
        self.forked_from = state.forked_from
        self.forked_version = state.forked_version
        self._usage = _usage_records(load=_unattached)
        self._lost = LogFold(load=_unattached)
        self._index = None
        self.stored_head = None
        self.read_under = None

    # -- transcript commands (actor "runtime" by default) ----------------------------

    @validated
    def append_message(
        self,
        role: Role,
        content: StrictStr = "",
        *,
        id: ItemId | None = None,
        reasoning: StrictStr | None = None,
        content_parts: list[JsonObject] | None = None,
        tool_calls: Sequence[ToolCall | Mapping[str, Any]] | None = None,
        tool_call_id: StrictStr | None = None,
        tool_success: bool | None = None,
        created_at: AwareDatetime | None = None,
        metadata: JsonObject | None = None,
        actor: Actor = "runtime",
    ) -> Message:
        """Add a message at the end of the transcript and return it."""
        fields: dict[str, Any] = {
            "role": role,
            "content": content,
            "reasoning": reasoning,
            "content_parts": content_parts,
            "tool_calls": None if tool_calls is None else list(tool_calls),
            "tool_call_id": tool_call_id,
            "tool_success": tool_success,
            "metadata": metadata or {},
        }
        if id is not None:
            if self._held([id]):
                raise InvalidInput(f"id: message {id!r} is already in the transcript")
            fields["id"] = id
        if created_at is not None:
            fields["created_at"] = created_at
        message = Message(**fields)
        self.trigger_event(self.MessageAppended, message=message, actor=actor)
        return message

    @validated
    def truncate(self, keep: Count, *, actor: Actor = "runtime") -> None:
        """Keep the first `keep` messages and drop the rest; no event if none drop."""
        removed = [m.id for m in self._last(self.message_count - keep)]
        if removed:
            self._remove_messages(removed, actor=actor)

    def _remove_messages(
        self, ids: list[str], *, actor: str, timestamp: datetime | None = None
    ) -> None:
        """Take out these messages, all in the transcript (the merge rules and
        `truncate` name only such ids): one TranscriptTruncated event."""
        extra = {} if timestamp is None else {"timestamp": timestamp}
        self.trigger_event(
            self.TranscriptTruncated,
            removed_ids=ids,
            message_count=self.message_count - len(ids),
            actor=actor,
            **extra,
        )

    @validated
    def replace_messages(
        self, messages: list[MessageIn], *, actor: Actor = "runtime"
    ) -> None:
        """Make the transcript equal `messages` with the fewest events: truncate to
        the longest common prefix, append the rest. Equal lists write nothing.

        A message whose id the caller did not give (one built without `id=`, or
        from a mapping) is the stored message at its position when it equals it
        on every field it gives but the time: re-saving a whole transcript built
        anew appends only what is new, and stored messages keep their ids.
        """
        keep, held = 0, self._messages.held()
        for stored, given in zip(held, messages, strict=False):
            if not is_same_message(stored, given):
                break
            keep += 1
        ids = [m.id for m in held[:keep]] + [m.id for m in messages[keep:]]
        if len(ids) != len(set(ids)):
            raise InvalidInput("messages: two messages share an id")
        self.truncate(keep, actor=actor)
        for message in messages[keep:]:
            self.trigger_event(self.MessageAppended, message=message, actor=actor)

    @validated
    def set_model(self, model: ModelName, *, actor: Actor = "runtime") -> None:
        """Switch the model the session talks to; no event if unchanged."""
        if model != self.model:
            self.trigger_event(self.ModelChanged, model=model, actor=actor)

    @validated
    def set_pending_question(
        self, question: PendingQuestion | Mapping[str, Any], *, actor: Actor = "runtime"
    ) -> None:
        """Record a question waiting for the person's answer; replaces any other."""
        question = PendingQuestion.model_validate(question)
        if question != self.pending_question:
            self.trigger_event(self.QuestionPending, question=question, actor=actor)

    @validated
    def resolve_question(self, *, actor: Actor = "user") -> None:
        """Mark the pending question answered; no event if none is pending."""
        if self.pending_question is not None:
            self.trigger_event(
                self.QuestionResolved,
                tool_call_id=self.pending_question.tool_call_id,
                actor=actor,
            )

    @validated
    def record_token_usage(
        self, record: UsageRecord, *, actor: Actor = "runtime"
    ) -> None:
        """Keep one token-usage record (a JSON object) verbatim."""
        self.trigger_event(
            self.TokenUsageRecorded, record=record, model=self.model, actor=actor
        )

    # -- metadata group commands (people own them: actor "user" by default) ------

    @validated
    def edit_title(
        self, title: Title, *, source: Actor = "user", actor: Actor = "user"
    ) -> None:
        """Rename (title_version and metadata_version count up); quiet if unchanged."""
        if title != self.title:
            self.trigger_event(
                self.TitleEdited,
                title=title,
                title_version=self.title_version + 1,
                metadata_version=self.metadata_version + 1,
                source=source,
                actor=actor,
            )

    @validated
    def set_pinned(self, pinned: StrictBool, *, actor: Actor = "user") -> None:
        """Pin or unpin; no event if unchanged, so retries are quiet."""
        if pinned != self.pinned:
            self.trigger_event(
                self.PinChanged,
                pinned=pinned,
                metadata_version=self.metadata_version + 1,
                actor=actor,
            )

    @validated
    def update_metadata(self, changes: JsonObject, *, actor: Actor = "user") -> None:
        """Set keys to values (None removes the key); quiet if nothing changes."""
        effective = {
            key: value for key, value in changes.items() if self._changes(key, value)
        }
        if effective:
            self.trigger_event(
                self.MetadataEdited,
                changes=effective,
                metadata_version=self.metadata_version + 1,
                actor=actor,
            )

    def _changes(self, key: str, value: JsonValue) -> bool:
        """Whether setting `key` to `value` (None: removing it) changes the metadata."""
        if value is None:
            return key in self.metadata
        return key not in self.metadata or self.metadata[key] != value

    # -- lifecycle (the repository's delete/restore use these) -----------------------

    @validated
    def delete(self, *, actor: Actor = "user") -> None:
        """Soft-delete: the session loads as missing, its history stays."""
        if not self.deleted:
            self.trigger_event(self.SessionDeleted, actor=actor)

    @validated
    def restore(self, *, actor: Actor = "user") -> None:
        """Undo a soft delete."""
        if self.deleted:
            self.trigger_event(self.SessionRestored, actor=actor)

    # -- LangGraph threads (the saver in sessiontrail.integrations.langgraph) ---------

    @validated
    def save_checkpoint(
        self,
        checkpoint_id: ItemId,
        *,
        parent_checkpoint_id: ItemId | None,
        checkpoint: Serialized,
        channel_versions: dict[StrictStr, StrictStr],
        values: list[ChannelValue],
        metadata: JsonObject,
        app_metadata: JsonObject,
        actor: Actor = "runtime",
    ) -> None:
        """Record a checkpoint of the thread: the checkpoint as the serializer wrote
        it, the channel values that changed with it, LangGraph's own metadata keys
        (structure) and the app's (personal)."""
        self.record_checkpoint(
            checkpoint_id,
            parent_checkpoint_id=parent_checkpoint_id,
            checkpoint=checkpoint,
            channel_versions=channel_versions,
            values=values,
            metadata=metadata,
            app_metadata=app_metadata,
            actor=actor,
        )

    def record_checkpoint(
        self,
        checkpoint_id: str,
        *,
        parent_checkpoint_id: str | None,
        checkpoint: Serialized,
        channel_versions: dict[str, str],
        values: list[ChannelValue],
        metadata: dict[str, Any],
        app_metadata: dict[str, Any],
        actor: str,
    ) -> None:
        """`save_checkpoint` for a caller that has checked these arguments
        already, as the LangGraph saver does at its door (each checkpoint it
        puts is checked once, not again here); the event's limits still
        apply."""
        self.trigger_event(
            self.CheckpointSaved,
            checkpoint_id=checkpoint_id,
            parent_checkpoint_id=parent_checkpoint_id,
            checkpoint=checkpoint,
            channel_versions=channel_versions,
            values=values,
            metadata=metadata,
            app_metadata=app_metadata,
            actor=actor,
        )

    @validated
    def save_writes(
        self,
        checkpoint_id: ItemId,
        task_id: ItemId,
        writes: list[TaskWrite],
        *,
        task_path: StrictStr = "",
        replace: StrictBool = False,
        actor: Actor = "runtime",
    ) -> None:
        """Record a task's pending writes on a checkpoint (saved or not yet): with
        `replace` they take over slots already written, else those keep theirs."""
        if writes:
            self.trigger_event(
                self.WritesSaved,
                checkpoint_id=checkpoint_id,
                task_id=task_id,
                task_path=task_path,
                writes=writes,
                replace=replace,
                actor=actor,
            )

    @validated
    def clear_checkpoints(self, *, actor: Actor = "runtime") -> None:
        """Start the thread afresh: its checkpoints and writes so far are gone for
        LangGraph (history and `at` still show them)."""
        self.trigger_event(
            self.CheckpointsCleared, through_version=self.version, actor=actor
        )

    @validated
    def carry_checkpoints(
        self, events: Sequence[object], *, actor: Actor = "runtime"
    ) -> None:
        """Record again here (a fork of a thread) the checkpoints and pending writes
        that `events`, another thread's stream oldest first, leave standing: one
        event each, in their order, contents as stored."""
        for event in standing_checkpoints(events):
            self.trigger_event(type(event), **event.payload(), actor=actor)


def standing_checkpoints(
    events: Sequence[object],
) -> list[Session.CheckpointSaved | Session.WritesSaved]:
    """The checkpoint and pending-write events of a thread's stream that no later
    CheckpointsCleared removed (it clears those up to its `through_version`)."""
    standing: list[Session.CheckpointSaved | Session.WritesSaved] = []
    for event in events:
        if isinstance(event, Session.CheckpointSaved | Session.WritesSaved):
            standing.append(event)
        elif isinstance(event, Session.CheckpointsCleared):
            cleared = event.through_version
            standing = [e for e in standing if e.originator_version > cleared]
    return standing


def transcript_of(events: Sequence[object]) -> list[Message]:
    """The transcript a stream's events make, in order."""
    messages: list[Message] = []
    for event in events:
        if isinstance(event, Session.MessageAppended):
            messages.append(event.message)
        elif isinstance(event, Session.TranscriptTruncated):
            removed = set(event.removed_ids)
            messages = [m for m in messages if m.id not in removed]
    return messages


def usage_of(events: Sequence[object]) -> list[dict[str, JsonValue]]:
    """The token-usage records a stream's events hold, oldest first."""
    return [e.record for e in events if isinstance(e, Session.TokenUsageRecorded)]


def lost_of(events: Sequence[object]) -> list[str]:
    """The ids of the messages a stream's events took out of its transcript."""
    return [
        removed
        for event in events
        if isinstance(event, Session.TranscriptTruncated)
        for removed in event.removed_ids
    ]


def _usage_records(
    items: list[dict[str, JsonValue]] | None = None,
    load: Callable[[], list[dict[str, JsonValue]]] | None = None,
    stamp: Callable[[], object] | None = None,
) -> LogFold[dict[str, JsonValue]]:
    """A session's token-usage records: JSON objects a caller may edit, so each
    is handed out as a copy of its own and the held ones stay as stored."""
    return LogFold(items, load, hand=_json_copy, stamp=stamp)


def _unattached() -> list[Any]:
    raise AssertionError(
        "a session restored from a snapshot reads its log once attached"
    )


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON value: its objects and arrays copied, the rest shared
    (strings, numbers, booleans and None are immutable)."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value
