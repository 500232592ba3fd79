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
second message with an id already seen in the list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, ToolMessage
from langchain_core.messages.tool import ToolCall

from ..domain.session import Session
from ..domain.values import Message
from .langgraph_memo import Mirrored
from .langgraph_usage import Counted, usage_record

LANGGRAPH = "langgraph"
"""The message metadata key of what the mirror records."""
ROLES = {"human": "user", "ai": "assistant", "AIMessageChunk": "assistant"}
ROLES |= {"system": "system", "tool": "tool"}
ROLES |= {"user": "user", "assistant": "assistant"}  # a chat message's roles


def mirror(
    session: Session, values: Sequence[Any], actor: str, known: Mirrored = ()
) -> bool:
    """Make the session's transcript the conversation in `values`; True if it
    is now those values one for one (none left out). The messages both still
    share from the start are recognised without converting them (a conversation
    mostly grows: each step then costs O(new messages) conversions), and those
    `known` to be the transcript's (the same objects, mirrored into this very
    transcript: see langgraph_memo.py) without comparing their fields."""
    transcript = session.messages
    seen: set[str | None] = set()
    kept = 0
    for stored, value in zip(transcript, values, strict=False):
        if not _known(value, known, kept) and not _unchanged(stored, value):
            break
        if value.id in seen:
            break
        seen.add(value.id)
        kept += 1
    given: list[tuple[dict[str, Any], Any]] = []
    for value in values[kept:]:
        fields = message_fields(value)
        if fields is not None and (fields["id"] is None or fields["id"] not in seen):
            given.append((fields, value))
            seen.add(fields["id"])
    keep = kept
    for stored, (fields, _) in zip(transcript[kept:], given, strict=False):
        if not _same(stored, fields):
            break
        keep += 1
    if keep < len(transcript):
        session.truncate(keep, actor=actor)
    counted = Counted(session)
    for fields, value in given[keep - kept :]:
        appended = session.append_message(**fields, actor=actor)
        record = usage_record(value, appended.id)
        if record is not None and counted.first(appended.id):
            session.record_token_usage(record, actor=actor)
    return kept + len(given) == len(values)


def _known(value: Any, known: Mirrored, index: int) -> bool:
    """Whether `value` is the message object mirrored at `index`, its content
    not replaced since (a message changed in place otherwise, as LangGraph never
    does, keeps the transcript's copy until it is replaced)."""
    return (
        index < len(known)
        and value is known[index][0]
        and value.content is known[index][1]
    )


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
    if not isinstance(value, BaseMessage):
        return None
    fields: dict[str, Any] = {"id": value.id or None, "tool_calls": None}
    fields["tool_call_id"] = fields["tool_success"] = None
    if isinstance(value, ToolMessage):
        fields["tool_call_id"] = value.tool_call_id or None
        fields["tool_success"] = value.status != "error"
    elif isinstance(value, AIMessage) and value.tool_calls:
        fields["tool_calls"] = [
            _call(call, value.id, number)
            for number, call in enumerate(value.tool_calls)
        ]
    role = ROLES.get(value.role if isinstance(value, ChatMessage) else value.type)
    if role is None or (role == "tool") != (fields["tool_call_id"] is not None):
        return None
    fields["role"] = role
    fields["content"], fields["content_parts"] = _content(value.content)
    recorded: dict[str, Any] = {"type": value.type}
    if value.name:
        recorded["name"] = value.name
    fields["metadata"] = {LANGGRAPH: recorded}
    return fields


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
