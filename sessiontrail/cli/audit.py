"""`sessiontrail checkpoint | verify`: anchor the log, and prove it was not edited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..domain.errors import InvalidInput
from ..infrastructure.verify import VerifyReport, checkpoint_from_json
from .options import open_log, options
from .progress import progress_bar, reporter
from .sessions import counted

console = Console()
notes = Console(stderr=True)


def checkpoint(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default stdout)."),
    ] = None,
) -> None:
    """Anchor the log: every stream's head under one root hash.

    Prints JSON to keep outside the database (signed when a key is configured).

    Example: sessiontrail checkpoint -o checkpoint-2026-11-24.json
    """
    with open_log(options(ctx).db) as trail:
        taken = trail.checkpoint()
    text = taken.model_dump_json(indent=1)
    if output is None:
        print(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"--output: cannot write {str(output)!r}: {exc.strerror}"
        ) from None
    notes.print(
        f"checkpoint of {taken.streams} streams at position {taken.position} "
        f"written to {escape(str(output))}"
    )


def verify(
    ctx: typer.Context,
    since: Annotated[
        Path | None, typer.Option(help="A checkpoint file to check the log against.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-walk every hash chain; exit status 1 if one is broken.

    With --since, also the heads a checkpoint saw. A broken chain is named by its
    stream and first bad record.

    Example: sessiontrail verify --since checkpoint-2026-11-24.json
    """
    anchor = None
    if since is not None:
        try:
            anchor = checkpoint_from_json(since.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(
                f"--since: cannot read {str(since)!r}: {exc.strerror}"
            ) from None
    with (
        open_log(options(ctx).db) as trail,
        progress_bar(notes) as progress,
    ):
        report = trail.verify(
            anchor,
            progress=reporter(progress, "verify"),
        )
    if as_json:
        print(report.model_dump_json())
    else:
        _show(report)
    if not report.ok:
        raise typer.Exit(1)


def _show(report: VerifyReport) -> None:
    checked = (
        f"{counted(report.events, 'event')} in {counted(report.streams, 'stream')}"
    )
    if report.unchained:
        checked += f" ({report.unchained} written before checksums: hashed, unchecked)"
    if report.checkpoint is not None:
        signed = ", signature checked" if report.signature_checked else ""
        checked += f"; against the checkpoint at {report.checkpoint.position}{signed}"
    if report.purged:
        checked += f"; {len(report.purged)} purged stream(s) accounted for"
    if report.ok:
        console.print(f"[green]verified[/] {checked}")
        return
    table = Table(title=f"[red]{len(report.problems)} stream(s) fail verification[/]")
    for column in ("stream", "version", "problem"):
        table.add_column(column, overflow="fold")
    for problem in report.problems:
        name = escape(problem.label) if problem.label else str(problem.stream)
        table.add_row(name, str(problem.version), escape(problem.problem))
    console.print(table)
    console.print(f"checked {checked}")


def erase_user(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="The user whose content to erase.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
    actor: Annotated[str, typer.Option(help="Who asked (kept in the log).")] = "system",
    wait: Annotated[
        float,
        typer.Option(
            help="SQLite: seconds to wait for other connections' reads to end, so "
            "no file keeps the erased bytes (fails if they have not ended by then)."
        ),
    ] = 0.0,
) -> None:
    """Crypto-shred a user's content (irreversible); the audit stays.

    The content reads "[erased]" everywhere from now on; the audit trail and hash
    chains stay. Rewrites only that user's read-model rows.

    Example: sessiontrail erase-user alice --actor dpo@example.com --yes
    """
    if not yes:
        typer.confirm(f"Erase everything {user_id!r} wrote, for good?", abort=True)
    with open_log(options(ctx).db) as trail:
        report = trail.erase_user(user_id, actor=actor, wait=wait)
        backend = trail.backend
    if report.had_key:
        rewritten = ", ".join(report.read_models)
        console.print(f"[green]erased[/] {escape(user_id)} from {rewritten}")
    else:
        console.print(f"nothing of {escape(user_id)} was sealed; erasure recorded")
    if not report.log_compacted:
        held = (
            "another VACUUM holds a read-model table, so the old versions of its "
            "rewritten rows stay until a later vacuum of it"
            if backend == "postgresql"
            else "another connection is still reading the SQLite file, so its old "
            "pages (the erased bytes among them) stay on disk until that read ends "
            "and a checkpoint runs"
        )
        if wait > 0:
            typer.echo(f"error: {held}: still so after waiting {wait:g} s", err=True)
            raise typer.Exit(1)
        console.print(f"[yellow]note:[/] {held}; give --wait SECONDS to wait for it")


COMMANDS = (checkpoint, verify)
