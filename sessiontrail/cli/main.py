"""The `sessiontrail` command line: `sessiontrail [--db URL] [--user USER] COMMAND`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..domain.errors import SessiontrailError
from . import audit, debug, projections, purge, retention, serve, sessions, transfer
from .demo import run_demo
from .help import Command, Group
from .options import Options, options

errors = Console(stderr=True)


class FriendlyErrors(Group):
    """Failures become one red line on stderr and exit status 1; `--debug` (or an
    error that is not ours) shows the traceback, which is a bug to report."""

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click Context
        try:
            return super().invoke(ctx)
        except SessiontrailError as exc:
            if options(ctx).debug:
                raise
            line = escape(" ".join(str(exc).split()))  # driver messages span lines
            errors.print(f"[red]error:[/] {line}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=FriendlyErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(projections.app, name="projections")
app.add_typer(retention.app, name="retention")
for command in (
    *sessions.COMMANDS,
    *debug.COMMANDS,
    *audit.COMMANDS,
    *purge.COMMANDS,
    *serve.COMMANDS,
):
    app.command(cls=Command)(command)
for move, name in transfer.COMMANDS:
    app.command(name, cls=Command)(move)
app.command("erase-user", cls=Command)(audit.erase_user)


@app.callback()
def global_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SESSIONTRAIL_URL",
            help="Database URL (default: $SESSIONTRAIL_URL, else sqlite:///sessiontrail.db).",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Act as this user: see only their sessions."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error.")
    ] = False,
) -> None:
    """Inspect and operate a sessiontrail session log.

    Example: sessiontrail --db sqlite:///trail.db ls
    """
    ctx.obj = Options(db, user, debug)


@app.command(cls=Command)
def demo(ctx: typer.Context) -> None:
    """Record a chat from an agent and a UI at once; show the merge.

    Example: sessiontrail demo   (re-running it shows the stored chat)
    """
    run_demo(options(ctx).db, Console())


def main() -> None:
    """Console entry point (`sessiontrail`)."""
    app()
