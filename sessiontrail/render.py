"""Rich tables of a transcript and an audit timeline, shared by the CLI commands."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from .domain.values import HistoryEntry, Message

ROLE_STYLES = {"system": "dim", "user": "cyan", "assistant": "green", "tool": "magenta"}


def _clip(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def message_text(message: Message) -> str:
    """One readable line: the content, or what a tool call / tool result did."""
    if message.tool_calls:
        calls = ", ".join(
            f"{call.name}({_clip(str(call.arguments), 40)})"
            for call in message.tool_calls
        )
        return _clip(f"{message.content} → {calls}".strip(" →"))
    if message.role == "tool":
        outcome = {True: "ok", False: "failed", None: "done"}[message.tool_success]
        return _clip(f"[{message.tool_call_id} {outcome}] {message.content}")
    return _clip(message.content)


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


def summarize(entry: HistoryEntry) -> str:
    """A one-line summary of what an event changed."""
    p: dict[str, Any] = entry.payload
    match entry.event:
        case "Started":
            return f"started (model {p['model'] or '-'})"
        case "MessageAppended":
            content = str(p["message"]["content"]) or "(tool call)"
            return f"{p['message']['role']}: {_clip(content, 50)}"
        case "TranscriptTruncated":
            return f"removed {len(p['removed_ids'])} message(s)"
        case "TitleEdited":
            return f"title → {p['title']!r} (v{p['title_version']})"
        case "PinChanged":
            return "pinned" if p["pinned"] else "unpinned"
        case "MetadataEdited":
            return "metadata " + ", ".join(sorted(p["changes"]))
        case "ModelChanged":
            return f"model → {p['model']}"
        case "QuestionPending":
            return "asks: " + _clip(p["question"]["question"], 50)
        case "QuestionResolved":
            return f"question {p['tool_call_id']} answered"
        case "TokenUsageRecorded":
            return "usage " + _clip(str(p["record"]), 50)
        case _:
            return (
                entry.event.removeprefix("Session").lower()
                if not p
                else _clip(str(p), 60)
            )


def timeline_table(entries: list[HistoryEntry], title: str = "Audit timeline") -> Table:
    table = Table(title=title)
    table.add_column("v", justify="right")
    table.add_column("time (UTC)")
    table.add_column("actor")
    table.add_column("event")
    table.add_column("what")
    for entry in entries:
        table.add_row(
            str(entry.version),
            entry.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            entry.actor,
            entry.event,
            escape(summarize(entry)),
        )
    return table
