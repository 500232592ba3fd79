"""The LangGraph savers' door: what each argument must be, checked before
anything is read or written, so bad input is InvalidInput naming the argument
(LangGraph's own savers fail later, with whatever error the value causes).

Every string the "langgraph" read model keeps or looks up is refused with a
NUL character (PostgreSQL's text cannot hold one, so SQLite and PostgreSQL
would differ), and a channel name or version past MAX_ID_CHARS (they key
PostgreSQL's index of channel values, whose entries are bounded)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    get_serializable_checkpoint_metadata,
)
from pydantic import TypeAdapter, ValidationError

from ..domain.errors import InvalidInput
from ..domain.limits import (
    MAX_ID_CHARS,
    MAX_INTEGER,
    MIN_INTEGER,
    check_unicode,
    nesting_within_limit,
)
from ..domain.thread_ids import legacy_session_id, thread_session_id
from ..domain.validation import ItemId, SessionId, UserId

SESSION_ID: TypeAdapter[str] = TypeAdapter(SessionId)
ITEM_ID: TypeAdapter[str] = TypeAdapter(ItemId)
USER_ID: TypeAdapter[str] = TypeAdapter(UserId)


@dataclass(frozen=True)
class Target:
    """What a call's config names: a thread, a namespace, maybe a checkpoint, and
    the user it acts for (None: any)."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str | None
    user_id: str | None

    @classmethod
    def of(cls, config: Any, user_key: str, name: str = "config") -> Target:
        """InvalidInput naming the field if the config does not name a thread."""
        configurable = (
            config.get("configurable") if isinstance(config, Mapping) else None
        )
        if not isinstance(configurable, Mapping):
            raise InvalidInput(f"{name}: needs 'configurable' with a thread_id")
        field = f"{name}.configurable"
        return cls(
            thread_id=thread_id_of(configurable.get("thread_id"), f"{field}.thread_id"),
            checkpoint_ns=text(
                configurable.get("checkpoint_ns") or "", f"{field}.checkpoint_ns"
            ),
            checkpoint_id=text(
                configurable.get("checkpoint_id"), f"{field}.checkpoint_id"
            )
            or None,
            user_id=user_of(configurable.get(user_key), f"{field}.{user_key}"),
        )

    @property
    def session_id(self) -> str:
        """The session this thread's namespace is; InvalidInput if it cannot be
        (too long with its namespace, or holding control characters), naming
        the namespace when the thread alone has a session (a subgraph nested
        deep: LangGraph writes the namespace, not the caller)."""
        field = "config.configurable.thread_id"
        if self.checkpoint_ns:
            session_of(self.thread_id, "", field)
            field = "config.configurable.checkpoint_ns"
        return session_of(self.thread_id, self.checkpoint_ns, field)

    def config(
        self, checkpoint_id: str | None, thread_id: Any = None
    ) -> RunnableConfig:
        """The config LangGraph's savers return for a checkpoint of this thread
        (`thread_id`: the thread's id as a config gave it, a number or UUID
        too, which a put returns as it was given)."""
        return {
            "configurable": {
                "thread_id": self.thread_id if thread_id is None else thread_id,
                "checkpoint_ns": self.checkpoint_ns,
                "checkpoint_id": checkpoint_id,
            }
        }


def session_of(thread_id: str, checkpoint_ns: str, name: str) -> str:
    """The session of a thread's namespace; InvalidInput naming `name` if there
    can be none (too long with its namespace, or holding control characters)."""
    session_id = thread_session_id(thread_id, checkpoint_ns)
    try:
        return SESSION_ID.validate_python(session_id)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        if legacy_session_id(thread_id, checkpoint_ns) is not None:
            problem += (
                " (a thread id or namespace not in Unicode NFC is written with "
                "%XX escapes: 6 to 12 characters for each character outside ASCII)"
            )
        raise InvalidInput(
            f"{name}: cannot name a session {session_id!r}: {problem}"
        ) from None


def item_id(value: str, name: str) -> str:
    """A checkpoint's id as the log keeps ids (one line, not too long);
    InvalidInput naming `name` if it cannot be one."""
    return _as_the_log_takes(ITEM_ID, value, name)


def user_of(value: Any, name: str) -> str | None:
    """The user a config names (None: none), checked as the log checks user
    ids, so that reads refuse one no session can have as writes do (a read
    took it for a stranger and found nothing); InvalidInput naming `name`."""
    checked = text(value, name)
    return None if checked is None else _as_the_log_takes(USER_ID, checked, name)


def _as_the_log_takes(kind: TypeAdapter[str], value: str, name: str) -> str:
    """`value` checked by the log's rule for its kind of id; InvalidInput naming
    `name` with the rule's reason if it breaks it."""
    try:
        return kind.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(f"{name}: {exc.errors()[0]['msg']}") from None


