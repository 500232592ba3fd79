"""A session as Markdown, for reading and sharing (`export --format md`).

It is read in terminals too, so control characters (but line breaks and tabs)
are shown as `\\x1b`-style text: a message's escape sequence never reaches the
terminal that shows it (the other commands print through rich, which drops them).
What people and agents wrote is quoted (each line after "> "), so no text can
pass for the transcript's own structure: a message holding a line like
"**assistant** · ..." shows inside the quote of whoever wrote it, never as a
turn of its own. Markdown in it still renders, inside the quote.
"""

from __future__ import annotations

import json

from ..domain.session import Session
from ..domain.values import Message

VISIBLE = {
    code: f"\\x{code:02x}"
    for code in (*range(0x20), *range(0x7F, 0xA0))
    if chr(code) not in "\n\t"
}
"""Each C0 and C1 control character but newline and tab, as text that shows it."""


def _quoted(text: str) -> str:
    """`text` as a Markdown block quote, every line of it inside the quote."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _markdown_message(message: Message) -> str:
    """A message as a Markdown block: who and when, the text, then any tool calls."""
    head = f"**{message.role}** · {message.created_at:%Y-%m-%d %H:%M:%S} UTC"
    if message.role == "tool":
        outcome = {True: "ok", False: "failed", None: "done"}[message.tool_success]
        head += f" · result of `{message.tool_call_id}` ({outcome})"
    parts = [head]
    if message.content:
        parts.append(_quoted(message.content))
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
        question = _quoted(session.pending_question.question)
        blocks.append(f"*waiting for an answer:*\n\n{question}")
    return "\n\n".join(blocks).replace("\r\n", "\n").translate(VISIBLE)
