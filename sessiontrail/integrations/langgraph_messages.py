"""A LangGraph thread's conversation as its session's transcript.

The `messages` channel of a checkpoint holds LangChain messages; the session's
transcript is made to equal it, message for message, with the fewest events:
the messages both share from the start stay, the rest of the transcript is
truncated (kept in history), the checkpoint's remaining messages are appended.
A message's LangChain id is its sessiontrail id. What a message becomes:

- `human` -> user, `ai` (and its chunks) -> assistant, `system` -> system,
  `tool` -> tool (with `tool_call_id`; `status` "error" -> tool_success False),
  a `chat` message -> its role if it is one of those four;
- `content`: the text (a list of content blocks: its text blocks, joined by new
  lines, and the blocks themselves as `content_parts`);
- an `ai` message's `tool_calls` as tool calls (id, name, arguments);
- metadata `{"langgraph": {"type": ..., "name": ...}}` (name when set);
- an `ai` message's `usage_metadata` as a token-usage record (see
  langgraph_usage.py).

Other values (function messages, plain dicts, strings) are not mirrored, nor is a
second message with an id already seen in the list (the first mirrored or left
out), nor a message past one of the transcript's limits (left out with a
warning: the checkpoint holds it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, ToolMessage
from langchain_core.messages.tool import ToolCall

from ..domain.errors import InvalidInput
from ..domain.session import Session
from ..domain.values import Message
from .langgraph_memo import Mirrored
from .langgraph_usage import Counted, record_usage, usage_record

logger = logging.getLogger(__name__)

LANGGRAPH = "langgraph"
"""The message metadata key of what the mirror records."""
ROLES = {"human": "user", "ai": "assistant", "AIMessageChunk": "assistant"}
ROLES |= {"system": "system", "tool": "tool"}
ROLES |= {"user": "user", "assistant": "assistant"}  # a chat message's roles


def mirror(
    session: Session, values: Sequence[Any], actor: str, known: Mirrored = ()
) -> Mirrored:
    """Make the session's transcript the conversation in `values`, and return
    each value with whether the transcript now holds it (what the memory keeps
    for the next step: see langgraph_memo.py). The values both still share from
    the start are recognised without converting them (a conversation mostly
    grows: each step then costs O(new messages) conversions), and those `known`
    (the same objects, mirrored into this very transcript or left out of it,
    every value before them the remembered one too) without comparing their
    fields. A message the transcript cannot hold (past
    a limit: see `_appended`) is left out, like a value that is no message."""
    transcript = session.messages
    seen: set[str | None] = set()
    held: list[bool] = []
    kept = 0
    for index, value in enumerate(values):
        was = _known(value, known, index)
        if was is False:
            held.append(False)
            if _role(value) is not None:  # refused, or a repeated id: seen
                seen.add(value.id or None)
            continue
        if kept == len(transcript) or (
            was is None and not _unchanged(transcript[kept], value)
        ):
            break
        if value.id in seen:
            break
        if was is None:
            # not the remembered object: what the memory says of the values
            # after it (a repeated id left out, a place in the transcript)
            # held before this one, and may not now
            known = ()
        seen.add(value.id)
        held.append(True)
        kept += 1
    given: list[tuple[dict[str, Any] | None, Any]] = []
    for value in values[len(held) :]:
        fields = message_fields(value)
        if fields is not None and fields["id"] is not None and fields["id"] in seen:
            fields = None
        if fields is not None:
            seen.add(fields["id"])
        given.append((fields, value))
    keep = kept
    compared = 0
    for fields, value in given:
        if fields is not None and keep < len(transcript):
            if _same(transcript[keep], fields):
                keep += 1
            elif _refusal(fields) is None:
                break
            else:
                given[compared] = (None, value)
        elif fields is not None:
            break
        compared += 1
    held.extend(fields is not None for fields, _ in given[:compared])
    if keep < len(transcript):
        session.truncate(keep, actor=actor)
    counted = Counted(session)
    for fields, value in given[compared:]:
        appended = None if fields is None else _appended(session, fields, actor)
        held.append(appended is not None)
        if appended is None:
            continue
        record = usage_record(value, appended.id)
        if record is not None and counted.first(appended.id):
            record_usage(session, record, actor)
    return tuple(
        (value, _content_of(value), is_held)
        for value, is_held in zip(values, held, strict=True)
    )


def _appended(session: Session, fields: dict[str, Any], actor: str) -> Message | None:
    """Append the message; None, with a warning naming it and the field, when
    the transcript cannot hold it (an id over 256 characters or with control
    characters, a text over 1,000,000, arguments nested past 32 levels, a lone
    surrogate). Refusing the put instead would refuse the thread's every step
    and resume from then on: LangGraph's own savers store such a message, and
    the checkpoint here holds it too (the transcript is a view of it)."""
    try:
        return session.append_message(**fields, actor=actor)
    except InvalidInput as refused:
        _warn(fields, refused)
        return None


def _refusal(fields: dict[str, Any]) -> InvalidInput | None:
    """Why the transcript cannot hold this message, if it cannot (checked only
    where a message the transcript lacks sits among those it has: a memory of
    the previous step, which knows, was lost)."""
    try:
        Session(session_id="refusal-check", model="-").append_message(**fields)
    except InvalidInput as refused:
        return refused
    return None


def _warn(fields: dict[str, Any], refused: InvalidInput) -> None:
    """Say which message is left out of the transcript, and why."""
    shown: str | None = fields["id"]
    logger.warning(
        "message %r of the LangGraph conversation is not in the transcript "
        "(the checkpoint holds it): %s",
        shown if shown is None or len(shown) <= 80 else f"{shown[:80]}...",
        refused,
    )


def _known(value: Any, known: Mirrored, index: int) -> bool | None:
    """Whether `value` is the object the memory holds at `index` (its content not
    replaced since: a message changed in place otherwise, as LangGraph never
    does, keeps the transcript's copy until it is replaced) held in the
    transcript (True) or left out (False); None when not known."""
    memo = known[index] if index < len(known) else None
    if memo is not None and value is memo[0] and _content_of(value) is memo[1]:
        return memo[2]
    return None


def _content_of(value: Any) -> Any:
    """A message's content object (None for a value that is not a message)."""
    return value.content if isinstance(value, BaseMessage) else None


def _unchanged(stored: Message, value: Any) -> bool:
    """Whether `value` is surely the stored message (what `message_fields` makes of
    it is `_same` as it), judged from its attributes without converting it; False
    when unsure (the caller converts it then)."""
    if not isinstance(value, BaseMessage) or not value.id or value.id != stored.id:
        return False
    if not isinstance(value.content, str) or value.content != stored.content:
        return False
    role = ROLES.get(value.role if isinstance(value, ChatMessage) else value.type)
    recorded: dict[str, Any] = {"type": value.type}
    if value.name:
        recorded["name"] = value.name
    if (
        role != stored.role
        or stored.content_parts is not None
        or stored.metadata != {LANGGRAPH: recorded}
    ):
        return False
    if isinstance(value, ToolMessage):
        return (
            stored.tool_calls is None
            and bool(value.tool_call_id)
            and stored.tool_call_id == value.tool_call_id
            and stored.tool_success == (value.status != "error")
        )
    if role == "tool" or stored.tool_call_id is not None:
        return False
    if stored.tool_success is not None:
        return False
    calls = value.tool_calls if isinstance(value, AIMessage) else []
    if not calls:
        return stored.tool_calls is None
    held = stored.tool_calls or []
    return len(held) == len(calls) and all(
        isinstance(call.get("args") or {}, dict)
        and (mine.id, mine.name, mine.arguments)
        == (
            call.get("id") or f"{value.id}-{number}",
            call.get("name") or "tool",
            call.get("args") or {},
        )
        for number, (mine, call) in enumerate(zip(held, calls, strict=True))
    )


def _same(stored: Message, fields: dict[str, Any]) -> bool:
    """Whether a stored message is the one these fields describe (its time
    aside); the cheap comparisons first, as most messages are unchanged."""
    if fields["id"] is not None and fields["id"] != stored.id:
        return False
    if stored.content != fields["content"] or stored.role != fields["role"]:
        return False
    calls = [(c.id, c.name, c.arguments) for c in stored.tool_calls or ()]
    given = [(c["id"], c["name"], c["arguments"]) for c in fields["tool_calls"] or ()]
    return (
        calls == given
        and (stored.tool_calls is None) == (fields["tool_calls"] is None)
        and stored.content_parts == fields["content_parts"]
        and stored.tool_call_id == fields["tool_call_id"]
        and stored.tool_success == fields["tool_success"]
        and stored.metadata == fields["metadata"]
    )


def message_fields(value: Any) -> dict[str, Any] | None:
    """The `append_message` arguments a LangChain message becomes; None when it
    is not a message the transcript can hold. (Attributes are read only where
    the message's type has them: a missing one is slow on these models.)"""
    role = _role(value)
    if role is None:
        return None
    fields: dict[str, Any] = {"id": value.id or None, "tool_calls": None}
    fields["tool_call_id"] = fields["tool_success"] = None
    if isinstance(value, ToolMessage):
        fields["tool_call_id"] = value.tool_call_id
        fields["tool_success"] = value.status != "error"
    elif isinstance(value, AIMessage) and value.tool_calls:
        fields["tool_calls"] = [
            _call(call, value.id, number)
            for number, call in enumerate(value.tool_calls)
        ]
    fields["role"] = role
    fields["content"], fields["content_parts"] = _content(value.content)
    recorded: dict[str, Any] = {"type": value.type}
    if value.name:
        recorded["name"] = value.name
    fields["metadata"] = {LANGGRAPH: recorded}
    return fields


def _role(value: Any) -> str | None:
    """The transcript role of a message `message_fields` converts; None for a
    value it leaves out whatever its fields (not a message, or of no role: a
    tool result needs its call's id, and only a tool result has one)."""
    if not isinstance(value, BaseMessage):
        return None
    role = ROLES.get(value.role if isinstance(value, ChatMessage) else value.type)
    answers = isinstance(value, ToolMessage) and bool(value.tool_call_id)
    return None if role is None or (role == "tool") != answers else role


def _content(content: str | list[Any]) -> tuple[str, list[dict[str, Any]] | None]:
    """A message's text, and its content blocks when it has a list of them."""
    if isinstance(content, str):
        return content, None
    blocks = [
        {"type": "text", "text": block} if isinstance(block, str) else _json(block)
        for block in content
    ]
    text = "\n".join(
        block["text"]
        for block in blocks
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    )
    return text, blocks


def _call(call: ToolCall, message_id: str | None, number: int) -> dict[str, Any]:
    """One tool call (an id is made from the message's when it has none)."""
    return {
        "id": call.get("id") or f"{message_id or 'call'}-{number}",
        "name": call.get("name") or "tool",
        "arguments": _json(call.get("args") or {}),
    }


def _json(value: Any) -> dict[str, Any]:
    """A JSON object of `value` (what is not JSON becomes its text)."""
    decoded = json.loads(json.dumps(value, default=str))
    return decoded if isinstance(decoded, dict) else {"value": decoded}
