"""Input types with their limits, and the decorator that checks a command's arguments.

Limits live here, on the way in, and never on stored events: tightening a limit
later must not make old events unreadable.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from pydantic import (
    AfterValidator,
    ConfigDict,
    JsonValue,
    StringConstraints,
    ValidationError,
    validate_call,
)

from .errors import InvalidInput

P = ParamSpec("P")
R = TypeVar("R")


def _printable(value: str) -> str:
    """Reject control characters, which break logs, URLs and terminals."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


SessionId = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_printable)
]
UserId = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_printable)
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    AfterValidator(_printable),
]
Actor = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_printable),
]
ModelName = Annotated[
    str, StringConstraints(max_length=256), AfterValidator(_printable)
]
JsonObject = dict[str, JsonValue]

_CALL_CONFIG = ConfigDict(arbitrary_types_allowed=True, allow_inf_nan=False)


def validated(func: Callable[P, R]) -> Callable[P, R]:
    """Check a call's arguments against its annotations; failures are InvalidInput."""
    checked = validate_call(config=_CALL_CONFIG)(func)
    parameters = list(inspect.signature(func).parameters)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return checked(*args, **kwargs)
        except ValidationError as exc:
            raise InvalidInput.from_validation(exc, parameters) from None

    return wrapper
