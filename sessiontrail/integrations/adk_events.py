"""What the ADK adapter stores an ADK event as, and the event a stored message
reads back as: one message per event (the user's text, the agent's text and tool
calls, or a tool result), whose metadata keeps the event itself; and, for a model
response, one token-usage record (its usage metadata), so the usage ledger and
`sessiontrail usage` count what ADK apps spend."""

from __future__ import annotations

import json
from typing import Any

from google.adk.events.event import Event
from google.genai import types
from pydantic import JsonValue

from ..domain.validation import is_model_name
from ..domain.values import Message
from ..projections.adk import ADK


def message_fields(event: Event) -> dict[str, Any]:
    """The message an event is: the user's or the agent's text, tool calls and
    tool results; the event id as the message id (so re-deliveries dedupe)."""
    parts = event.content.parts if event.content and event.content.parts else []
    text = "\n".join(part.text for part in parts if part.text)
    calls = [part.function_call for part in parts if part.function_call]
    results = [part.function_response for part in parts if part.function_response]
    fields: dict[str, Any] = {"content": text, "id": event.id or None}
    if event.author == "user" and not results:
        fields["role"] = "user"
    elif results:
        fields["role"] = "tool"
        fields["tool_call_id"] = results[0].id or results[0].name or "function"
        if not text:
            fields["content"] = json.dumps(results[0].response or {})
    else:
        fields["role"] = "assistant"
        fields["tool_calls"] = [
            {
                "id": call.id or f"{event.id}-{number}",
                "name": call.name or "function",
                "arguments": call.args or {},
            }
            for number, call in enumerate(calls)
        ] or None
    return fields


def usage_record(event: Event) -> dict[str, JsonValue] | None:
    """The token-usage record of an event with usage metadata (None without):
    the metadata as ADK's own services store it (JSON, unset fields left out),
    the event's id (its message's here: `message_id`), and the model version
    that answered when ADK names it as a model can be named (else the record
    counts under the session's model: the event is stored as ADK's own
    services store it)."""
    if event.usage_metadata is None:
        return None
    record: dict[str, JsonValue] = event.usage_metadata.model_dump(
        mode="json", exclude_none=True
    )
    record["message_id"] = event.id
    if event.model_version and is_model_name(event.model_version):
        record["model"] = event.model_version
    return record


def stored_event(message: Message) -> Event:
    """The ADK event a message stands for: the stored one, or for a message another
    writer appended (or whose content was erased), its equivalent."""
    recorded = message.metadata.get(ADK)
    if isinstance(recorded, dict) and isinstance(recorded.get("event"), dict):
        return Event.model_validate(recorded["event"])
    role = "user" if message.role == "user" else "model"
    return Event(
        id=message.id,
        invocation_id="",
        author="user" if message.role == "user" else "sessiontrail",
        content=types.Content(role=role, parts=[types.Part(text=message.content)]),
        timestamp=message.created_at.timestamp(),
    )
