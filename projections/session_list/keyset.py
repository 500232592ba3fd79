"""The keyset queries of a list page, by current key and by key as it was.

Rows unchanged since a walk began are paged by their current sort key; rows
changed since, by their key before their first change after it (kept in
`session_moves`); merged by key for the page.

A text or metadata filter is served one of two ways, with the same rows. When it
matches few documents, the set of matching streams drives the query (its cost
is the matches). When it matches many (a common word), collecting and sorting
every match before the LIMIT would cost them all: the list is walked in its
order instead, each session tested by its stream, up to WALK_BUDGET sessions;
if that does not fill the page, the set drives the query after all. On SQLite
without a key the text is tested a batch of sessions at a time (one FTS5 query
per run of nearby document ids, not one look-up per document).
"""

from __future__ import annotations

from typing import Any

from ...infrastructure.sql import Cursor
from ..search import SearchProjection
from ..sessions import SessionsProjection
from . import by_stream
from .cursor import Listing
from .filters import (
    is_common,
    matching_set,
    matching_test,
    row_clauses,
    streams_holding,
    tests_in_batches,
)

COLUMNS = (
    "s.session_id, s.user_id, s.title, s.pinned, s.model, s.message_count, "
    "s.created_at, s.updated_at, s.version, s.deleted, s.preview, "
    "s.forked_from, s.forked_version"
)
"""A session index row as lists read it (see `reader._fields`)."""
WIDTH = 13
"""How many columns COLUMNS reads: what a query selects after them follows."""
Row = tuple[tuple[Any, ...], dict[str, Any]]
"""A row with its sort key."""


def _where(
    listing: Listing,
    columns: dict[str, str],
    last: dict[str, Any] | None,
) -> tuple[list[str], list[Any]]:
    """The row filters of a listing (text and metadata are the caller's), and the
    keyset condition past `last`."""
    clauses: list[str] = []
    params: list[Any] = []
    if listing.user_id is not None:
        clauses.append("s.user_id = ?")
        params.append(listing.user_id)
    if not listing.include_deleted:
        clauses.append(f"{columns['deleted']} = 0")
    filtered, values = row_clauses(listing.filters, columns)
    clauses += filtered
    params += values
    if last is not None:
        past, values = _past(listing, columns, last)
        clauses.append(past)
        params += values
    return clauses, params


def _past(
    listing: Listing, columns: dict[str, str], key: dict[str, Any]
) -> tuple[str, list[Any]]:
    """The keyset condition: rows after `key` in the listing's order."""
    alternatives = []
    params: list[Any] = []
    equal: list[str] = []
    equal_params: list[Any] = []
    for name, descending in listing.sort_keys():
        column = columns[name]
        alternatives.append(
            " AND ".join([*equal, f"{column} {'<' if descending else '>'} ?"])
        )
        params.extend([*equal_params, key[name]])
        equal.append(f"{column} = ?")
        equal_params.append(key[name])
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def _order(listing: Listing, columns: dict[str, str]) -> str:
    return ", ".join(
        f"{columns[name]} {'DESC' if descending else 'ASC'}"
        for name, descending in listing.sort_keys()
    )


_CURRENT = {
    "pinned": "s.pinned",
    "updated_at": "s.updated_at",
    "session_id": "s.session_id",
    "deleted": "s.deleted",
}
_AS_MOVED = {
    "pinned": "m.pinned",
    "updated_at": "m.updated_at",
    "session_id": "s.session_id",
    "deleted": "m.deleted",
}


