"""`sessiontrail ls | show | history | stats`: looking at sessions (public API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.search import parse_meta
from ..domain.thread_ids import thread_of, thread_session_id
from ..domain.values import Message, SessionSummary
from ..infrastructure.repository import SessionRepository
from .next_page import continue_command
from .options import open_log, options
from .render import timeline_table, transcript_table

console = Console()

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _moment(text: str, option: str) -> datetime:
    """An ISO 8601 time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def counted(number: int, noun: str) -> str:
    """`1 session`, `2 sessions`, `0 sessions`."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def ls(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Sessions per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="Continue a listing.")] = None,
    include_deleted: Annotated[
        bool, typer.Option("--all", help="Include deleted sessions.")
    ] = False,
    search: Annotated[
        str | None,
        typer.Option(help="Only sessions with every word in the title or a message."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's.")] = None,
    pinned: Annotated[
        bool | None, typer.Option("--pinned/--unpinned", help="Only (un)pinned ones.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only updated at or after this ISO time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only updated before this ISO time.")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option(
            help="Only sessions whose metadata KEY equals VALUE (KEY=VALUE; "
            "repeatable; VALUE read as JSON when it is a number, true, false, "
            'null or "quoted").'
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Sessions, most recently updated first; the options filter them.

    Example: sessiontrail --user alice ls --search Lisbon --meta env=prod
    """
    opts = options(ctx)
    with open_log(opts.db) as trail:
        page = trail.sessions.list(
            user_id=opts.user,
            limit=limit,
            cursor=cursor,
            include_deleted=include_deleted,
            text=search,
            model=model,
            pinned=pinned,
            metadata=parse_meta(meta or []),
            since=None if since is None else _moment(since, "since"),
            until=None if until is None else _moment(until, "until"),
        )
    if as_json:
        _print_json(page.model_dump(mode="json"))
        return
    several_users = opts.user is None and len({s.user_id for s in page.items}) > 1
    table = Table(title="Sessions")
    ids = [_id_cell(summary) for summary in page.items]
    table.add_column("title", ratio=2)
    if several_users:
        table.add_column("user", ratio=1)
    table.add_column("pinned")
    table.add_column("messages", justify="right")
    table.add_column("model", ratio=1)
    table.add_column("updated (UTC)", no_wrap=True)
    table.add_column(
        "id", ratio=2, no_wrap=_ids_fit(ids, several_users), overflow="fold"
    )
    for summary, id_cell in zip(page.items, ids, strict=True):
        owner = [escape(summary.user_id or "-")] if several_users else []
        table.add_row(
            escape(summary.title or "(untitled)"),
            *owner,
            "yes" if summary.pinned else "",
            str(summary.message_count),
            escape(summary.model),
            summary.updated_at.strftime("%Y-%m-%d %H:%M"),
            id_cell,
        )
    console.print(table)
    if page.next_cursor:
        console.print("more:", continue_command(ctx, page.next_cursor), soft_wrap=True)


def _not_found(
    repo: SessionRepository, session_id: str, user_id: str | None
) -> SessionNotFound:
    """`SessionNotFound` for `session_id`, naming the session of the LangGraph
    thread of that id when there is one: people type the thread id they know."""
    message = f"no session {session_id!r}"
    if thread_of(session_id) is None:
        thread = thread_session_id(session_id)
        try:
            stored = repo.exists(thread, user_id=user_id)
        except InvalidInput:  # not a possible session id (too long, say)
            stored = False
        if stored:
            message += (
                f"; the LangGraph thread {session_id!r} is the session {thread!r}"
            )
    return SessionNotFound(message)


def _id_cell(summary: SessionSummary) -> str:
    """The id column's markup: the id, then whether it is deleted or a fork."""
    deleted = " [red](deleted)[/]" if summary.deleted else ""
    return escape(summary.session_id) + deleted + _fork_note(summary)


def _ids_fit(ids: list[str], several_users: bool) -> bool:
    """Whether every id cell fits on one line beside the other columns.

    A cell that fits stays whole, so an id can be copied; one that does not (a
    LangGraph thread's UUID on an 80-column terminal) folds onto more lines
    instead, else the table would squeeze the other columns to nothing.
    """
    others = _OTHER_COLUMNS + (_USER_COLUMN if several_users else 0)
    longest = max((Text.from_markup(cell).cell_len for cell in ids), default=0)
    return longest <= console.width - others


_OTHER_COLUMNS = 62
"""Room the other columns take at their narrowest readable widths (title 8,
pinned 6, messages 8, model 5, updated 16) with every column's border and
padding (3 each, and 1)."""
_USER_COLUMN = 8
"""Room the user column needs when several users share the list."""


def _fork_note(summary: SessionSummary) -> str:
    """Where a fork came from, after its id (nothing for other sessions)."""
    if summary.forked_from is None:
        return ""
    source = escape(summary.forked_from)
    return f" [dim](forked from {source} at v{summary.forked_version})[/]"


