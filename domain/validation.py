"""Input types with their limits, and the decorator that checks a command's arguments.

Limits live here, on the way in, and never on stored events: tightening a limit
later must not make old events unreadable.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar, cast

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    Strict,
    StringConstraints,
    ValidationError,
    validate_call,
)
from pydantic_core import PydanticCustomError

from .errors import InvalidInput
from .limits import (
    MAX_ACTOR_CHARS,
    MAX_ID_CHARS,
    MAX_MODEL_CHARS,
    MAX_TITLE_CHARS,
    nesting_within_limit,
)
from .session_ids import nfc
from .values import Message

P = ParamSpec("P")
R = TypeVar("R")


def _printable(value: str) -> str:
    """Reject control characters (C0, DEL and C1), which break logs, URLs and
    terminals."""
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        raise ValueError("must not contain control characters")
    return value


def _stored_as_nfc(value: str) -> str:
    """A new session's id in NFC (see session_ids.py), still within the limit."""
    value = nfc(value)
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"must have at most {MAX_ID_CHARS} characters in NFC")
    return value


OneLineId = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=MAX_ID_CHARS),
    AfterValidator(_printable),
]
"""Any id: one line, as every id is (a message, Q&A entry or trace id as is)."""
ItemId = OneLineId
SessionId = OneLineId
"""A session id as the caller spells it: looked up by `session_ids.stored_spelling`."""
NewSessionId = Annotated[OneLineId, AfterValidator(_stored_as_nfc)]
"""The id of a session being created: stored in NFC."""
UserId = OneLineId
"""A user id: compared exactly as given (never normalised), as keys are found."""


def printable_field(name: str) -> AfterValidator:
    """For a value object given as input: refuse control characters in its `name`
    (checked on the way in only: stored events are never checked against it)."""

    def check(value: Any) -> Any:
        try:
            _printable(getattr(value, name))
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from None
        return value

    return AfterValidator(check)


MessageIn = Annotated[Message, printable_field("id")]
Title = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_CHARS),
    AfterValidator(_printable),
]
InitialTitle = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=MAX_TITLE_CHARS),
    AfterValidator(_printable),
]
"""A new session's title: may be empty (edit_title's `Title` may not)."""
Reason = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, max_length=MAX_TITLE_CHARS),
    AfterValidator(_printable),
]
"""Why a purge happened, in the operator's words (kept in plaintext; may be empty)."""
Actor = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ACTOR_CHARS),
    AfterValidator(_printable),
]


def _encodable(value: str) -> str:
    """Reject lone surrogates: no file or host name holds one."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode at position {exc.start}") from None
    return value


Url = Annotated[str, Strict(), AfterValidator(_printable), AfterValidator(_encodable)]
ModelName = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=MAX_MODEL_CHARS),
    AfterValidator(_printable),
]
JsonObject = Annotated[dict[str, JsonValue], BeforeValidator(nesting_within_limit)]


def _model_name_problem(text: str) -> str | None:
    """Why `text` cannot name a model (a session's, a usage record's); None if
    it can."""
    if len(text) > MAX_MODEL_CHARS:
        return f"must have at most {MAX_MODEL_CHARS} characters"
    try:
        _printable(text)
    except ValueError as exc:
        return str(exc)
    return None


def is_model_name(text: str) -> bool:
    """Whether `text` may name a model: what an adapter may record as a usage
    record's `model` (one that may not is left out, not refused)."""
    return _model_name_problem(text) is None


def _usage_model(record: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """A usage record whose `model`, when a string, is a model name as a
    session's is: the usage ledger counts the record under it."""
    model = record.get("model")
    if isinstance(model, str) and (problem := _model_name_problem(model)):
        raise ValueError(f"model: {problem}")
    return record


UsageRecord = Annotated[JsonObject, AfterValidator(_usage_model)]
"""A token-usage record: a JSON object; its `model`, if a string, a model name."""


def _object_from_text(value: Any) -> Any:
    """A JSON object given as its text, parsed; any other value as it is."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:  # bad JSON, or an integer too long to convert
        raise PydanticCustomError(
            "json_invalid", "not valid JSON ({problem})", {"problem": str(exc)}
        ) from None
    if not isinstance(parsed, dict):
        raise PydanticCustomError("json_type", "must be a JSON object")
    return parsed


JsonObjectOrText = Annotated[JsonObject, BeforeValidator(_object_from_text)]
"""A JSON object, or its text (a provider's `usage` as it came)."""

FilePath = Annotated[Path, Strict(False)]
"""A file's path: a `Path` or a string naming it (the one lax argument type)."""

MAX_ARGUMENT_INT = 2**53 - 1
"""The largest count, position or version a call takes: far past any real one,
and small enough that a read model's arithmetic on it (`n + 1`) still fits a
database integer (a larger one would fail in the driver, not at the door)."""
Count = Annotated[int, Field(ge=0, le=MAX_ARGUMENT_INT)]
Position = Annotated[int, Field(ge=1, le=MAX_ARGUMENT_INT)]

_CALL_CONFIG = ConfigDict(
    arbitrary_types_allowed=True, allow_inf_nan=False, strict=True
)
"""Strict: an argument is of its declared type, never coerced into it (True is
not the integer 1, "5" is not 5, "yes" and 1 are not booleans, 5.0 is not 5);
a value object may still be given as a dict of its fields."""


def validated(func: Callable[P, R]) -> Callable[P, R]:
    """Check a call's arguments against its annotations; failures are InvalidInput
    (for a coroutine function, raised when it is awaited, where pydantic checks)."""
    checked = validate_call(config=_CALL_CONFIG)(func)
    parameters = list(inspect.signature(func).parameters)

    def refused(exc: ValidationError) -> InvalidInput:
        return InvalidInput.from_validation(exc, parameters)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def awaited(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return await cast(Awaitable[Any], checked(*args, **kwargs))
            except ValidationError as exc:
                raise refused(exc) from None

        return cast(Callable[P, R], awaited)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return checked(*args, **kwargs)
        except ValidationError as exc:
            raise refused(exc) from None

    return wrapper
