"""The keyset queries of a list page, by current key and by key as it was.

Rows unchanged since a walk began are paged by their current sort key; rows
changed since, by their key before their first change after it (kept in
`session_moves`); merged by key for the page.
"""

from __future__ import annotations

from typing import Any

from ...infrastructure.sql import Cursor
from ..search import SearchProjection
from ..sessions import SessionsProjection
from .cursor import Listing
from .filters import matching_set, row_clauses

COLUMNS = (
    "s.session_id, s.user_id, s.title, s.pinned, s.model, s.message_count, "
    "s.created_at, s.updated_at, s.version, s.deleted, s.preview"
)
"""A session index row as lists read it (see `reader.summary_fields`)."""
Row = tuple[tuple[Any, ...], dict[str, Any]]
"""A row with its sort key."""


def _where(
    listing: Listing,
    columns: dict[str, str],
    last: dict[str, Any] | None,
    matching: tuple[str, list[Any]] | None,
) -> tuple[list[str], list[Any]]:
    """The filters of a listing (`matching`: SQL of the streams the text and
    metadata filters allow, as a condition), and the keyset condition past `last`."""
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
    if matching is not None:
        clauses.append(f"s.stream IN ({matching[0]})")
        params += matching[1]
    if last is not None:
        alternatives = []
        equal: list[str] = []
        equal_params: list[Any] = []
        for name, descending in listing.sort_keys():
            column = columns[name]
            alternatives.append(
                " AND ".join([*equal, f"{column} {'<' if descending else '>'} ?"])
            )
            params.extend([*equal_params, last[name]])
            equal.append(f"{column} = ?")
            equal_params.append(last[name])
        clauses.append("(" + " OR ".join(f"({a})" for a in alternatives) + ")")
    return clauses, params


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
    `search`: the search read model, for text and metadata filters; the streams
    they match drive the query (CROSS JOIN keeps SQLite from walking every row
    in list order and testing each)."""
    clauses, params = _where(listing, _CURRENT, last, None)
    if unchanged_since is not None:
        clauses.append("s.position <= ?")
        params.append(unchanged_since)
    source = f"{tables.table('sessions')} s"
    matching = matching_set(cur, listing.filters, search, listing.user_id)
    if matching is not None:
        source = f"({matching[0]}) f CROSS JOIN {source}"
        clauses.append("s.stream = f.stream")
        params = [*matching[1], *params]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = cur.execute(
        f"SELECT {COLUMNS} FROM {source}{where} "
        f"ORDER BY {_order(listing, _CURRENT)} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return [(row, _key(row[0], row[3], row[7])) for row in rows]


def select_moved(
    cur: Cursor,
    tables: SessionsProjection,
    listing: Listing,
    last: dict[str, Any],
    limit: int,
    since: int,
    search: SearchProjection | None = None,
) -> list[Row]:
    """Rows changed after `since` that existed then, by their key at `since`."""
    matching = matching_set(cur, listing.filters, search, listing.user_id)
    clauses, params = _where(listing, _AS_MOVED, last, matching)
    rows = cur.execute(
        f"SELECT {COLUMNS}, m.pinned, m.updated_at "
        f"FROM {tables.table('session_moves')} m "
        f"JOIN {tables.table('sessions')} s ON s.stream = m.stream "
        "WHERE m.position > ? AND s.started_position <= ? AND m.position = "
        f"(SELECT MIN(n.position) FROM {tables.table('session_moves')} n "
        "WHERE n.stream = m.stream AND n.position > ?) "
        f"AND {' AND '.join(clauses)} "
        f"ORDER BY {_order(listing, _AS_MOVED)} LIMIT ?",
        (since, since, since, *params, limit),
    ).fetchall()
    return [(row[:11], _key(row[0], row[11], row[12])) for row in rows]


def _key(session_id: str, pinned: int, updated_at: int) -> dict[str, Any]:
    return {"pinned": pinned, "updated_at": updated_at, "session_id": session_id}


def by_key(rows: list[Row], listing: Listing) -> list[Row]:
    """Rows in the listing's order (stable sorts, least significant key first)."""
    for name, descending in reversed(listing.sort_keys()):
        rows = sorted(rows, key=lambda row: row[1][name], reverse=descending)
    return rows
