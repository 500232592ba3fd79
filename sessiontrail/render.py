"""Rich tables of a transcript and an audit timeline, shared by the CLI commands."""

from __future__ import annotations

import json

from rich.markup import escape
from rich.table import Table

from .domain.session import Session
from .domain.summaries import clip, summarize
from .domain.values import HistoryEntry, Message

ROLE_STYLES = {"system": "dim", "user": "cyan", "assistant": "green", "tool": "magenta"}


def message_text(message: Message) -> str:
    """One readable line: the content, or what a tool call / tool result did."""
    if message.tool_calls:
        calls = ", ".join(
            f"{call.name}({clip(str(call.arguments), 40)})"
            for call in message.tool_calls
        )
        return clip(f"{message.content} → {calls}".strip(" →"))
    if message.role == "tool":
        outcome = {True: "ok", False: "failed", None: "done"}[message.tool_success]
        return clip(f"[{message.tool_call_id} {outcome}] {message.content}")
    return clip(message.content)


def transcript_table(messages: list[Message], title: str = "Transcript") -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("role")
    table.add_column("message")
    for number, message in enumerate(messages, start=1):
        style = ROLE_STYLES[message.role]
        table.add_row(
            str(number), f"[{style}]{message.role}[/]", escape(message_text(message))
        )
    return table


def timeline_table(entries: list[HistoryEntry], title: str = "Audit timeline") -> Table:
    """Events one per row; times without the date when they all share one day."""
    days = {entry.timestamp.date() for entry in entries}
    if len(days) == 1:
        title = f"{title} · {days.pop()} (UTC)"
        when, layout = "time", "%H:%M:%S.%f"
    else:
        when, layout = "time (UTC)", "%Y-%m-%d %H:%M:%S.%f"
    table = Table(title=title)
    table.add_column("v", justify="right")
    table.add_column(when, no_wrap=True)
    table.add_column("actor")
    table.add_column("event")
    table.add_column("what", ratio=1)
    for entry in entries:
        table.add_row(
            str(entry.version),
            entry.timestamp.strftime(layout)[:-3],
            escape(entry.actor),
            entry.event,
            escape(summarize(entry.event, entry.payload)),
        )
    return table


def _markdown_message(message: Message) -> str:
    """A message as a Markdown block: who and when, the text, then any tool calls."""
    head = f"**{message.role}** · {message.created_at:%Y-%m-%d %H:%M:%S} UTC"
    if message.role == "tool":
        outcome = {True: "ok", False: "failed", None: "done"}[message.tool_success]
        head += f" · result of `{message.tool_call_id}` ({outcome})"
    parts = [head]
    if message.content:
        parts.append(message.content)
    for call in message.tool_calls or []:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        parts.append(f"→ calls `{call.name}` (`{call.id}`): `{arguments}`")
    return "\n\n".join(parts)


def markdown_transcript(session: Session) -> str:
    """A whole session as Markdown, for reading and sharing (not for import)."""
    facts = [f"`{session.session_id}`", f"version {session.version}"]
    if session.user_id:
        facts.append(f"user {session.user_id}")
    if session.model:
        facts.append(f"model {session.model}")
    facts += ["pinned"] * session.pinned + ["deleted"] * session.deleted
    blocks = [f"# {session.title or '(untitled)'}", " · ".join(facts)]
    blocks += [_markdown_message(message) for message in session.messages]
    if session.pending_question:
        blocks.append(f"*waiting for an answer:* {session.pending_question.question}")
    return "\n\n".join(blocks)
