"""`sessiontrail replay | diff`: step through a session, compare two versions."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.session import Session
from ..domain.summaries import summarize
from ..domain.version_diff import changes, diff_json
from .options import open_log, options
from .render import message_text

console = Console()


def _lines(change: dict[str, Any]) -> list[str]:
    lines = [
        f"[green]+ {m.role}[/]: {escape(message_text(m))}" for m in change["added"]
    ]
    lines += [
        f"[red]- {m.role}[/]: {escape(message_text(m))}" for m in change["removed"]
    ]
    lines += [
        f"[yellow]~ {name}[/]: {escape(repr(old))} → {escape(repr(new))}"
        for name, (old, new) in change["fields"].items()
    ]
    return lines


def _next_step() -> bool:
    """Wait for Enter; False when the person typed q or the input ended."""
    try:
        answer = typer.prompt(
            "", default="", show_default=False, prompt_suffix="", err=True
        )
    except typer.Abort:
        return False
    return answer.strip().lower() not in ("q", "quit")


def replay(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session to step through.")],
    until: Annotated[
        int | None, typer.Option(help="Stop after this version.", min=1)
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Seconds between steps with --no-pause.", min=0)
    ] = 0.0,
    pause: Annotated[
        bool, typer.Option("--pause/--no-pause", help="Wait for Enter between steps.")
    ] = True,
) -> None:
    """Step through a session event by event, showing each change.

    Enter shows the next event; q or Ctrl-D stops. When input is not a terminal
    (a pipe, a file, a job), nobody can press Enter: it runs as with --no-pause.

    Example: sessiontrail replay chat-42 --until 12 --no-pause
    """
    pause = pause and sys.stdin.isatty()
    opts = options(ctx)
    with open_log(opts.db) as trail:
        before: Session | None = None
        for entry, after in trail.sessions.replay(
            session_id, until=until, user_id=opts.user
        ):
            moment = entry.timestamp.strftime("%H:%M:%S.%f")[:-3]
            console.print(
                f"[bold]v{entry.version}[/] {moment} "
                f"{escape(entry.actor)} [cyan]{entry.event}[/] "
                f"{escape(summarize(entry.event, entry.payload))}"
            )
            for line in _lines(changes(before, after)):
                console.print(f"    {line}")
            before = after
            if pause and not _next_step():
                return
            if not pause and speed:
                time.sleep(speed)
        if before is None:
            raise SessionNotFound(f"no session {session_id!r}")


def diff(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session to compare.")],
    first: Annotated[int, typer.Argument(help="The older version.", min=1)],
    second: Annotated[int, typer.Argument(help="The newer version.", min=1)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What changed between two versions of a session.

    Example: sessiontrail diff chat-42 3 9
    """
    if first > second:
        raise InvalidInput("versions: give the older one first")
    opts = options(ctx)
    with open_log(opts.db) as trail:
        old = trail.sessions.at(session_id, version=first, user_id=opts.user)
        new = trail.sessions.at(session_id, version=second, user_id=opts.user)
    if old is None or new is None:
        raise SessionNotFound(f"no session {session_id!r}")
    change = changes(old, new)
    if as_json:
        print(json.dumps(diff_json(change), ensure_ascii=False))
        return
    lines = _lines(change) or ["no changes"]
    console.print(f"[bold]{escape(session_id)}[/] v{first} → v{second}")
    for line in lines:
        console.print(f"  {line}")


def fork(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session to fork.")],
    at_version: Annotated[
        int | None, typer.Option(help="Fork it as it was at this version.", min=1)
    ] = None,
    new_id: Annotated[
        str | None, typer.Option(help="The new session's id (default: a new one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A new session copied from a session as it was at a version.

    The copy is SESSION_ID as it is now, or at --at-version; the source is
    untouched and the fork's history names it.

    Example: sessiontrail fork chat-42 --at-version 3
    """
    opts = options(ctx)
    with open_log(opts.db) as trail:
        made = trail.sessions.fork(
            session_id,
            at_version=at_version,
            new_id=new_id,
            user_id=opts.user,
            actor="cli",
        )
    if as_json:
        print(json.dumps(made.summary().model_dump(mode="json"), ensure_ascii=False))
        return
    console.print(
        f"forked [bold]{escape(session_id)}[/] v{at_version or 'now'} → "
        f"[bold]{escape(made.session_id)}[/] ({len(made.messages)} messages)"
    )


COMMANDS = (replay, diff, fork)
