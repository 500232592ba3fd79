"""Query parameters are read as written or refused: a 422 naming them.

A misspelt filter (`?pined=true`) silently ignored would answer a different
question than the one asked, so unknown parameters are refused (every route's
known parameters are those its function and its dependencies declare). So would
a value read loosely: `?dry_run=no` must not be a yes, `?limit=5.0` not 5. A
boolean is `true` or `false`, an integer decimal digits, a time ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BeforeValidator

from ..domain.errors import InvalidInput


def _known(route: APIRoute) -> frozenset[str]:
    """The query parameter names `route` declares (with its dependencies')."""
    return frozenset(_names(route.dependant))


def _names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _names(dependency)
    return names


def known_query_only(request: Request) -> None:
    """Refuse a request naming a query parameter its route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known(route)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"{', '.join(unknown)}: unknown query parameter"
            f"{'s' if len(unknown) > 1 else ''} (this route takes: {allowed})"
        )


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


def _not_a_number(value: object) -> object:
    """An ISO 8601 time, never a number (read loosely, `5` is a second past 1970),
    whether given as text (a query) or as a JSON number (a body)."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.replace(".", "", 1).lstrip("-").isdigit()
    ):
        raise ValueError("must be an ISO 8601 time, not a number")
    return value


TRUE_OR_FALSE = BeforeValidator(_true_or_false)
DIGITS = BeforeValidator(_digits)
ISO_TIME = BeforeValidator(_not_a_number)
"""Each checks a parameter as given, before it is converted (and never its
default): `Annotated[int | None, Query(ge=1), DIGITS] = None`."""
QueryBool = Annotated[bool, TRUE_OR_FALSE]
QueryTime = Annotated[datetime | None, ISO_TIME]
