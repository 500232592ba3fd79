"""`sessiontrail projections status | rebuild NAME... | run`: operate read models."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
from rich.table import Table

from ..domain.values import ProjectionStatus
from .help import Command, Group
from .options import open_log, options

app = typer.Typer(
    cls=Group, no_args_is_help=True, help="Read models: lag, rebuilds, the worker."
)
console = Console()

STATE_STYLES = {
    "in_sync": "green",
    "behind": "yellow",
    "needs_rebuild": "red",
    "newer": "magenta",
}


def _status_table(statuses: list[ProjectionStatus]) -> Table:
    table = Table(title="Read models")
    for column in ("name", "version", "position", "head", "lag", "skipped", "state"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for status in statuses:
        version = str(status.version)
        if status.live_version != status.version:
            version = f"{status.live_version} (code {status.version})"
        table.add_row(
            status.name,
            version,
            str(status.position),
            str(status.head),
            str(status.lag),
            str(status.skipped + status.unreadable_rows),
            f"[{STATE_STYLES[status.state]}]{status.state}[/]",
        )
    return table


@app.command(cls=Command)
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where each read model stands: position, lag, state.

    Example: sessiontrail projections status --json
    """
    with open_log(options(ctx).db, "worker") as trail:
        statuses = trail.projections.status()
    if as_json:
        print(json.dumps([s.model_dump() | {"state": s.state} for s in statuses]))
    else:
        console.print(_status_table(statuses))


@app.command(cls=Command)
def rebuild(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Read models to rebuild.")],
) -> None:
    """Rebuild read models beside the live ones, then swap them in.

    Example: sessiontrail projections rebuild sessions usage
    """
    with open_log(options(ctx).db, "worker") as trail:
        for name in names:
            trail.projections.projection(name)  # unknown names fail before any work
        for name in names:
            with Progress(
                *Progress.get_default_columns()[:-1],
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"rebuild {name}", total=None)

                def report(position: int, head: int, task: TaskID = task) -> None:
                    progress.update(task, completed=position, total=max(head, 1))

                result = trail.projections.rebuild(name, progress=report)
            console.print(
                f"[green]rebuilt[/] {name} v{result.version} at position "
                f"{result.position} (lag {result.lag})"
            )


@app.command(cls=Command)
def run(
    ctx: typer.Context,
    poll_interval: Annotated[
        float, typer.Option(min=0, help="Seconds between polls when idle.")
    ] = 0.5,
) -> None:
    """Keep every read model current (the worker) until stopped.

    SIGINT or SIGTERM stop it cleanly, between batches.

    Example: sessiontrail --db postgresql://app@db/trail projections run
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:  # the handlers are the worker's only while it runs
        with open_log(options(ctx).db, "worker") as trail:
            console.print(f"following {trail.url}; stop with Ctrl-C")
            trail.projections.run(stop, poll_interval=poll_interval)
            reached = min(s.position for s in trail.projections.status())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    console.print(f"stopped at position {reached}")
