"""`sessiontrail purge | compact`: delete a session for good, give the disk back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from .options import open_log, options

console = Console()


def purge(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session to delete.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
    actor: Annotated[str, typer.Option(help="Who asked (kept in the log).")] = "user",
    reason: Annotated[
        str, typer.Option(help="Why (kept in the log in plaintext: no personal data).")
    ] = "",
) -> None:
    """Delete a session for good, with its Q&A; a purge record stays.

    A purge record (who, when, why, how many events) stays in the log and the
    audit timeline; verify lists it. Run `compact` afterwards for the last
    copies SQLite's pages or PostgreSQL's dead rows keep.

    Example: sessiontrail purge chat-42 --actor dpo@example.com --yes
    """
    if not yes:
        typer.confirm(f"Delete session {session_id!r} for good?", abort=True)
    opts = options(ctx)
    with open_log(opts.db) as trail:
        report = trail.sessions.purge(
            session_id, user_id=opts.user, actor=actor, reason=reason
        )
    qa = f" and {report.qa_events} Q&A events" if report.qa_events else ""
    console.print(
        f"[green]purged[/] {escape(session_id)}: {report.events} events{qa}, "
        f"last hash {report.last_hash[:16]}…"
    )
    if not report.chain_ok:
        console.print(
            "[yellow]note:[/] its records were damaged before the purge; "
            "verify keeps reporting it"
        )


def compact(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="PostgreSQL: VACUUM FULL, which removes deleted rows' bytes "
            "and locks each table while it rewrites it.",
        ),
    ] = False,
) -> None:
    """Give the disk back after purges: the database is vacuumed.

    SQLite rewrites the whole file holding the write lock (writers wait; readers
    go on); afterwards no file holds a purged byte. PostgreSQL's plain VACUUM
    blocks no one; --full removes the bytes, locking each table in turn.

    Example: sessiontrail --db sqlite:///trail.db compact
    """
    with open_log(options(ctx).db) as trail:
        report = trail.compact(full=full)
    console.print(
        f"[green]compacted[/] {report.before / 1e6:.1f} MB → "
        f"{report.after / 1e6:.1f} MB in {report.seconds:.2f} s"
    )


COMMANDS = (purge, compact)
