"""OpenAI Agents SDK sessions kept in sessiontrail (the `openai-agents` extra).

    trail = await sessiontrail.aio.connect("sqlite:///chats.db")
    result = await Runner.run(agent, "hi", session=TrailSession("chat-1", trail))

The trail may also be a sync trail or a URL (`TrailSession("chat-1",
"sqlite:///chats.db")`, opened and closed by the session: see adapter_trail.py).

Each input item is one message of the session: its role, text and tool call as
sessiontrail sees them (so lists, `show`, audit and erasure work as for any
session), and the item itself, verbatim, in the message's metadata, which is what
`get_items` gives back. Messages other writers appended (a person in a UI) come
back as the equivalent items (one with text and tool calls is several items:
`pop_item` takes its last alone, putting the message back without it).
`pop_item` and `clear_session` are events that take messages out of the
transcript; `history` still shows them, `at` brings them back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agents.items import TResponseInputItem
from agents.memory import SessionSettings
from agents.memory.session_settings import (
    coerce_session_settings,
    resolve_session_limit,
)
from pydantic import SkipValidation, StrictInt

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.session import Session
from ..domain.validation import (
    MAX_ARGUMENT_INT,
    Actor,
    SessionId,
    UserId,
    validated,
)
from ..domain.values import Message
from ..infrastructure.appends import attempts, gave_up
from ..trail import SessionTrail
from .adapter_trail import AdapterTrail, ClosesWhatItOpened, TrailArgument

ITEM_KEY = "openai_item"
"""The message metadata key that holds the SDK's item as it was given."""

ROLES = {"user": "user", "assistant": "assistant", "system": "system"}
ROLES["developer"] = "system"


