"""A ranked search: the sessions whose title or messages hold every word, best
match first, with their matching message ids and a snippet.

A session's score is its best document's: FTS5's bm25 on SQLite, `ts_rank` on
PostgreSQL; equal scores list the most recently updated first. Words in at
least COMMON documents are ranked among the RANKED_SESSIONS most recently
updated sessions holding them (the first a `list(text=...)` shows), not over
every match: scoring every document of a common word would cost the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...domain.search import SessionFilter
from ...infrastructure.sql import Cursor
from ..search import TITLE, SearchProjection
from ..sessions import SessionsProjection
from . import by_stream
from .cursor import Listing
from .doc_ranges import documents_of, scored
from .filters import match_query, search_language, text_is_common
from .keyset import COLUMNS, WIDTH, newest_matching

MARK = "**"
"""What surrounds each matched word in a snippet."""
SNIPPET_WORDS = 16
RANKED_SESSIONS = 100
"""How many of the newest sessions holding a common word a search ranks."""


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
    rows = None
    ranks: dict[int, float] = {}
    common = text_is_common(cur, search, text)
    if common:
        listing = Listing(
            user_id=user_id,
            order="updated_desc",
            pinned_first=False,
            include_deleted=include_deleted,
            filters=SessionFilter(text=text),
        )
        newest = _newest_ranked(cur, sessions, search, listing, query, limit)
        if newest is not None:
            rows, ranks = newest
    if rows is None:
        rows = _all_ranked(
            cur,
            sessions,
            search,
            query,
            user_id=user_id,
            include_deleted=include_deleted,
            limit=limit,
        )
    if not rows:
        return []
    streams = [row[WIDTH] for row in rows]
    documents = _documents(cur, search, query, streams, common, ranks)
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


def _newest_ranked(
    cur: Cursor,
    sessions: SessionsProjection,
    search: SearchProjection,
    listing: Listing,
    query: str,
    limit: int,
) -> tuple[list[tuple[Any, ...]], dict[int, float]] | None:
    """The best `limit` of the RANKED_SESSIONS newest sessions the listing
    shows (rows with their stream and best score), each scored by its best
    document only, and the score of each of their matching documents (SQLite,
    see `_best_scores`); None when the list's walk ran out of budget before
    finding them."""
    walked = newest_matching(cur, sessions, listing, search, RANKED_SESSIONS)
    if walked is None:
        return None
    rows = {row[0]: row for row, _ in walked}
    if not rows:
        return [], {}
    streams = dict(
        cur.execute(
            f"SELECT stream, session_id FROM {sessions.table('sessions')} "
            f"WHERE session_id IN ({', '.join('?' * len(rows))})",
            list(rows),
        ).fetchall()
    )
    best, ranks = _best_scores(cur, search, query, list(streams))
    ranked = sorted(
        ((rows[streams[stream]], stream, score) for stream, score in best.items()),
        key=lambda each: (each[2], -each[0][7], each[0][0]),
    )
    return [(*row, stream, score) for row, stream, score in ranked[:limit]], ranks


def _best_scores(
    cur: Cursor, search: SearchProjection, query: str, streams: list[str]
) -> tuple[dict[str, float], dict[int, float]]:
    """Each of `streams` matching `query`, with its best document's score (lower
    is better), from these sessions' documents only; and on SQLite each
    matching document's bm25, kept for the snippets: bm25 counts the documents
    holding each word in every query that asks for it (a scan of the word's
    whole document list), so asking once saves one scan."""
    if cur.dialect != "sqlite":  # the query is the text there; ts_rank is cheap
        return by_stream.best_scores(cur, search, query, streams), {}
    docs = documents_of(cur, search, streams)
    scores = scored(cur, search, query, (doc for _, doc, _ in docs), "rank")
    ranks = {doc: float(values[0]) for doc, values in scores.items()}
    best: dict[str, float] = {}
    for stream, doc, _ in docs:
        if doc in ranks:
            best[stream] = min(best.get(stream, ranks[doc]), ranks[doc])
    return best, ranks


def _all_ranked(
    cur: Cursor,
    sessions: SessionsProjection,
    search: SearchProjection,
    query: str,
    *,
    user_id: str | None,
    include_deleted: bool,
    limit: int,
) -> list[tuple[Any, ...]]:
    """The best `limit` sessions, every matching document scored (rows with
    their stream and best score)."""
    matches, params = _matches(cur, search, query)
    clauses = []
    if user_id is not None:
        clauses.append("s.user_id = ?")
        params.append(user_id)
    if not include_deleted:
        clauses.append("s.deleted = 0")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    return cur.execute(
        f"SELECT {COLUMNS}, s.stream, MIN(m.score) AS best FROM ({matches}) m "
        f"JOIN {sessions.table('sessions')} s ON s.stream = m.stream {where}"
        f"GROUP BY s.stream ORDER BY best, s.updated_at DESC, s.session_id LIMIT ?",
        (*params, limit),
    ).fetchall()


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
    cur: Cursor,
    search: SearchProjection,
    query: str,
    streams: list[str],
    common: bool,
    ranks: dict[int, float],
) -> dict[str, list[tuple[str, str, float]]]:
    """Per stream, its matching documents in order: (message id, snippet, score).
    A common word's are read by these sessions' documents, never by every match
    of the word (on PostgreSQL, never by its GIN index), their scores taken from
    `ranks` when it has them (SQLite: no second bm25); a rarer word's by its
    matches, fewer."""
    docs, words = search.table("search_docs"), search.table("search_words")
    if common and cur.dialect == "sqlite":
        held = documents_of(cur, search, streams)
        quoted = scored(
            cur,
            search,
            query,
            (doc for _, doc, _ in held),
            f"snippet({words}, 0, ?, ?, '…', ?)" + ("" if ranks else ", rank"),
            (MARK, MARK, SNIPPET_WORDS),
        )
        rows = [  # without the documents the ranking did not see (written since)
            (
                stream,
                message_id,
                quoted[doc][0],
                ranks[doc] if ranks else quoted[doc][1],
            )
            for stream, doc, message_id in held
            if doc in quoted and (doc in ranks or not ranks)
        ]
    elif cur.dialect == "sqlite":
        rows = cur.execute(
            f"SELECT d.stream, d.message_id, snippet({words}, 0, ?, ?, '…', ?), "
            f"{words}.rank FROM {words} JOIN {docs} d ON d.doc = {words}.rowid "
            f"WHERE {words} MATCH ? AND d.stream IN ({', '.join('?' * len(streams))}) "
            "ORDER BY d.doc",
            (MARK, MARK, SNIPPET_WORDS, query, *streams),
        ).fetchall()
    else:
        language = search_language(cur, search)
        rows = cur.execute(
            "SELECT d.stream, d.message_id, ts_headline(?::regconfig, d.body, q, ?), "
            "-ts_rank(d.words, q) "
            f"FROM {by_stream.documents(search, streams, fenced=common)}, "
            "plainto_tsquery(?::regconfig, ?) q WHERE d.words @@ q ORDER BY d.doc",
            (
                language,
                f"StartSel={MARK}, StopSel={MARK}, MaxWords={SNIPPET_WORDS}, "
                "MinWords=4",
                *streams,
                language,
                query,
            ),
        ).fetchall()
    found: dict[str, list[tuple[str, str, float]]] = {}
    for stream, message_id, snippet, score in rows:
        found.setdefault(stream, []).append((message_id, snippet, float(score)))
    return found
