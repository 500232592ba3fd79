"""`sessiontrail export | import`: move sessions between databases, or out to read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

from ..domain.errors import InvalidInput
from ..trail import connect
from ..transfer.export import ExportFormat
from ..transfer.export_output import STDOUT, export_output
from .options import open_log, options

console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        *Progress.get_default_columns()[:-1],
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def export(
    ctx: typer.Context,
    session_ids: Annotated[
        list[str] | None, typer.Argument(help="Sessions to export.", show_default=False)
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Export every session (deleted ones too).")
    ] = False,
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format", "-f", help="jsonl: events, re-importable; json; md: to read."
        ),
    ] = "jsonl",
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="File to write, replaced only once complete and created readable "
            "by you alone (0600); a symlink, device or FIFO there is refused. "
            "- or none: standard output.",
        ),
    ] = None,
) -> None:
    """Export sessions: JSON lines to re-import, JSON, or Markdown.

    An export holds the sessions' content decrypted, even from an encrypted log:
    keep it as safe as the database.

    Example: sessiontrail export --all -o backup.jsonl
    """
    if bool(session_ids) == everything:
        raise InvalidInput("sessions: name sessions to export, or give --all")
    opts = options(ctx)
    with (
        open_log(opts.db) as trail,
        export_output(output) as out,
        _progress() as progress,
    ):
        task = progress.add_task(
            "export", total=trail.store.head() if everything else None
        )
        written = trail.exporter.write(
            out,
            None if everything else session_ids,
            format=format,
            user_id=opts.user,
            progress=lambda done: progress.update(task, completed=done),
        )
    if output not in (None, STDOUT):
        console.print(f"exported {written} events to {escape(output)}")


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="An export, or a JSON list of messages.")
    ],
    session: Annotated[
        str | None,
        typer.Option(help="Session id for a file of messages (default: its name)."),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Model of a session made of messages.")
    ] = "",
) -> None:
    """Load an export, or a chat of OpenAI-style messages.

    An export is JSON lines or JSON, as `export` writes it.

    Events keep their versions, times and actors; streams already in the
    database are continued, so re-running an import writes nothing twice.

    Example: sessiontrail --db postgresql://app@db/trail import backup.jsonl
    """
    opts = options(ctx)
    with connect(opts.db) as trail, _progress() as progress:
        task = progress.add_task("import", total=None)
        report = trail.importer.import_file(
            file,
            user_id=opts.user,
            session_id=session,
            model=model,
            progress=lambda done, total: progress.update(
                task, completed=done, total=total
            ),
        )
    print(
        f"imported {report.written} events ({report.already_present} already present) "
        f"into {len(report.sessions)} session(s)"
    )


COMMANDS = ((export, "export"), (import_, "import"))