def thread_id_of(value: Any, name: str) -> str:
    """A thread id as LangGraph keys threads: a string (a number or UUID as text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | UUID):
        raise InvalidInput(f"{name}: must be a string, got {type(value).__name__}")
    if value == "":
        raise InvalidInput(f"{name}: required")
    return text(str(value), name)


def text(value: Any, name: str) -> str:
    """A string argument in valid Unicode without NUL (None stays None for
    optional ones)."""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name}: must be a string, got {type(value).__name__}")
    if value is not None:
        check_unicode({name: value})
        if "\0" in value:
            raise InvalidInput(f"{name}: must not contain the NUL character")
    return cast(str, value)


def channel_of(value: Any, name: str) -> str:
    """A channel name or a version as text: a string of at most MAX_ID_CHARS."""
    checked = text(value, name)
    if len(checked) > MAX_ID_CHARS:
        raise InvalidInput(
            f"{name}: {len(checked):,} characters; at most {MAX_ID_CHARS}"
        )
    return checked


def checkpoint_of(value: Any) -> Checkpoint:
    """A checkpoint: an id, and its channel values and versions as mappings."""
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        raise InvalidInput("checkpoint: must be a checkpoint (a mapping with an id)")
    if not value["id"]:
        raise InvalidInput("checkpoint: its id is empty")
    if not isinstance(value.get("channel_values"), Mapping):
        raise InvalidInput("checkpoint: channel_values must be a mapping")
    versions_of(value.get("channel_versions"), "checkpoint.channel_versions")
    return cast(Checkpoint, value)


def versions_of(value: Any, name: str) -> ChannelVersions:
    """Channel versions: channel name -> a string or a number (an integer of
    64 bits), each as text within MAX_ID_CHARS."""
    if not isinstance(value, Mapping) or not all(
        isinstance(channel, str)
        and isinstance(version, str | int | float)
        and not isinstance(version, bool)
        for channel, version in value.items()
    ):
        raise InvalidInput(f"{name}: must map channel names to versions")
    for channel, version in value.items():
        channel_of(channel, f"{name} (a channel)")
        if isinstance(version, int) and not MIN_INTEGER <= version <= MAX_INTEGER:
            raise InvalidInput(f"{name}.{channel}: an integer past 64 bits")
        channel_of(str(version), f"{name}.{channel}")
    return cast(ChannelVersions, value)


def writes_of(value: Any) -> list[tuple[str, Any]]:
    """Pending writes: (channel, value) pairs."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput("writes: must be a list of (channel, value) pairs")
    pairs = list(value)
    if not all(
        isinstance(pair, Sequence) and len(pair) == 2 and isinstance(pair[0], str)
        for pair in pairs
    ):
        raise InvalidInput("writes: must be a list of (channel, value) pairs")
    return [
        (channel_of(channel, f"writes.{number}.channel"), written)
        for number, (channel, written) in enumerate(pairs)
    ]


def json_object(value: Any, name: str) -> dict[str, Any]:
    """`value` as a JSON object (tuples become lists)."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name}: must be a mapping, got {type(value).__name__}")
    try:
        nesting_within_limit(dict(value))
    except ValueError as error:
        raise InvalidInput(f"{name}: {error}") from None
    try:
        decoded: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{name}: not JSON: {error}") from None
    return decoded


def metadata_of(config: RunnableConfig, metadata: Any) -> dict[str, Any]:
    """A checkpoint's metadata with the run config's keys merged in, as every
    LangGraph saver stores it (and, as the PostgreSQL one, without `writes`)."""
    if not isinstance(metadata, Mapping):
        raise InvalidInput(
            f"metadata: must be a mapping, got {type(metadata).__name__}"
        )
    if not isinstance(config.get("metadata") or {}, Mapping):
        raise InvalidInput("config.metadata: must be a mapping")
    merged = get_serializable_checkpoint_metadata(config, cast(Any, dict(metadata)))
    return json_object(merged, "metadata")


def limit_of(limit: Any) -> int | None:
    if limit is not None and (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or not 0 <= limit <= MAX_INTEGER
    ):
        raise InvalidInput(f"limit: must be a whole number >= 0, got {limit!r}")
    return None if limit is None else int(limit)


def before_of(before: Any) -> str | None:
    """The checkpoint id `before` names (a config), or None; "" when the config
    names none (LangGraph's savers compare ids: before nothing)."""
    if before is None:
        return None
    configurable = before.get("configurable") if isinstance(before, Mapping) else None
    if not isinstance(configurable, Mapping):
        raise InvalidInput("before: must be a config naming a checkpoint_id")
    return text(configurable.get("checkpoint_id"), "before.checkpoint_id") or ""
