"""Which stored fields are a user's content, and how they are sealed in a record.

Each event (and snapshot) class names its personal fields by the path of the JSON
object that holds them: `{"message": ("content", ...)}`, with `*` for every item
of a list. Sealing replaces those fields of one object by a single sealed value
under the key SEALED; opening puts them back, or, once the user's key is gone,
puts a placeholder of the same JSON type ("[erased]", {}, [], 0, False). Ids,
roles, versions and times are not personal: the structure survives erasure.

A token-usage record is free-form, so its names are the caller's words as much as
its values: everything in it is sealed, names included (under one hidden field),
except token counts under the names providers use and its `model`. After erasure
such a record keeps its counts (the ledger's totals stay right) and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

SEALED = "\u00a7sealed"  # "§sealed": no model has such a field, so it cannot clash
USAGE: Literal["usage record"] = "usage record"  # all of it but COUNTERS
COUNTERS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "audio_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "prompt_token_count",
        "candidates_token_count",
        "total_token_count",
        "cached_content_token_count",
        "thoughts_token_count",
        "tool_use_prompt_token_count",
        "requests",
        "cost",
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
    }
)
"""Names of token counts (OpenAI, Anthropic, Gemini, the Agents SDK): a number
under one of these, or an object of only such numbers, is not personal."""
HIDDEN = "\u00a7fields"  # the one field a usage record's personal entries hide in
ERASED = "[erased]"

Fields = tuple[str, ...] | Literal["usage record"]
Spec = Mapping[str, Fields]
Seal = Callable[[dict[str, Any]], dict[str, Any]]
Open = Callable[[dict[str, Any]], dict[str, Any]]

MESSAGE = ("content", "reasoning", "content_parts", "tool_calls", "metadata")
QUESTION = ("question", "options")
QA_ENTRY = ("question", "answer", "context", "feedback_text", "memify_metadata")
TRACE_STEP = (
    "memory_query",
    "memory_context",
    "method_params",
    "method_return_value",
    "error_message",
    "session_feedback",
)
SERIALIZED = (
    "type",
    "data",
)  # a LangGraph checkpoint's value, as its serializer wrote it
PLACEHOLDERS: dict[str, Any] = {"s": ERASED, "o": {}, "a": [], "n": 0, "b": False}


def kind(value: Any) -> str:
    """The JSON type of a value, as one letter: what an erased field becomes."""
    if isinstance(value, str):
        return "s"
    if isinstance(value, dict):
        return "o"
    if isinstance(value, list):
        return "a"
    if isinstance(value, bool):
        return "b"
    return "n"


def placeholders(kinds: Mapping[str, str]) -> dict[str, Any]:
    """What each sealed field reads as once its key is destroyed."""
    return {name: PLACEHOLDERS[letter] for name, letter in kinds.items()}


def seal_state(state: dict[str, Any], spec: Spec, seal: Seal) -> bool:
    """Replace the personal fields of each object named in `spec` by one sealed
    value (fields that are None or absent stay as they are); whether any was."""
    sealed = False
    for path, fields in spec.items():
        for holder in _objects(state, path):
            if fields == USAGE:
                hidden = {
                    name: holder.pop(name)
                    for name in list(holder)
                    if not _counter(name, holder[name])
                }
                if hidden:
                    holder[SEALED] = seal({HIDDEN: hidden})
                    sealed = True
                continue
            names = [name for name in fields if holder.get(name) is not None]
            if names:
                holder[SEALED] = seal({name: holder.pop(name) for name in names})
                sealed = True
    return sealed


def open_state(state: dict[str, Any], spec: Spec, open_: Open) -> None:
    """Put sealed fields back (or their placeholders) in each object of `spec`."""
    for path in spec:
        for holder in _objects(state, path):
            sealed = holder.pop(SEALED, None)
            if isinstance(sealed, dict):
                opened = open_(sealed)
                hidden = opened.pop(HIDDEN, {})
                holder.update(opened)
                holder.update(hidden)


def _counter(name: str, value: Any) -> bool:
    """Whether a usage record's entry is a token count (kept in the clear)."""
    if name == "model":
        return isinstance(value, str)
    if name not in COUNTERS or isinstance(value, bool):
        return False
    if isinstance(value, dict):
        return all(_counter(inner, item) for inner, item in value.items())
    return isinstance(value, int | float)


def _objects(state: Any, path: str) -> list[dict[str, Any]]:
    """The JSON objects at a dotted path; `*` steps into every item of a list."""
    if not path:  # the record itself: most specs, and each read of one
        return [state] if isinstance(state, dict) else []
    found: list[Any] = [state]
    for step in path.split("."):
        following: list[Any] = []
        for item in found:
            if step == "*" and isinstance(item, list):
                following.extend(item)
            elif isinstance(item, dict) and step in item:
                following.append(item[step])
        found = following
    return [item for item in found if isinstance(item, dict)]
