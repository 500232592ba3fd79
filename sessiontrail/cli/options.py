"""What `sessiontrail [--db URL] [--user USER]` passes to every command."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from ..domain.errors import InvalidInput
from ..infrastructure.backends import backend_for, parse_url
from ..infrastructure.settings import resolve_url
from ..trail import Mode, SessionTrail, connect


@dataclass(frozen=True)
class Options:
    """The database URL (None: connect()'s default), the user to act as, and
    whether errors show their traceback."""

    db: str | None
    user: str | None
    debug: bool = False


def options(ctx: typer.Context) -> Options:
    """The options the top-level callback stored on the context."""
    found = ctx.find_object(Options)
    return found if found is not None else Options(None, None)


def open_log(db: str | None, mode: Mode = "inline") -> SessionTrail:
    """Connect for a command that reads an existing log: a SQLite path with no
    file behind it is an error (a typo would otherwise create an empty log)."""
    absent = backend_for(parse_url(resolve_url(db))).absent()
    if absent is not None:
        raise InvalidInput(
            f"db: {absent}; check --db / $SESSIONTRAIL_URL "
            "(only demo, import and serve create one)"
        )
    return connect(db, projections=mode)
