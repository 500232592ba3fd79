"""Unknown query parameters are refused: a 422 naming them, never ignored.

A misspelt filter (`?pined=true`) silently ignored would answer a different
question than the one asked. Every route's known parameters are those its
function and its dependencies declare.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

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
