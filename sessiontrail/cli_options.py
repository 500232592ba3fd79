"""What `sessiontrail [--db URL] [--user USER]` passes to every command."""

from __future__ import annotations

from dataclasses import dataclass

import typer


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
