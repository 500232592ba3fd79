"""Help that reads well at 80 columns: a flag shows as a flag (typer would print a
`<bool>` type beside `--json`, `--all` or `--help`, as if it took a value)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup, TyperOption


def _bare_flags(params: list[Any]) -> list[Any]:
    """The same parameters, flags given an empty metavar so help shows no type."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A command whose help shows flags without a type."""

    def get_params(self, ctx: Any) -> list[Any]:  # typer's (vendored) click Context
        return _bare_flags(super().get_params(ctx))


class Group(TyperGroup):
    """A group of commands whose help shows flags without a type."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))
