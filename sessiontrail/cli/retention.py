"""`sessiontrail retention show | set | unset | apply`: how long sessions live."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..domain.errors import InvalidInput
from ..domain.retention import Action
from ..privacy.retention import DEFAULT_BATCH, MAX_DAYS, RetentionReport
from .help import Command, Group
from .options import open_log, options
from .progress import progress_bar, reporter

app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help="Retention: how long sessions live after their last update.",
)
console = Console()
PARTLY_FAILED = 3
"""`retention apply`'s exit code when some sessions failed to expire."""
notes = Console(stderr=True)

ScopeUser = Annotated[
    str | None, typer.Option("--user-id", help="The rule is for this user's sessions.")
]
ScopeMeta = Annotated[
    str | None,
    typer.Option(
        "--meta", help="The rule is for sessions whose metadata KEY=VALUE (a tenant)."
    ),
]
Actor = Annotated[str, typer.Option(help="Who changed the policy (kept in the log).")]


def _db(ctx: typer.Context) -> str | None:
    """The database URL; the policy is every user's, so `--user` has no place."""
    given = options(ctx)
    if given.user is not None:
        raise InvalidInput(
            "--user: retention rules cover every user's sessions; "
            "use --user-id to set a rule for one user"
        )
    return given.db


def _metadata(meta: str | None) -> tuple[str | None, str | None]:
    """`KEY=VALUE` as (key, value); (None, None) without one."""
    if meta is None:
        return None, None
    key, equals, value = meta.partition("=")
    if not equals or not key or not value:
        raise InvalidInput(f"--meta: expected KEY=VALUE, got {meta!r}")
    return key, value


@app.command(cls=Command)
def show(
    ctx: typer.Context,
    history: Annotated[
        bool, typer.Option("--history", help="Every change: who, when, which rules.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The rules in force, most specific first (or their history).

    Example: sessiontrail retention show --history
    """
    with open_log(_db(ctx)) as trail:
        policy = trail.retention.show()
        changes = trail.retention.history() if history else []
    if as_json:
        shown = changes if history else [policy]
        print("[" + ",".join(item.model_dump_json() for item in shown) + "]")
        return
    if history:
        for change in changes:
            rules = change.payload["rules"]
            count = len(rules) if isinstance(rules, list) else 0
            console.print(
                f"{change.timestamp:%Y-%m-%d %H:%M:%S} {escape(change.actor)} "
                f"set {count} rule(s)"
            )
        return
    if not policy.rules:
        console.print("no retention rules: sessions are kept until deleted")
        return
    table = Table(title=f"Retention policy (version {policy.version})")
    for column in ("scope", "days", "expiry"):
        table.add_column(column)
    for rule in policy.rules:
        days = "never" if rule.days is None else str(rule.days)
        table.add_row(escape(rule.describe()), days, rule.action)
    console.print(table)
    console.print(f"set by {escape(policy.set_by or '')} at {policy.set_at}")


@app.command("set", cls=Command)
def set_rule(
    ctx: typer.Context,
    days: Annotated[
        int | None,
        typer.Option(help="Days after a session's last update before it expires."),
    ] = None,
    forever: Annotated[
        bool, typer.Option("--forever", help="Sessions in this scope never expire.")
    ] = False,
    action: Annotated[
        str, typer.Option(help="What expiry means: delete (soft) or purge.")
    ] = "delete",
    user_id: ScopeUser = None,
    meta: ScopeMeta = None,
    actor: Actor = "system",
) -> None:
    """Set the rule of one scope: all sessions, a user, a metadata value.

    The most specific matching rule governs a session: metadata, then user, then
    the global rule.

    Example: sessiontrail retention set --days 30 --meta tenant=acme
    """
    if (days is None) == (not forever):
        raise InvalidInput("--days/--forever: give exactly one of them")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"--days: from 1 to {MAX_DAYS}, got {days}")
    expiry = _action(action)  # every argument checked before the log is opened
    key, value = _metadata(meta)
    with open_log(_db(ctx)) as trail:
        policy = trail.retention.set(
            days,
            action=expiry,
            user_id=user_id,
            key=key,
            value=value,
            actor=actor,
        )
    console.print(
        f"retention policy version {policy.version}: {len(policy.rules)} rule(s)"
    )


def _action(action: str) -> Action:
    if action not in ("delete", "purge"):
        raise InvalidInput(f"--action: expected delete or purge, got {action!r}")
    return "delete" if action == "delete" else "purge"


@app.command(cls=Command)
def unset(
    ctx: typer.Context,
    user_id: ScopeUser = None,
    meta: ScopeMeta = None,
    actor: Actor = "system",
) -> None:
    """Remove the rule of one scope (by default the global one).

    Example: sessiontrail retention unset --user-id alice
    """
    key, value = _metadata(meta)
    with open_log(_db(ctx)) as trail:
        removed = trail.retention.unset(
            user_id=user_id, key=key, value=value, actor=actor
        )
    console.print("rule removed" if removed else "no such rule: nothing changed")


@app.command(cls=Command)
def apply(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what expires; change nothing.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Expire at most this many sessions.")
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, help="Sessions read and expired per step.")
    ] = DEFAULT_BATCH,
    actor: Annotated[str, typer.Option(help="Who expires (kept in the log).")] = (
        "retention"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Expire the sessions the policy says have expired (or list them).

    Each session is expired in its own write, only if unchanged since it was
    selected; stopped or killed midway, run it again to go on. A session whose
    expiry fails in storage is kept and listed, the others go on, and the
    command exits with code 3: run it again.

    Example: sessiontrail retention apply --dry-run
    """
    with (
        open_log(_db(ctx)) as trail,
        progress_bar(notes) as progress,
    ):
        report = trail.retention.apply(
            dry_run=dry_run,
            limit=limit,
            batch=batch,
            actor=actor,
            progress=reporter(progress, "retention"),
        )
    if as_json:
        print(report.model_dump_json())
    else:
        _show(report)
    if report.failed:
        notes.print(
            f"failed to expire {len(report.failed)} session(s) (storage errors, "
            "kept): run again"
        )
        raise typer.Exit(PARTLY_FAILED)


def _show(report: RetentionReport) -> None:
    if report.dry_run:
        table = Table(title=f"{len(report.expired)} session(s) would expire")
        for column in ("session", "user", "last update", "rule", "expiry"):
            table.add_column(column, overflow="fold")
        for expiry in report.expired:
            table.add_row(
                escape(expiry.session_id),
                escape(expiry.user_id or ""),
                f"{expiry.updated_at:%Y-%m-%d %H:%M}",
                escape(expiry.rule),
                expiry.action,
            )
        console.print(table)
    else:
        console.print(
            f"[green]expired[/] {len(report.expired)} session(s): "
            f"{report.deleted} deleted, {report.purged} purged"
        )
    if report.skipped:
        console.print(f"kept {len(report.skipped)} changed since selected")
    for expiry in report.failed:
        console.print(f"[red]failed[/] {escape(expiry.session_id)}: kept")
    if report.remaining:
        console.print("stopped at --limit: run again to go on")
