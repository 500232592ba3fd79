"""A list page's cursor: what the list asked for, where its walk began, the last key.

A cursor is base64 JSON, valid for CURSOR_TTL and only for the same list
arguments (the same `Listing`); anything else is InvalidInput naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from pydantic import BaseModel, ValidationError

from ...domain.errors import InvalidInput
from ...domain.ports import Order
from ...domain.search import NO_FILTER, SessionFilter
from ..sessions import MOVES_KEPT

CURSOR_TTL = MOVES_KEPT / 2
"""How long a walk may last: well inside how long the moves it needs are kept."""


class Listing(BaseModel):
    """What a list call asked for; a cursor is only valid for the same listing."""

    user_id: str | None
    order: Order
    pinned_first: bool
    include_deleted: bool
    filters: SessionFilter = NO_FILTER

    def sort_keys(self) -> list[tuple[str, bool]]:
        """The sort columns, each with whether it runs descending."""
        descending = self.order == "updated_desc"
        keys = [("updated_at", descending), ("session_id", descending)]
        if self.pinned_first:
            keys.insert(0, ("pinned", True))
        return keys


class Walk(BaseModel):
    """A cursor's content: the listing, where the walk began, and the last key."""

    listing: Listing
    position: int
    issued: float
    last: dict[str, Any]


def encode(walk: Walk) -> str:
    """The cursor text of a walk."""
    return base64.urlsafe_b64encode(walk.model_dump_json().encode()).decode()


def decode(cursor: str, listing: Listing) -> Walk:
    """The walk a cursor holds; InvalidInput if it is not one, belongs to another
    listing, or has expired."""
    try:
        walk = Walk.model_validate_json(base64.urlsafe_b64decode(cursor.encode()))
    except (ValidationError, binascii.Error, ValueError):
        raise InvalidInput("cursor: not a cursor a session list returned") from None
    if walk.listing != listing:
        raise InvalidInput(
            "cursor: it belongs to a list with other arguments "
            f"({walk.listing.model_dump()})"
        )
    if time.time() - walk.issued > CURSOR_TTL.total_seconds():
        raise InvalidInput("cursor: expired; list again from the first page")
    return walk
