"""The `sessiontrail` command line: `sessiontrail [--db URL] COMMAND`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from . import cli_debug, cli_inspect, cli_projections
from .cli_options import Options, options
from .demo import run_demo
from .domain.errors import SessiontrailError

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console()
app.add_typer(cli_projections.app, name="projections")
for command in (*cli_inspect.COMMANDS, *cli_debug.COMMANDS):
    app.command()(command)


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
) -> None:
    """Inspect and operate a sessiontrail session log."""
    ctx.obj = Options(db, user)


@app.command()
def demo(ctx: typer.Context) -> None:
    """Record a chat written by an agent runtime and a UI at once; show the merge."""
    run_demo(options(ctx).db, console)


def main() -> None:
    """Console entry point: library errors become one red line and exit status 1."""
    try:
        app()
    except SessiontrailError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(1) from None
