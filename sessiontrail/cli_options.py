"""What `sessiontrail [--db URL] [--user USER]` passes to every command."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Options:
    """The database URL (None: connect()'s default) and the user to act as."""

    db: str | None
    user: str | None


def options(ctx: typer.Context) -> Options:
    """The options the top-level callback stored on the context."""
    found = ctx.find_object(Options)
    return found if found is not None else Options(None, None)
