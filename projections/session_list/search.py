"""A ranked search: the sessions whose title or messages hold every word, best
match first, with their matching message ids and a snippet.

A session's score is its best document's: FTS5's bm25 on SQLite, `ts_rank` on
PostgreSQL; equal scores list the most recently updated first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...infrastructure.sql import Cursor
from ..search import TITLE, SearchProjection
from ..sessions import SessionsProjection
from .filters import match_query, search_language
from .keyset import COLUMNS, WIDTH

MARK = "**"
"""What surrounds each matched word in a snippet."""
SNIPPET_WORDS = 16


@dataclass(frozen=True)
class Found:
    """A session a search found, before its index row becomes a summary."""

    row: tuple[Any, ...]
    message_ids: list[str]
    title_matched: bool
    snippet: str


def find(
    cur: Cursor,
    sessions: SessionsProjection,
    search: SearchProjection,
    text: str,
    *,
    user_id: str | None,
    include_deleted: bool,
    limit: int,
) -> list[Found]:
    """The best `limit` sessions for `text` among those a list would show."""
    query = match_query(cur.dialect, text)
    matches, params = _matches(cur, search, query)
    clauses = []
    if user_id is not None:
        clauses.append("s.user_id = ?")
        params.append(user_id)
    if not include_deleted:
        clauses.append("s.deleted = 0")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = cur.execute(
        f"SELECT {COLUMNS}, s.stream, MIN(m.score) AS best FROM ({matches}) m "
        f"JOIN {sessions.table('sessions')} s ON s.stream = m.stream {where}"
        f"GROUP BY s.stream ORDER BY best, s.updated_at DESC, s.session_id LIMIT ?",
        (*params, limit),
    ).fetchall()
    if not rows:
        return []
    streams = [row[WIDTH] for row in rows]
    documents = _documents(cur, search, query, streams)
    found = []
    for row in rows:
        hits = documents.get(row[WIDTH], [])
        best = min(hits, key=lambda hit: hit[2]) if hits else (TITLE, "", 0.0)
        found.append(
            Found(
                row=row[:WIDTH],
                message_ids=[hit[0] for hit in hits if hit[0] != TITLE],
                title_matched=any(hit[0] == TITLE for hit in hits),
                snippet=best[1],
            )
        )
    return found


def _matches(
    cur: Cursor, search: SearchProjection, query: str
) -> tuple[str, list[Any]]:
    """SQL of the matching documents (stream, score: lower is better)."""
    docs, words = search.table("search_docs"), search.table("search_words")
    if cur.dialect == "sqlite":
        return (
            f"SELECT d.stream, w.score FROM (SELECT rowid AS doc, rank AS score "
            f"FROM {words} WHERE {words} MATCH ?) w "
            f"JOIN {docs} d ON d.doc = w.doc",
            [query],
        )
    language = search_language(cur, search)
    return (
        "SELECT d.stream, -ts_rank(d.words, plainto_tsquery(?::regconfig, ?)) "
        f"AS score FROM {docs} d "
        "WHERE d.words @@ plainto_tsquery(?::regconfig, ?)",
        [language, query, language, query],
    )


def _documents(
    cur: Cursor, search: SearchProjection, query: str, streams: list[str]
) -> dict[str, list[tuple[str, str, float]]]:
    """Per stream, its matching documents in order: (message id, snippet, score)."""
    docs, words = search.table("search_docs"), search.table("search_words")
    marks = ", ".join("?" * len(streams))
    if cur.dialect == "sqlite":
        rows = cur.execute(
            f"SELECT d.stream, d.message_id, snippet({words}, 0, ?, ?, '…', ?), "
            f"{words}.rank FROM {words} JOIN {docs} d ON d.doc = {words}.rowid "
            f"WHERE {words} MATCH ? AND d.stream IN ({marks}) ORDER BY d.doc",
            (MARK, MARK, SNIPPET_WORDS, query, *streams),
        ).fetchall()
    else:
        language = search_language(cur, search)
        rows = cur.execute(
            "SELECT d.stream, d.message_id, ts_headline(?::regconfig, d.body, q, ?), "
            "-ts_rank(d.words, q) "
            f"FROM {docs} d, plainto_tsquery(?::regconfig, ?) q "
            f"WHERE d.words @@ q AND d.stream IN ({marks}) ORDER BY d.doc",
            (
                language,
                f"StartSel={MARK}, StopSel={MARK}, MaxWords={SNIPPET_WORDS}, "
                "MinWords=4",
                language,
                query,
                *streams,
            ),
        ).fetchall()
    found: dict[str, list[tuple[str, str, float]]] = {}
    for stream, message_id, snippet, score in rows:
        found.setdefault(stream, []).append((message_id, snippet, float(score)))
    return found
