"""The `sessiontrail` command line: `sessiontrail [--db URL] COMMAND`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from . import cli_projections
from .demo import run_demo
from .domain.errors import SessiontrailError

app = typer.Typer(no_args_is_help=True, add_completion=False)
console = Console()
app.add_typer(cli_projections.app, name="projections")


@app.callback()
def options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SESSIONTRAIL_URL",
            help="Database URL (default: $SESSIONTRAIL_URL, else sqlite:///sessiontrail.db).",
        ),
    ] = None,
) -> None:
    """Inspect and operate a sessiontrail session log."""
    ctx.obj = db


@app.command()
def demo(ctx: typer.Context) -> None:
    """Record a chat written by an agent runtime and a UI at once; show the merge."""
    run_demo(ctx.obj, console)


def main() -> None:
    """Console entry point: library errors become one red line and exit status 1."""
    try:
        app()
    except SessiontrailError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(1) from None
