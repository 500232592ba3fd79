"""A checkpoint's metadata split into LangGraph's structure, which stays
readable through erasure so a thread's history keeps its shape, and the app's
keys, which are the owner's content (sealed, erased with them).

A LangGraph key is structure only with a value of the shape LangGraph writes
there: anything else under that name (words an app or a caller put in
`source`, say) is the app's, so erasure reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from ..domain.limits import MAX_ID_CHARS

SOURCES = ("input", "loop", "update", "fork")
"""LangGraph's values of `source`."""


def _is_id(value: Any) -> bool:
    """A checkpoint id, namespace or channel name: a short string."""
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _is_parents(value: Any) -> bool:
    """Namespace -> the parent checkpoint's id there (LangGraph makes every
    checkpoint id a UUID, so any other string is words, not structure)."""
    return isinstance(value, dict) and all(
        _is_id(ns) and _is_uuid(parent) for ns, parent in value.items()
    )


def _is_counters(value: Any) -> bool:
    """Channel -> [updates, supersteps] since its last delta snapshot."""
    return isinstance(value, dict) and all(
        _is_id(channel)
        and isinstance(pair, list)
        and len(pair) == 2
        and all(_is_count(count) for count in pair)
        for channel, pair in value.items()
    )


LANGGRAPH_KEYS: dict[str, Callable[[Any], bool]] = {
    "source": lambda value: value in SOURCES,
    "step": _is_count,
    "parents": _is_parents,
    "run_id": _is_uuid,
    "counters_since_delta_snapshot": _is_counters,
}
"""Metadata keys LangGraph itself writes, with the shape it writes them in."""


def split_metadata(
    metadata: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(LangGraph's structure, the app's keys) of a checkpoint's metadata."""
    structure: dict[str, Any] = {}
    app: dict[str, Any] = {}
    for key, value in metadata.items():
        shaped = LANGGRAPH_KEYS.get(key)
        if shaped is not None and shaped(value):
            structure[key] = value
        else:
            app[key] = value
    return structure, app
