"""`sessiontrail replay | diff`: step through a session, compare two versions."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.session import Session
from ..domain.summaries import summarize
from .options import open_log, options
from .render import message_text

console = Console()

FIELDS = ("title", "pinned", "model", "metadata", "pending_question", "deleted")


def changes(before: Session | None, after: Session) -> dict[str, Any]:
    """What differs from `before` to `after`: messages added and removed, fields."""
    old_messages = {m.id: m for m in before.messages} if before else {}
    new_ids = {m.id for m in after.messages}
    fields = {}
    for name in FIELDS:
        old = getattr(before, name) if before else None
        new = getattr(after, name)
        if old != new and not (before is None and not new):
            fields[name] = [_plain(old), _plain(new)]
    return {
        "added": [m for m in after.messages if m.id not in old_messages],
        "removed": [m for key, m in old_messages.items() if key not in new_ids],
        "fields": fields,
    }


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _as_json(change: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": [m.model_dump(mode="json") for m in change["added"]],
        "removed": [m.model_dump(mode="json") for m in change["removed"]],
        "fields": change["fields"],
    }


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
        print(json.dumps(_as_json(change), ensure_ascii=False))
        return
    lines = _lines(change) or ["no changes"]
    console.print(f"[bold]{escape(session_id)}[/] v{first} → v{second}")
    for line in lines:
        console.print(f"  {line}")


COMMANDS = (replay, diff)
