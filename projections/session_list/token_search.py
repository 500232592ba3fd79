"""`search` under a master key: whole words by keyed tokens, newest first.

The read model holds tokens, not text, so there is no relevance score: matching
sessions come most recently updated first (ties by id), as a list would show
them. Snippets are cut here from the opened title or message, the matched words
between MARK.
"""

from __future__ import annotations

from ...domain.values import Message
from ...infrastructure import search_tokens
from ...infrastructure.sql import Cursor
from ..search import TITLE, SearchProjection, searchable
from ..sessions import MESSAGE_FIELDS, SessionsProjection
from . import tokens
from .keyset import COLUMNS, WIDTH
from .search import MARK, SNIPPET_WORDS, Found

ELLIPSIS = "…"


def find_keyed(
    cur: Cursor,
    sessions: SessionsProjection,
    search: SearchProjection,
    text: str,
    *,
    user_id: str | None,
    include_deleted: bool,
    limit: int,
) -> list[Found]:
    """The `limit` most recently updated sessions holding every word of `text`."""
    tokens.check_keyed(cur, search)
    matches, params = tokens.text_matches(cur, search, text, user_id)
    clauses = [f"s.stream IN (SELECT stream FROM ({matches}) m)"]
    if user_id is not None:
        clauses.append("s.user_id = ?")
        params.append(user_id)
    if not include_deleted:
        clauses.append("s.deleted = 0")
    rows = cur.execute(
        f"SELECT {COLUMNS}, s.stream FROM {sessions.table('sessions')} s "
        f"WHERE {' AND '.join(clauses)} "
        "ORDER BY s.updated_at DESC, s.session_id LIMIT ?",
        (*params, limit),
    ).fetchall()
    if not rows:
        return []
    documents = _documents(cur, search, text, user_id, [row[WIDTH] for row in rows])
    wanted = set(search_tokens.words(text))
    found = []
    for row in rows:
        hits = documents.get(row[WIDTH], [])
        first = TITLE if TITLE in hits or not hits else hits[0]
        shown = (
            cur.sealer.open_text(row[2])
            if first == TITLE
            else _message_text(cur, sessions, row[WIDTH], first)
        )
        found.append(
            Found(
                row=row[:WIDTH],
                message_ids=[hit for hit in hits if hit != TITLE],
                title_matched=TITLE in hits,
                snippet=snippet(shown, wanted),
            )
        )
    return found


def _documents(
    cur: Cursor,
    search: SearchProjection,
    text: str,
    user_id: str | None,
    streams: list[str],
) -> dict[str, list[str]]:
    """Per stream, the message ids of its matching documents, in order."""
    matches, params = tokens.text_matches(cur, search, text, user_id)
    marks = ", ".join("?" * len(streams))
    rows = cur.execute(
        f"SELECT m.stream, d.message_id FROM ({matches} AND t.stream IN ({marks})) m "
        f"JOIN {search.table('search_docs')} d ON d.doc = m.doc ORDER BY d.doc",
        (*params, *streams),
    ).fetchall()
    found: dict[str, list[str]] = {}
    for stream, message_id in rows:
        found.setdefault(stream, []).append(message_id)
    return found


def _message_text(
    cur: Cursor, sessions: SessionsProjection, stream: str, message_id: str
) -> str:
    """The searchable text of one stored message, opened."""
    row = cur.execute(
        f"SELECT message FROM {sessions.table('messages')} "
        "WHERE stream = ? AND message_id = ?",
        (stream, message_id),
    ).fetchone()
    if row is None:
        return ""
    opened = cur.sealer.open_state(row[0], MESSAGE_FIELDS)
    return searchable(Message.model_validate_json(opened))


def snippet(text: str, wanted: set[str]) -> str:
    """Up to SNIPPET_WORDS words of `text` from just before its first wanted word,
    each wanted word between MARK (words compared normalised, as tokens are)."""
    found = list(search_tokens.WORD.finditer(text))
    marked = [bool(set(search_tokens.words(word.group())) & wanted) for word in found]
    if not found:
        return ""
    first = marked.index(True) if True in marked else 0
    start = max(0, first - SNIPPET_WORDS // 4)
    window = range(start, min(len(found), start + SNIPPET_WORDS))
    parts = [ELLIPSIS] if start > 0 else []
    at = found[start].start()
    for number in window:
        word = found[number]
        parts.append(text[at : word.start()])
        parts.append(f"{MARK}{word.group()}{MARK}" if marked[number] else word.group())
        at = word.end()
    parts.append(ELLIPSIS if window.stop < len(found) else text[at:])
    return "".join(parts)
