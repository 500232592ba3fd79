"""Chat messages in our form or OpenAI's, as `append_message` arguments.

OpenAI-style messages give `content` as a list of parts and tool calls as
`tool_calls[].function`, and have a "developer" role; what we do not model is
kept in the message's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..domain.errors import InvalidInput

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
