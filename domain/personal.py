"""Which stored fields are a user's content, and how they are sealed in a record.

Each event (and snapshot) class names its personal fields by the path of the JSON
object that holds them: `{"message": ("content", ...)}`, with `*` for every item
of a list. Sealing replaces those fields of one object by a single sealed value
under the key SEALED; opening puts them back, or, once the user's key is gone,
puts a placeholder of the same JSON type ("[erased]", {}, [], 0, False). Ids,
roles, versions and times are not personal: the structure survives erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

SEALED = "\u00a7sealed"  # "§sealed": no model has such a field, so it cannot clash
TEXT_VALUES: Literal["text values"] = "text values"  # a dict's string values...
NOT_PERSONAL = frozenset({"model"})  # ...but these: a usage record's model name
ERASED = "[erased]"

Fields = tuple[str, ...] | Literal["text values"]
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


def seal_state(state: dict[str, Any], spec: Spec, seal: Seal) -> None:
    """Replace the personal fields of each object named in `spec` by one sealed
    value (fields that are None or absent stay as they are)."""
    for path, fields in spec.items():
        for holder in _objects(state, path):
            names = (
                [
                    k
                    for k, v in holder.items()
                    if isinstance(v, str) and k not in NOT_PERSONAL
                ]
                if fields == TEXT_VALUES
                else [name for name in fields if holder.get(name) is not None]
            )
            if names:
                holder[SEALED] = seal({name: holder.pop(name) for name in names})


def open_state(state: dict[str, Any], spec: Spec, open_: Open) -> None:
    """Put sealed fields back (or their placeholders) in each object of `spec`."""
    for path in spec:
        for holder in _objects(state, path):
            sealed = holder.pop(SEALED, None)
            if isinstance(sealed, dict):
                holder.update(open_(sealed))


def _objects(state: Any, path: str) -> Iterator[dict[str, Any]]:
    """The JSON objects at a dotted path; `*` steps into every item of a list."""
    found: list[Any] = [state]
    for step in path.split(".") if path else []:
        following: list[Any] = []
        for item in found:
            if step == "*" and isinstance(item, list):
                following.extend(item)
            elif isinstance(item, dict) and step in item:
                following.append(item[step])
        found = following
    yield from (item for item in found if isinstance(item, dict))
