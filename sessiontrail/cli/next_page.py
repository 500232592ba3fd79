"""The exact command that shows the next page of a listing: the same command and
options with `--cursor` set, ready to copy (a cursor alone is long and opaque)."""

from __future__ import annotations

import os
import shlex

import typer
from typer.core import TyperOption


def continue_command(ctx: typer.Context, cursor: str) -> str:
    """`sessiontrail [--db URL] [--user U] COMMAND [options] --cursor CURSOR`: the
    options given (those left at their default stay out); --db only when it did
    not come from $SESSIONTRAIL_URL, which the next run reads again."""
    words = ["sessiontrail"]
    if ctx.parent is not None:
        db, user = ctx.parent.params.get("db"), ctx.parent.params.get("user")
        if db is not None and db != os.environ.get("SESSIONTRAIL_URL"):
            words += ["--db", db]
        if user is not None:
            words += ["--user", user]
    words.append(ctx.info_name or "")
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if (
            not isinstance(param, TyperOption)
            or param.name == "cursor"
            or value is None
            or value == param.default
        ):
            continue
        if param.is_flag:
            words.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            values = value if param.multiple else [value]
            for one in values:
                words += [param.opts[0], str(one)]
    return shlex.join([*words, "--cursor", cursor])
