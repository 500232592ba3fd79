"""Query parameters are read as written or refused: a 422 naming them.

A misspelt filter (`?pined=true`) silently ignored would answer a different
question than the one asked, so unknown parameters are refused (every route's
known parameters are those its function and its dependencies declare), and so is
a single-valued one given twice. So would a value read loosely: `?dry_run=no`
must not be a yes, `?limit=5.0` not 5. A boolean is `true` or `false`, an
integer decimal digits, a time ISO 8601 with its offset.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BeforeValidator, TypeAdapter

from ..domain.errors import InvalidInput


def _known(route: APIRoute) -> dict[str, bool]:
    """The query parameters `route` declares (with its dependencies'), each
    with whether it takes several values (a list: `?meta=a&meta=b`)."""
    return _names(route.dependant)


def _names(dependant: Dependant) -> dict[str, bool]:
    names = {
        field.alias: _takes_several(field.field_info.annotation)
        for field in dependant.query_params
    }
    for dependency in dependant.dependencies:
        names |= _names(dependency)
    return names


def _takes_several(annotation: Any) -> bool:
    """Whether a parameter of this type is a list (possibly optional)."""
    if get_origin(annotation) is list:
        return True
    return any(_takes_several(argument) for argument in get_args(annotation))


def known_query_only(request: Request) -> None:
    """Refuse a request naming a query parameter its route does not take, or
    giving one that takes a single value twice (which copy was meant?)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known(route)
    unknown = sorted(set(request.query_params) - known.keys())
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"{', '.join(unknown)}: unknown query parameter"
            f"{'s' if len(unknown) > 1 else ''} (this route takes: {allowed})"
        )
    for name, several in known.items():
        if not several and len(request.query_params.getlist(name)) > 1:
            raise InvalidInput(f"{name}: give it once")


def _true_or_false(value: object) -> object:
    """`true` or `false` (any case), never `1`, `yes` or `on`."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("must be true or false")


def _digits(value: object) -> object:
    """Decimal digits, never `5.0`, `+5`, `5_000` or ` 5`."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise ValueError("must be a whole number in decimal digits")


_TIME = TypeAdapter(datetime)


def _iso_time_with_offset(value: object) -> object:
    """An ISO 8601 time with its offset, as text: never a number (read loosely,
    `5`, `+5` or `1.8e9` is seconds past 1970), whether given in a query or as a
    JSON number in a body, and never a time without offset (whose zone?). It
    must read both as Python's ISO 8601 (no number) and as pydantic's RFC 3339
    (the API's `date-time`, read next), so that a form only one of them reads
    (`20260101T000000Z`, `1.8e9`) gets this message too."""
    parsed = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # pydantic's ValidationError is one
            datetime.fromisoformat(value)
            parsed = _TIME.validate_python(value)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(
            "must be an ISO 8601 time with its offset, such as 2026-01-31T09:00:00Z"
        )
    return value


TRUE_OR_FALSE = BeforeValidator(_true_or_false)
DIGITS = BeforeValidator(_digits)
ISO_TIME = BeforeValidator(_iso_time_with_offset)
"""Each checks a parameter as given, before it is converted (and never its
default): `Annotated[int | None, Query(ge=1), DIGITS] = None`."""
QueryBool = Annotated[bool, TRUE_OR_FALSE]
QueryTime = Annotated[AwareDatetime | None, ISO_TIME]
