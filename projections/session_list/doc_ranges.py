"""The matching documents of chosen sessions on SQLite, in a few FTS5 queries.

FTS5 answers `rowid IN (...)` by scanning every match of its query, and each
`rowid = ?` look-up costs a fraction of a millisecond (it opens its segment
iterators again), but a rowid range costs about one look-up plus the matches in
it. So the documents of the chosen sessions are grouped into runs of nearby ids,
one range query each: lists walking a common word test sessions this way.

Scoring is the exception: FTS5's bm25 counts the documents holding each word
once per query (a scan of the word's document list), so `search` scores and
quotes its sessions' documents in one query over the span of their ids,
computing the score and the snippet only for theirs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ...infrastructure.sql import Cursor
from ..search import SearchProjection

RANGE_GAP = 64
"""Document ids at most this far apart share one range: scanning the few between
costs less than one more look-up (about 600 rows' worth)."""


def documents_of(
    cur: Cursor, search: SearchProjection, streams: list[str]
) -> list[tuple[str, int, str]]:
    """(stream, document id, message id) of every document of these streams,
    in document order."""
    if not streams:
        return []
    return [
        (row[0], row[1], row[2])
        for row in cur.execute(
            f"SELECT stream, doc, message_id FROM {search.table('search_docs')} "
            f"WHERE stream IN ({', '.join('?' * len(streams))}) ORDER BY doc",
            streams,
        ).fetchall()
    ]


def matching(
    cur: Cursor, search: SearchProjection, query: str, docs: Iterable[int]
) -> set[int]:
    """The documents among `docs` matching the FTS5 `query`."""
    wanted = set(docs)
    words = search.table("search_words")
    found: set[int] = set()
    for low, high in _runs(sorted(wanted)):
        found.update(
            row[0]
            for row in cur.execute(
                f"SELECT rowid FROM {words} WHERE {words} MATCH ? "
                "AND rowid BETWEEN ? AND ?",
                (query, low, high),
            ).fetchall()
            if row[0] in wanted
        )
    return found


def scored(
    cur: Cursor,
    search: SearchProjection,
    query: str,
    docs: Iterable[int],
    columns: str,
    params: tuple[Any, ...] = (),
) -> dict[int, tuple[Any, ...]]:
    """The documents among `docs` matching the FTS5 `query`, each with the values
    of `columns` (SQL over the FTS5 row: `rank`, `snippet(...)`; their
    parameters `params`), in one query over the span of their ids; the
    columns are computed for these documents only (`rowid + 0` keeps the list
    out of FTS5's hands, which would scan every match for it)."""
    wanted = sorted(set(docs))
    if not wanted:
        return {}
    words = search.table("search_words")
    rows = cur.execute(
        f"SELECT rowid, {columns} FROM {words} WHERE {words} MATCH ? "
        "AND rowid BETWEEN ? AND ? "
        "AND rowid + 0 IN (SELECT value FROM json_each(?))",
        (*params, query, wanted[0], wanted[-1], json.dumps(wanted)),
    ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) ranges whose neighbours are within RANGE_GAP."""
    runs: list[tuple[int, int]] = []
    for doc in ids:
        if runs and doc - runs[-1][1] <= RANGE_GAP:
            runs[-1] = (runs[-1][0], doc)
        else:
            runs.append((doc, doc))
    return runs