def select_current(
    cur: Cursor,
    tables: SessionsProjection,
    listing: Listing,
    last: dict[str, Any] | None,
    limit: int,
    unchanged_since: int | None,
    offset: int = 0,
    search: SearchProjection | None = None,
) -> list[Row]:
    """Rows by their current key; with `unchanged_since`, only rows not moved since.
    `search`: the search read model, for text and metadata filters; a common
    filter walks the list (`_walk`); otherwise on SQLite the streams they match
    drive the query (CROSS JOIN keeps SQLite from walking every row in list
    order and testing each). On PostgreSQL the planner's estimate of the matches
    chooses: few, and they drive the page, each session looked up by its key
    (`few_estimated`); else the planner walks the list in order and tests each."""
    clauses, params = _where(listing, _CURRENT, last)
    if unchanged_since is not None:
        clauses.append("s.position <= ?")
        params.append(unchanged_since)
    walked = _walk(cur, tables, listing, search, (clauses, params), limit, offset)
    if walked is not None:
        return walked
    source = f"{tables.table('sessions')} s"
    matching = matching_set(cur, listing.filters, search, listing.user_id)
    if matching is not None and cur.dialect == "sqlite":
        source = f"({matching[0]}) f CROSS JOIN {source}"
        clauses.append("s.stream = f.stream")
        params = [*matching[1], *params]
    elif matching is not None and few_estimated(cur, matching):
        source = (
            f"(SELECT DISTINCT stream FROM ({matching[0]}) m) f CROSS JOIN LATERAL "
            f"(SELECT * FROM {source} WHERE s.stream = f.stream OFFSET 0) s"
        )
        params = [*matching[1], *params]
    elif matching is not None:
        clauses.append(f"s.stream IN ({matching[0]})")
        params += matching[1]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = cur.execute(
        f"SELECT {COLUMNS} FROM {source}{where} "
        f"ORDER BY {_order(listing, _CURRENT)} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return [(row, _key(row[0], row[3], row[7])) for row in rows]


FEW_ESTIMATED = 10_000
"""Matches PostgreSQL's planner may estimate for the matching set to drive a page."""


def few_estimated(cur: Cursor, matching: tuple[str, list[Any]]) -> bool:
    """Whether the planner estimates few rows in the matching set (a planning
    round trip, no execution). Its statistics of the words tell a frequent word
    well, while a rare one is estimated high (at most the rarest frequency it
    keeps): left to itself it then hashes every session to join a few matches,
    O(sessions); the set driving the page costs the matches."""
    row = cur.execute(
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM ({matching[0]}) m", matching[1]
    ).fetchone()
    assert row is not None, "EXPLAIN gives a plan"
    return float(row[0][0]["Plan"]["Plan Rows"]) < FEW_ESTIMATED  # psycopg parses


WALK_BUDGET = 10
"""Sessions a walk may test per row it must return (plus WALK_EXTRA)."""
WALK_EXTRA = 200
WALK_MAX_ROWS = 1000
"""Pages longer than this (with their offset) are never walked."""


def _walk(
    cur: Cursor,
    tables: SessionsProjection,
    listing: Listing,
    search: SearchProjection | None,
    where: tuple[list[str], list[Any]],
    limit: int,
    offset: int,
) -> list[Row] | None:
    """The page by walking the list in order and testing each session against a
    common text or metadata filter; None when the filter is not common, or the
    budget of sessions ran out before the page was full (a list shorter than the
    budget is walked whole: its page is complete, however short)."""
    wanted = limit + offset
    if search is None or not listing.filters.searches or wanted > WALK_MAX_ROWS:
        return None
    if not is_common(cur, listing.filters, search, listing.user_id):
        return None
    if tests_in_batches(cur, listing.filters):
        return _walk_in_batches(cur, tables, listing, search, where, limit, offset)
    test = matching_test(cur, listing.filters, search, listing.user_id)
    assert test is not None, "a filter that searches has a test"
    clauses, params = list(where[0]), list(where[1])
    sessions, order = tables.table("sessions"), _order(listing, _CURRENT)
    condition = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    bound = cur.execute(  # the last session the walk may test
        f"SELECT s.pinned, s.updated_at, s.session_id FROM {sessions} s{condition} "
        f"ORDER BY {order} LIMIT 1 OFFSET ?",
        (*params, wanted * WALK_BUDGET + WALK_EXTRA - 1),
    ).fetchone()
    if bound is not None:
        past, values = _past(listing, _CURRENT, _key(bound[2], bound[0], bound[1]))
        clauses.append(f"NOT {past}")
        params += values
    rows = cur.execute(
        f"SELECT {COLUMNS} FROM {sessions} s WHERE {' AND '.join([*clauses, test[0]])} "
        f"ORDER BY {order} LIMIT ? OFFSET ?",
        (*params, *test[1], limit, offset),
    ).fetchall()
    if len(rows) < limit and bound is not None:  # the budget ended the walk
        return None
    return [(row, _key(row[0], row[3], row[7])) for row in rows]


def newest_matching(
    cur: Cursor,
    tables: SessionsProjection,
    listing: Listing,
    search: SearchProjection,
    count: int,
) -> list[Row] | None:
    """The first `count` rows of a list filtered by a common word (no key),
    walked in its order and tested a batch at a time (on PostgreSQL by the
    sessions' own documents, by_stream.py); None when the walk's budget ran
    out first."""
    where = _where(listing, _CURRENT, None)
    return _walk_in_batches(cur, tables, listing, search, where, count, 0)


WALK_BATCH_MAX = 500
"""The most sessions one batch of a walk tests (their streams are parameters)."""


def _walk_in_batches(
    cur: Cursor,
    tables: SessionsProjection,
    listing: Listing,
    search: SearchProjection,
    where: tuple[list[str], list[Any]],
    limit: int,
    offset: int,
) -> list[Row] | None:
    """`_walk` with the text tested a batch at a time (`streams_holding`): the
    sessions in list order that pass the other filters, `limit + offset` first,
    then twice as many each time, up to the same budget; the page it gives is
    the one testing each session gives."""
    text = listing.filters.text
    assert text is not None
    wanted = limit + offset
    budget = wanted * WALK_BUDGET + WALK_EXTRA
    clauses, params = list(where[0]), list(where[1])
    others = matching_test(
        cur,
        listing.filters.model_copy(update={"text": None}),
        search,
        listing.user_id,
    )
    if others is not None:
        clauses.append(others[0])
        params += others[1]
    sessions, order = tables.table("sessions"), _order(listing, _CURRENT)
    found: list[Row] = []
    walked, size = 0, wanted
    last: dict[str, Any] | None = None
    while walked < budget:
        take = min(size, budget - walked, WALK_BATCH_MAX)
        batch_clauses, batch_params = list(clauses), list(params)
        if last is not None:
            past, values = _past(listing, _CURRENT, last)
            batch_clauses.append(past)
            batch_params += values
        condition = f" WHERE {' AND '.join(batch_clauses)}" if batch_clauses else ""
        rows = cur.execute(
            f"SELECT {COLUMNS}, s.stream FROM {sessions} s{condition} "
            f"ORDER BY {order} LIMIT ?",
            (*batch_params, take),
        ).fetchall()
        walked += len(rows)
        if cur.dialect == "sqlite":
            holding = streams_holding(
                cur, search, text, [(row[WIDTH], row[5]) for row in rows]
            )
        else:
            holding = by_stream.streams_holding(
                cur, search, text, [row[WIDTH] for row in rows]
            )
        for row in rows:
            if row[WIDTH] in holding:
                found.append((row[:WIDTH], _key(row[0], row[3], row[7])))
        if len(found) >= wanted or len(rows) < take:  # full, or walked whole
            return found[offset:wanted]
        last, size = _key(rows[-1][0], rows[-1][3], rows[-1][7]), 2 * size
    return None  # the budget ended the walk


def select_moved(
    cur: Cursor,
    tables: SessionsProjection,
    listing: Listing,
    last: dict[str, Any],
    limit: int,
    since: int,
    search: SearchProjection | None = None,
) -> list[Row]:
    """Rows changed after `since` that existed then, by their key at `since`:
    their first move after it, the one whose previous change is not (few: each
    tested against the text and metadata filters)."""
    clauses, params = _where(listing, _AS_MOVED, last)
    test = matching_test(cur, listing.filters, search, listing.user_id)
    if test is not None:
        clauses.append(test[0])
        params += test[1]
    rows = cur.execute(
        f"SELECT {COLUMNS}, m.pinned, m.updated_at "
        f"FROM {tables.table('session_moves')} m "
        f"JOIN {tables.table('sessions')} s ON s.stream = m.stream "
        "WHERE m.position > ? AND s.started_position <= ? AND m.previous <= ? "
        f"AND {' AND '.join(clauses)} "
        f"ORDER BY {_order(listing, _AS_MOVED)} LIMIT ?",
        (since, since, since, *params, limit),
    ).fetchall()
    return [(row[:WIDTH], _key(row[0], row[WIDTH], row[WIDTH + 1])) for row in rows]


def _key(session_id: str, pinned: int, updated_at: int) -> dict[str, Any]:
    return {"pinned": pinned, "updated_at": updated_at, "session_id": session_id}


def by_key(rows: list[Row], listing: Listing) -> list[Row]:
    """Rows in the listing's order (stable sorts, least significant key first)."""
    for name, descending in reversed(listing.sort_keys()):
        rows = sorted(rows, key=lambda row: row[1][name], reverse=descending)
    return rows