def show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session to show.")],
    last: Annotated[
        int | None, typer.Option(help="Only the last N messages.", min=0)
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="As it was at a VERSION or ISO TIMESTAMP.")
    ] = None,
    as_json: Json = False,
) -> None:
    """A session's transcript, with its pin and any pending question.

    Roles are coloured; tool calls and results are folded into one line each.

    Example: sessiontrail show chat-42 --at 7
    """
    opts = options(ctx)
    with open_log(opts.db) as trail:
        repo = trail.sessions
        if at is None:
            session = repo.try_load(session_id, user_id=opts.user)
        elif at.isdigit():
            session = repo.at(session_id, version=int(at), user_id=opts.user)
        else:
            moment = _moment(at, "--at")
            session = repo.at(session_id, at=moment, user_id=opts.user)
            if session is None:
                _not_yet(repo, session_id, moment, opts.user)
        if session is None:
            raise _not_found(repo, session_id, opts.user)
        transcript: list[Message] = list(session.messages)
        messages = transcript
        if last is not None:
            messages = transcript[len(transcript) - last :] if last else []
    if as_json:
        question = session.pending_question
        pending = None if question is None else question.model_dump(mode="json")
        _print_json(
            {
                "session": session.summary().model_dump(mode="json"),
                "pending_question": pending,
                "messages": [m.model_dump(mode="json") for m in messages],
            }
        )
        return
    title = (
        f"{session.title or '(untitled)'} · {session.session_id} · v{session.version}"
        + (" · pinned" if session.pinned else "")
    )
    console.print(transcript_table(messages, title=escape(title)))
    if not transcript and thread_of(session.session_id) is not None:
        console.print(
            "no messages: a LangGraph thread's transcript is its checkpoints' "
            "`messages` channel (the saver's messages_channel); `sessiontrail "
            f"history {escape(session.session_id)}` lists its checkpoints",
            soft_wrap=True,
        )
    if session.pending_question is not None:
        asked = session.pending_question.question
        console.print(f"waiting for an answer: {escape(asked)}", soft_wrap=True)


def _not_yet(
    repo: SessionRepository, session_id: str, moment: datetime, user: str | None
) -> None:
    """SessionNotFound saying when the session was created, if it was, after
    `moment` (another user's session stays unknown)."""
    first = repo.at(session_id, version=1, user_id=user)
    if first is not None:
        raise SessionNotFound(
            f"session {session_id!r} did not exist yet at {moment.isoformat()}; "
            f"it was created at {first.created_at.isoformat()}"
        )


def history(
    ctx: typer.Context,
    session_id: Annotated[
        str, typer.Argument(help="The session whose events to list.")
    ],
    actor: Annotated[str | None, typer.Option(help="Only this actor's events.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only events at or after this ISO time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only events at or before this ISO time.")
    ] = None,
    as_json: Json = False,
) -> None:
    """A session's audit timeline: who changed what, and when.

    One row per event: version, time, actor, event and what it changed.

    Example: sessiontrail history chat-42 --actor alice@web --until 2026-11-24
    """
    opts = options(ctx)
    start = None if since is None else _moment(since, "--since")
    end = None if until is None else _moment(until, "--until")
    with open_log(opts.db) as trail:
        try:
            entries = trail.sessions.history(session_id, user_id=opts.user)
        except SessionNotFound:
            raise _not_found(trail.sessions, session_id, opts.user) from None
    entries = [
        entry
        for entry in entries
        if (actor is None or entry.actor == actor)
        and (start is None or entry.timestamp >= start)
        and (end is None or entry.timestamp <= end)
    ]
    if as_json:
        _print_json([entry.model_dump(mode="json") for entry in entries])
        return
    console.print(timeline_table(entries, title=f"History of {escape(session_id)}"))


def stats(ctx: typer.Context, as_json: Json = False) -> None:
    """Counts of sessions, messages and events; token totals by model.

    Sessions and messages count live sessions; events count every session's,
    deleted ones included (Q&A streams not).

    Example: sessiontrail stats --json
    """
    opts = options(ctx)
    with open_log(opts.db) as trail:
        summaries = trail.sessions.list_paginated(
            user_id=opts.user, include_deleted=True
        )
        live = [summary for summary in summaries if not summary.deleted]
        sessions = len(live)
        messages = sum(summary.message_count for summary in live)
        events = sum(summary.version for summary in summaries)
        usage = trail.usage.model_totals(user_id=opts.user)
    if as_json:
        _print_json(
            {
                "sessions": sessions,
                "messages": messages,
                "events": events,
                "usage_by_model": usage,
            }
        )
        return
    console.print(
        f"{counted(sessions, 'session')}, {counted(messages, 'message')}; "
        f"{counted(events, 'session event')} (deleted sessions included)"
    )
    table = Table(title="Token usage by model")
    table.add_column("model")
    table.add_column("totals")
    for model, totals in usage.items():
        table.add_row(
            escape(model or "(none)"),
            ", ".join(f"{field} {value:g}" for field, value in totals.items()),
        )
    console.print(table)


COMMANDS = (ls, show, history, stats)