class TrailSession(ClosesWhatItOpened):
    """The SDK's `Session` protocol over one sessiontrail session.

    `trail` is an async trail, a sync trail, or a database URL the session opens
    (and `close()` closes; a trail passed in stays the caller's). `user_id` scopes
    it to that user's session (another user's id is "no items"); `actor` names the
    writer in the audit trail; `session_settings` (or a dict of them) sets the
    default `get_items` limit, as for the SDK's SQLiteSession; `clear="purge"`
    makes `clear_session` purge the session rather than empty its transcript.
    """

    @validated
    def __init__(
        self,
        session_id: SessionId,
        trail: SkipValidation[TrailArgument],
        *,
        user_id: UserId | None = None,
        actor: Actor = "runtime",
        session_settings: SessionSettings | dict[str, Any] | None = None,
        clear: Literal["truncate", "purge"] = "truncate",
    ) -> None:
        self.session_id = session_id
        self.session_settings: SessionSettings | None = (  # as the SDK's Session
            SessionSettings()
            if session_settings is None
            else coerce_session_settings(session_settings)
        )
        self._trail = AdapterTrail(trail, "TrailSession")
        self._user_id = user_id
        self._actor = actor
        self._clear_by = clear

    @validated
    async def get_items(
        self, limit: StrictInt | None = None
    ) -> list[TResponseInputItem]:
        """The latest `limit` items, oldest first, as the SDK's SQLiteSession gives
        them: `session_settings.limit` when None, all when that is None too or the
        limit is negative, none for 0; read from the transcript read model, so
        O(limit) whatever the session's length."""
        limit = resolve_session_limit(limit, self.session_settings)
        last = None if limit is None or limit < 0 else min(limit, MAX_ARGUMENT_INT)
        return await self._trail.run(self._read, last)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append the items in order, in one save; none is stored if one is bad."""
        self._trail.check_open()  # also for no items, as SQLiteSession
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            raise InvalidInput("items: expected a list of input items")
        if items:
            messages = [_message(item, number) for number, item in enumerate(items)]
            await self._trail.run(self._append, messages)

    async def pop_item(self) -> TResponseInputItem | None:
        """Take the newest item out of the transcript and return it (None if
        empty): the newest message, or its last tool call when it stands for
        several items, as SQLiteSession removes one row."""
        return await self._trail.run(self._pop)

    async def clear_session(self) -> None:
        """Take every item out of the transcript; the session itself stays. With
        `clear="purge"`, purge the session instead: nothing of it stays in the
        log but the purge record; the next `add_items` starts it again."""
        await self._trail.run(self._clear)

    # -- in the trail's threads ------------------------------------------------

    def _read(self, trail: SessionTrail, last: int | None) -> list[TResponseInputItem]:
        try:
            page = trail.transcript_pages.messages(
                self.session_id, last_n=last, user_id=self._user_id
            )
        except SessionNotFound:
            return []
        items = [item for message in page.items for item in _items(message)]
        # A message can stand for several items, never for none: the last `last`
        # messages hold at least the last `last` items (all, when fewer).
        return items if last is None else items[max(len(items) - last, 0) :]

    def _append(self, trail: SessionTrail, messages: list[dict[str, Any]]) -> None:
        session = self._load(trail)
        if session is None:
            session = Session(
                session_id=self.session_id, user_id=self._user_id, actor=self._actor
            )
        for fields in messages:
            session.append_message(**fields, actor=self._actor)
        trail.sessions.save(session)

    def _pop(self, trail: SessionTrail) -> TResponseInputItem | None:
        """Take the newest item out, only if the stream still ends where it was
        read: a merged save would let two racing pops (threads or processes)
        both return one item and remove it once. Beaten, read again (bounded).
        A message that stands for several items (another writer's text and
        tool calls) is taken out and appended again without its last tool
        call, in the same write: the pop takes that item alone."""
        for _ in attempts():
            session = self._load(trail)
            newest = [] if session is None else session.last_messages(1)
            if session is None or not newest:
                return None
            items = _items(newest[0])
            session.truncate(session.message_count - 1, actor=self._actor)
            if len(items) > 1:
                session.append_message(
                    **_without_last_call(newest[0]), actor=self._actor
                )
            if trail.sessions.append_unmoved(session):
                return items[-1]
        raise gave_up(f"pop_item {self.session_id!r}")

    def _clear(self, trail: SessionTrail) -> None:
        if self._clear_by == "purge":
            with contextlib.suppress(SessionNotFound):
                trail.sessions.purge(
                    self.session_id, user_id=self._user_id, actor=self._actor
                )
            return
        session = self._load(trail)
        if session is not None and session.message_count:
            session.truncate(0, actor=self._actor)
            trail.sessions.save(session)

    def _load(self, trail: SessionTrail) -> Session | None:
        return trail.sessions.try_load(self.session_id, user_id=self._user_id)


def _message(item: Any, number: int) -> dict[str, Any]:
    """The append_message fields of one item; InvalidInput naming it if it is
    not a JSON object."""
    if not isinstance(item, Mapping):
        raise InvalidInput(
            f"items[{number}]: expected an input item (a dict), "
            f"got {type(item).__name__}"
        )
    try:
        verbatim = json.loads(json.dumps(item))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"items[{number}]: not JSON: {error}") from None
    fields: dict[str, Any] = {"metadata": {ITEM_KEY: verbatim}}
    kind = item.get("type", "message")
    call_id = item.get("call_id")
    if kind == "message" and item.get("role") in ROLES:
        fields["role"] = ROLES[item["role"]]
        fields["content"] = _text(item.get("content"))
    elif kind == "function_call":
        fields["role"] = "assistant"
        fields["tool_calls"] = [
            {
                "id": str(call_id or item.get("id") or f"call-{number}"),
                "name": str(item.get("name") or "function"),
                "arguments": str(item.get("arguments") or ""),
            }
        ]
    elif isinstance(call_id, str) and call_id and kind.endswith("_output"):
        fields["role"] = "tool"
        fields["tool_call_id"] = call_id
        fields["content"] = _text(item.get("output"))
    elif kind == "reasoning":
        fields["role"] = "assistant"
        fields["reasoning"] = _text(item.get("summary"))
    else:  # other tool calls and results, kept whole in the metadata
        fields["role"] = "assistant"
    return fields


def _text(value: Any) -> str:
    """The text of a content field: a string, or the texts of its parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        parts = [part.get("text") for part in value if isinstance(part, Mapping)]
        return "\n".join(part for part in parts if isinstance(part, str))
    return "" if value is None else json.dumps(value)


def _without_last_call(message: Message) -> dict[str, Any]:
    """The append_message fields of `message` without its last tool call: the
    items it stands for but the last. Its id, time and the rest stay, so a
    truncation another writer made of it on an older copy still takes it."""
    fields = message.model_dump()
    fields["tool_calls"] = fields["tool_calls"][:-1] or None
    return fields


def _items(message: Message) -> list[TResponseInputItem]:
    """The items a message stands for: the stored one, or, for a message another
    writer appended (or whose item was erased), its equivalent."""
    stored = message.metadata.get(ITEM_KEY)
    if isinstance(stored, dict):
        return [stored]  # type: ignore[list-item]
    if message.role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.tool_call_id or "",
                "output": message.content,
            }
        ]
    items: list[Any] = []
    if message.content or not message.tool_calls:
        items.append({"role": message.role, "content": message.content})
    for call in message.tool_calls or []:
        arguments = call.arguments
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": arguments
                if isinstance(arguments, str)
                else json.dumps(arguments),
            }
        )
    return items
