"""The SQL of a filtered list: each filter is served by an index.

Text and metadata filters are read two ways from the search read model (its
FTS5 table or GIN index, its keyed tokens, its (key, value) index): as the set
of matching streams, which drives the list when matches are few (`matching_set`),
or as a test of one session, applied while walking the list in order when
matches are many (`matching_test`, see keyset.py; on SQLite without a key the
text is tested a batch of sessions at a time, `streams_holding`). Model, pinned
and the time range are conditions on the session index row.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue

from ...domain.search import SessionFilter, canonical, words
from ...infrastructure.sql import Cursor
from ..columns import micros
from ..search import SearchProjection
from . import tokens
from .doc_ranges import documents_of, matching

Clauses = tuple[list[str], list[Any]]
"""SQL conditions and their parameters."""


def match_query(dialect: str, text: str) -> str:
    """The text-search query for `text`: every word must match.

    SQLite: each word an FTS5 phrase (so `call_42` matches as `call 42`
    adjacent); PostgreSQL: the text itself for
    `plainto_tsquery`, so its parser splits it exactly as it split the
    documents (`ERR-7731`)."""
    found = words(text)
    if dialect == "sqlite":
        return " ".join(f'"{word}"' for word in found)
    return text


def search_language(cur: Cursor, search: SearchProjection) -> str:
    """The text search configuration the live search generation was built with."""
    row = cur.execute(
        f"SELECT language FROM {search.table('search_config')}"
    ).fetchone()
    assert row is not None, "a search generation records its language"
    return str(row[0])


def _text_matches(
    cur: Cursor, search: SearchProjection, text: str, user_id: str | None
) -> tuple[str, list[Any]]:
    """SQL of the streams with a document holding every word of `text`."""
    if cur.sealer.active:
        sql, params = tokens.text_matches(cur, search, text, user_id)
        return f"SELECT DISTINCT stream FROM ({sql}) t", params
    docs, words_table = search.table("search_docs"), search.table("search_words")
    query = match_query(cur.dialect, text)
    if cur.dialect == "sqlite":
        return (
            f"SELECT DISTINCT d.stream FROM {words_table} JOIN {docs} d "
            f"ON d.doc = {words_table}.rowid WHERE {words_table} MATCH ?",
            [query],
        )
    return (  # no DISTINCT: an IN subquery, which the planner may walk
        f"SELECT d.stream FROM {docs} d "
        "WHERE d.words @@ plainto_tsquery(?::regconfig, ?)",
        [search_language(cur, search), query],
    )


def matching_set(
    cur: Cursor,
    filters: SessionFilter,
    search: SearchProjection | None,
    user_id: str | None,
) -> tuple[str, list[Any]] | None:
    """SQL of the distinct streams matching the text and metadata filters (from
    the search read model's indexes), or None when there are none. A filtered
    list is driven by this set, so it costs the matches, not the sessions.
    Under a master key the words and values are matched by `user_id`'s tokens
    (None: any owner's), see tokens.py."""
    if search is None or not filters.searches:
        return None
    if cur.sealer.active:
        tokens.check_keyed(cur, search)
    parts: list[str] = []
    params: list[Any] = []
    if filters.text is not None:
        sql, values = _text_matches(cur, search, filters.text, user_id)
        parts.append(sql)
        params += values
    for key, value in (filters.metadata or {}).items():
        sql, values = _metadata_rows(cur, search, key, value, user_id)
        parts.append(sql)
        params += values
    return " INTERSECT ".join(parts), params


def row_clauses(filters: SessionFilter, columns: dict[str, str]) -> Clauses:
    """The conditions of the filters on index row columns (`columns` maps the
    sort keys to the row's current or as-moved columns)."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.model is not None:
        clauses.append("s.model = ?")
        params.append(filters.model)
    if filters.pinned is not None:
        clauses.append(f"{columns['pinned']} = ?")
        params.append(int(filters.pinned))
    if filters.since is not None:
        clauses.append(f"{columns['updated_at']} >= ?")
        params.append(micros(filters.since))
    if filters.until is not None:
        clauses.append(f"{columns['updated_at']} < ?")
        params.append(micros(filters.until))
    return clauses, params


COMMON = 1000
"""Matches (documents, metadata rows) from which a filter counts as common: a
list then walks sessions in its order, testing each, instead of collecting
every match first (see keyset.py)."""


def is_common(
    cur: Cursor,
    filters: SessionFilter,
    search: SearchProjection,
    user_id: str | None,
) -> bool:
    """Whether every text and metadata filter matches at least COMMON documents
    or rows (each counted up to COMMON only, by its index), so a list walks.
    Never for a text filter on PostgreSQL's GIN index, which collects every
    match to count them: there the planner's statistics of the words choose."""
    counts: list[tuple[str, list[Any]]] = []
    if filters.text is not None:
        if cur.dialect != "sqlite" and not cur.sealer.active:
            return False
        counts.append(_text_rows(cur, search, filters.text, user_id))
    for key, value in (filters.metadata or {}).items():
        counts.append(_metadata_rows(cur, search, key, value, user_id))
    return all(_at_least_common(cur, sql, params) for sql, params in counts)


def text_is_common(cur: Cursor, search: SearchProjection, text: str) -> bool:
    """Whether at least COMMON documents hold every word of `text` (no key):
    a ranked search then ranks the newest sessions holding them (search.py).
    On PostgreSQL the count reads the words' GIN posting lists whole (about
    one page per thousand documents) and at most COMMON rows."""
    return _at_least_common(cur, *_text_rows(cur, search, text, None))


def _at_least_common(cur: Cursor, sql: str, params: list[Any]) -> bool:
    """Whether the query `sql` gives at least COMMON rows (reading no more)."""
    row = cur.execute(
        f"SELECT COUNT(*) FROM ({sql} LIMIT ?) c", (*params, COMMON)
    ).fetchone()
    return row is not None and row[0] >= COMMON


def _text_rows(
    cur: Cursor, search: SearchProjection, text: str, user_id: str | None
) -> tuple[str, list[Any]]:
    """SQL of the documents holding every word of `text`, one row each."""
    if cur.sealer.active:
        return tokens.text_matches(cur, search, text, user_id)
    if cur.dialect == "sqlite":
        words_table = search.table("search_words")
        return (
            f"SELECT rowid FROM {words_table} WHERE {words_table} MATCH ?",
            [match_query(cur.dialect, text)],
        )
    return (
        f"SELECT doc FROM {search.table('search_docs')} "
        "WHERE words @@ plainto_tsquery(?::regconfig, ?)",
        [search_language(cur, search), text],
    )


def _metadata_rows(
    cur: Cursor,
    search: SearchProjection,
    key: str,
    value: JsonValue,
    user_id: str | None,
) -> tuple[str, list[Any]]:
    """SQL of the metadata rows where `key` equals `value` (columns: stream; one
    row per stream at most: a stream has one value per key)."""
    if cur.sealer.active:
        return tokens.metadata_matches(cur, search, key, value, user_id)
    return (
        f"SELECT stream FROM {search.table('search_metadata')} "
        "WHERE key = ? AND value = ?",
        [key, canonical(value)],
    )


def matching_test(
    cur: Cursor,
    filters: SessionFilter,
    search: SearchProjection | None,
    user_id: str | None,
) -> tuple[str, list[Any]] | None:
    """SQL condition that session index row `s` matches the text and metadata
    filters, found by its stream in the search read model's indexes; None when
    there are none."""
    if search is None or not filters.searches:
        return None
    clauses: list[str] = []
    params: list[Any] = []
    if filters.text is not None:
        sql, values = _text_test(cur, search, filters.text, user_id)
        clauses.append(sql)
        params += values
    for key, value in (filters.metadata or {}).items():
        sql, values = _metadata_rows(cur, search, key, value, user_id)
        clauses.append(f"EXISTS ({sql} AND stream = s.stream)")
        params += values
    return " AND ".join(clauses), params


def tests_in_batches(cur: Cursor, filters: SessionFilter) -> bool:
    """Whether a walk tests the text filter a batch of sessions at a time
    (`streams_holding`): on SQLite without a key, where one FTS5 look-up per
    document would cost each tested session a fraction of a millisecond."""
    sqlite = cur.dialect == "sqlite" and not cur.sealer.active
    return filters.text is not None and sqlite


LONG_SESSION = 200
"""Messages above which a tested session is looked up on its own (by its
documents, stopping at the first match) rather than in a batch, which reads
every document id of each session."""


def streams_holding(
    cur: Cursor,
    search: SearchProjection,
    text: str,
    candidates: list[tuple[str, int]],
) -> set[str]:
    """Which of the candidate streams (stream, message count) have a document
    holding every word of `text` (SQLite, no key): the per-session test's
    answer, in a few FTS5 range queries (doc_ranges.py) instead of a look-up
    per document."""
    docs, words_table = search.table("search_docs"), search.table("search_words")
    query = match_query(cur.dialect, text)
    found: set[str] = set()
    short = [stream for stream, count in candidates if count <= LONG_SESSION]
    for stream, count in candidates:
        if (
            count > LONG_SESSION
            and cur.execute(
                f"SELECT 1 FROM {docs} d, {words_table} w WHERE d.stream = ? "
                f"AND w.rowid = d.doc AND {words_table} MATCH ? LIMIT 1",
                (stream, query),
            ).fetchone()
        ):
            found.add(stream)
    held = documents_of(cur, search, short)
    matched = matching(cur, search, query, (doc for _, doc, _ in held))
    return found | {stream for stream, doc, _ in held if doc in matched}


def _text_test(
    cur: Cursor, search: SearchProjection, text: str, user_id: str | None
) -> tuple[str, list[Any]]:
    """SQL condition that session `s` has a document holding every word."""
    if cur.sealer.active:
        sql, params = tokens.text_matches(cur, search, text, user_id)
        return f"EXISTS ({sql} AND t.stream = s.stream)", params
    docs = search.table("search_docs")
    if cur.dialect == "sqlite":  # each of its documents looked up in FTS5 by rowid
        words_table = search.table("search_words")
        return (
            f"EXISTS (SELECT 1 FROM {docs} d, {words_table} w "
            f"WHERE d.stream = s.stream AND w.rowid = d.doc AND {words_table} MATCH ?)",
            [match_query(cur.dialect, text)],
        )
    return (
        f"EXISTS (SELECT 1 FROM {docs} d "
        "WHERE d.stream = s.stream AND d.words @@ plainto_tsquery(?::regconfig, ?))",
        [search_language(cur, search), text],
    )
