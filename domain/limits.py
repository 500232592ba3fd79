"""Every input limit in one place (docs/security.md lists them for users).

Limits are checked on the way in: by the input types (validation.py) and, for
everything a command is about to record, by `check_payload` just before the event
exists. Stored events are never checked against them, so tightening a limit later
cannot make old events unreadable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from .errors import InvalidInput, shown

MAX_ID_CHARS = 256  # session, user, message and Q&A ids
MAX_TITLE_CHARS = 256
MAX_ACTOR_CHARS = 128
MAX_MODEL_CHARS = 256
MAX_TEXT_CHARS = 1_000_000  # any one string: a message, an answer, a trace value
MAX_EVENT_CHARS = 4_000_000  # all the strings one event records, together
MAX_JSON_DEPTH = 32  # nesting of metadata, tool arguments, trace parameters
MIN_INTEGER = -(2**63)  # integers: what a 64-bit signed integer holds, which
MAX_INTEGER = 2**63 - 1  # every database column, JSON reader and sum can take


def check_payload(payload: Mapping[str, Any]) -> None:
    """InvalidInput naming the field if what an event would record breaks a limit:
    a string that is not valid Unicode (a lone surrogate), too long, too deep; an
    integer past 64 bits; a number that is not finite (NaN, infinity).

    Every command's event passes here, so a first walk only asks whether all is
    within the limits, naming nothing; the walk that names the field runs when
    it is not."""
    if not _within_limits(payload):
        _refuse(payload)


def _refuse(payload: Mapping[str, Any]) -> None:
    """InvalidInput naming the first field of `payload` past a limit, if any."""
    budget = [MAX_EVENT_CHARS]
    for name, value in payload.items():
        _check(value, shown(name), 0, budget)


def check_unicode(fields: Mapping[str, Any]) -> None:
    """InvalidInput naming the field if a string or key anywhere in these JSON
    fields is not valid Unicode (a lone surrogate): checked before any other
    message could echo such a string. Iterative, so any depth is safe."""
    pending: list[tuple[Any, str]] = []
    for name, value in fields.items():
        _unicode(str(name), "a field name")
        pending.append((value, shown(name)))
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            _unicode(item, path)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                _unicode(str(key), f"{path} (a key)")
                pending.append((child, f"{path}.{shown(key)}"))
        elif isinstance(item, list | tuple):
            pending.extend((child, f"{path}.{i}") for i, child in enumerate(item))


def nesting_within_limit(value: Any) -> Any:
    """For input types: refuse deep JSON before validating it (no recursion blowup)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            children = item.values() if isinstance(item, Mapping) else item
            pending.extend((child, depth + 1) for child in children)
    return value


_UNCHECKED = frozenset({type(None), bool, datetime})
"""Exact types `_check` passes as they are (a datetime is none of the kinds it
checks): told by their type alone on the quick walk."""


def _within_limits(payload: Mapping[str, Any]) -> bool:
    """Whether `_check` would pass every value of `payload`: the same walk, with
    no paths built, the common types told by their exact type, and the strings
    collected and encoded once, together."""
    texts: list[str] = []
    pending = [(value, 0) for value in payload.values()]
    while pending:
        value, depth = pending.pop()
        kind = type(value)
        if kind is str:
            texts.append(value)
        elif kind in _UNCHECKED:
            continue
        elif kind is int:
            if not MIN_INTEGER <= value <= MAX_INTEGER:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is dict or kind is list or _container(value):
            if depth >= MAX_JSON_DEPTH:
                return False
            if kind is dict or (kind is not list and isinstance(value, Mapping)):
                texts += [str(key) for key in value]
                value = value.values()
            pending += [(item, depth + 1) for item in value]
        elif isinstance(value, str):
            texts.append(value)
        elif isinstance(value, int | float):
            if not _number_fits(value):
                return False
        elif isinstance(value, BaseModel):
            # a model's fields are its __dict__ (pydantic keeps extras and
            # private attributes elsewhere)
            pending += [(item, depth) for item in vars(value).values()]
    if max(map(len, texts), default=0) > MAX_TEXT_CHARS:
        return False
    joined = "".join(texts)
    if len(joined) > MAX_EVENT_CHARS:
        return False
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _container(value: Any) -> bool:
    """Whether `_check` walks `value` as JSON (an object or an array)."""
    return not isinstance(value, str | int | float | BaseModel) and isinstance(
        value, Mapping | list | tuple
    )


def _number_fits(value: float) -> bool:
    """Whether `_check_number` passes `value`."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return MIN_INTEGER <= value <= MAX_INTEGER
    return math.isfinite(value)


def _check(
    value: Any, path: str, depth: int, budget: list[int], whole: bool = False
) -> None:
    """Check `value`, naming it by `path` and its parts by their places in it;
    `whole`: name its parts by `path` too (a value the caller named as one)."""

    def at(place: object) -> str:
        return path if whole else f"{path}.{shown(place)}"

    if isinstance(value, str):
        _check_text(value, path, budget)
    elif isinstance(value, int | float):
        _check_number(value, path)
    elif isinstance(value, BaseModel):
        name_shown = getattr(value, "name_shown", None)
        if isinstance(name_shown, str):  # a value the caller knows by this name
            path, whole = shown(name_shown), True
        for name in type(value).model_fields:
            _check(getattr(value, name), at(name), depth, budget, whole)
    elif isinstance(value, Mapping | list | tuple):
        if depth >= MAX_JSON_DEPTH:
            raise InvalidInput(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                _check_text(str(key), f"{path} (a key)", budget)
                _check(item, at(key), depth + 1, budget, whole)
        else:
            for index, item in enumerate(value):
                _check(item, at(index), depth + 1, budget, whole)


def _check_number(value: float, path: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not MIN_INTEGER <= value <= MAX_INTEGER:
        raise InvalidInput(
            f"{path}: integers must lie between {MIN_INTEGER:,} and "
            f"{MAX_INTEGER:,} (64 bits)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{path}: must be a finite number, not {value}")


def _check_text(text: str, path: str, budget: list[int]) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"{path}: {len(text):,} characters; at most {MAX_TEXT_CHARS:,}"
        )
    budget[0] -= len(text)
    if budget[0] < 0:
        raise InvalidInput(
            f"{path}: the event would record over {MAX_EVENT_CHARS:,} characters"
        )
    _unicode(text, path)


def _unicode(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{path}: not valid Unicode (a lone surrogate at position {exc.start})"
        ) from None
