"""The matching documents of chosen sessions on PostgreSQL, read by their streams.

A common word's GIN posting list holds most documents: a query the planner
serves from the GIN index builds a bitmap of every match before it can test
the few sessions wanted. Here each chosen session's documents are read through
the (stream, message_id) index instead, behind `OFFSET 0` (which keeps the
planner from pushing the word's condition down to the GIN index), and only
theirs are tested, scored and quoted: the cost is the chosen sessions'
documents, whatever the number of matches.
"""

from __future__ import annotations

from ...infrastructure.sql import Cursor
from ..search import SearchProjection
from .filters import search_language


def documents(
    search: SearchProjection, streams: list[str], *, fenced: bool = True
) -> str:
    """SQL of the documents of `streams` (their parameters), as table `d`;
    `fenced`: read by their streams whatever the word (else the planner may
    serve a word's condition on `d` from the GIN index, best for a rare word)."""
    return (
        f"(SELECT doc, stream, message_id, body, words "
        f"FROM {search.table('search_docs')} "
        f"WHERE stream IN ({', '.join('?' * len(streams))})"
        f"{' OFFSET 0' if fenced else ''}) d"
    )


def streams_holding(
    cur: Cursor, search: SearchProjection, text: str, streams: list[str]
) -> set[str]:
    """Which of `streams` have a document holding every word of `text`; each
    session's documents are read until its first match."""
    if not streams:
        return set()
    rows = cur.execute(
        "SELECT s.stream FROM unnest(?::text[]) s(stream) WHERE EXISTS ("
        "SELECT 1 FROM (SELECT words FROM "
        f"{search.table('search_docs')} d WHERE d.stream = s.stream OFFSET 0) d "
        "WHERE d.words @@ plainto_tsquery(?::regconfig, ?))",
        (streams, search_language(cur, search), text),
    ).fetchall()
    return {row[0] for row in rows}


def best_scores(
    cur: Cursor, search: SearchProjection, text: str, streams: list[str]
) -> dict[str, float]:
    """Each of `streams` holding every word of `text`, with its best document's
    score (`-ts_rank`: lower is better)."""
    if not streams:
        return {}
    rows = cur.execute(
        "SELECT d.stream, MIN(-ts_rank(d.words, q)) "
        f"FROM {documents(search, streams)}, plainto_tsquery(?::regconfig, ?) q "
        "WHERE d.words @@ q GROUP BY d.stream",
        (*streams, search_language(cur, search), text),
    ).fetchall()
    return {row[0]: float(row[1]) for row in rows}
