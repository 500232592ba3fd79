"""Rich tables of a transcript and an audit timeline, shared by the CLI commands."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from ..domain.summaries import clip, summarize
from ..domain.values import HistoryEntry, Message

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
