"""Reads of the session index and transcript: lists, pages and cursors.

A cursor pins its walk to the index as it was at the first page (position P):
rows unchanged since P are paged by their current sort key, rows changed since P
by their key before their first change after P (from `session_moves`), and rows
created after P are left out. So walking every page yields each session that
existed at P exactly once, however many writes happen during the walk.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..domain.errors import InvalidInput, SessionNotFound
from ..domain.ports import Order
from ..domain.session import stream_id
from ..domain.values import Message, MessagePage, Page, SessionSummary
from ..infrastructure.gc_pause import gc_paused
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .columns import moment
from .sessions import MOVES_KEPT, SessionsProjection
from .skips import Skips

logger = logging.getLogger(__name__)

CURSOR_TTL = MOVES_KEPT / 2
"""How long a walk may last: well inside how long the moves it needs are kept."""
NO_LIMIT = 2**62

_COLUMNS = (
    "s.session_id, s.user_id, s.title, s.pinned, s.model, s.message_count, "
    "s.created_at, s.updated_at, s.version, s.deleted, s.preview"
)


class _Listing(BaseModel):
    """What a list call asked for; a cursor is only valid for the same listing."""

    user_id: str | None
    order: Order
    pinned_first: bool
    include_deleted: bool

    def sort_keys(self) -> list[tuple[str, bool]]:
        """The sort columns, each with whether it runs descending."""
        descending = self.order == "updated_desc"
        keys = [("updated_at", descending), ("session_id", descending)]
        if self.pinned_first:
            keys.insert(0, ("pinned", True))
        return keys


class _Walk(BaseModel):
    """A cursor's content: the listing, where the walk began, and the last key."""

    listing: _Listing
    position: int
    issued: float
    last: dict[str, Any]


def _encode(walk: _Walk) -> str:
    return base64.urlsafe_b64encode(walk.model_dump_json().encode()).decode()


def _decode(cursor: str, listing: _Listing) -> _Walk:
    try:
        walk = _Walk.model_validate_json(base64.urlsafe_b64decode(cursor.encode()))
    except (ValidationError, binascii.Error, ValueError):
        raise InvalidInput("cursor: not a cursor a session list returned") from None
    if walk.listing != listing:
        raise InvalidInput(
            "cursor: it belongs to a list with other arguments "
            f"({walk.listing.model_dump()})"
        )
    if time.time() - walk.issued > CURSOR_TTL.total_seconds():
        raise InvalidInput("cursor: expired; list again from the first page")
    return walk


class SessionIndex:
    """Session lists and transcript pages from the `sessions` projection."""

    def __init__(self, database: ProjectionDatabase, skips: Skips) -> None:
        self._database = database
        self._skips = skips

    def list(
        self,
        *,
        user_id: str | None,
        limit: int,
        cursor: str | None,
        order: Order,
        pinned_first: bool,
        include_deleted: bool,
    ) -> Page:
        listing = _Listing(
            user_id=user_id,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
        )
        walk = None if cursor is None else _decode(cursor, listing)
        with self._database.read() as cur:
            tables, position = SessionsProjection.live(cur)
            if walk is None:
                rows = _select_current(cur, tables, listing, None, limit + 1, None)
                issued = time.time()
            else:
                position, issued = walk.position, walk.issued
                rows = _select_current(
                    cur, tables, listing, walk.last, limit + 1, position
                )
                rows += _select_moved(
                    cur, tables, listing, walk.last, limit + 1, position
                )
        if walk is not None:  # current and moved rows: merge them by key
            rows = _sorted(rows, listing)[: limit + 1]
        items = self._summaries([row[0] for row in rows[:limit]])
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1][1]
            next_cursor = _encode(
                _Walk(listing=listing, position=position, issued=issued, last=last)
            )
        return Page(items=items, next_cursor=next_cursor)

    def list_paginated(
        self,
        *,
        offset: int,
        limit: int | None,
        user_id: str | None,
        order: Order,
        pinned_first: bool,
        include_deleted: bool,
    ) -> builtins.list[SessionSummary]:
        listing = _Listing(
            user_id=user_id,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
        )
        with self._database.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            rows = _select_current(
                cur,
                tables,
                listing,
                None,
                NO_LIMIT if limit is None else limit,
                None,
                offset,
            )
        return self._summaries([row[0] for row in rows])

    def messages(
        self,
        session_id: str,
        *,
        user_id: str | None,
        last_n: int | None,
        before: int | None,
    ) -> MessagePage:
        stream = str(stream_id(session_id))
        with self._database.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            owner = cur.execute(
                f"SELECT user_id, deleted FROM {tables.table('sessions')} "
                "WHERE stream = ?",
                (stream,),
            ).fetchone()
            if owner is None or owner[1] or user_id not in (None, owner[0]):
                raise SessionNotFound(f"no session {session_id!r}")
            bound = "" if before is None else " AND position < ?"
            rows = cur.execute(
                f"SELECT position, message FROM {tables.table('messages')} "
                f"WHERE stream = ?{bound} "
                "ORDER BY position DESC LIMIT ?",
                (
                    stream,
                    *(() if before is None else (before,)),
                    NO_LIMIT if last_n is None else last_n + 1,
                ),
            ).fetchall()
        more = last_n is not None and len(rows) > last_n
        page = list(reversed(rows[:last_n] if last_n is not None else rows))
        items = self._messages([text for _, text in page], session_id)
        return MessagePage(items=items, before=page[0][0] if more and page else None)

    def _messages(
        self, texts: builtins.list[str], session_id: str
    ) -> builtins.list[Message]:
        """Stored message JSON decoded in one pass (one JSON array); if one no
        longer validates, one by one, and that one is skipped and counted."""
        try:
            with gc_paused():  # a long transcript is many objects at once
                return _MESSAGES.validate_json("[" + ",".join(texts) + "]")
        except ValidationError:
            pass
        items: builtins.list[Message] = []
        for text in texts:
            try:
                items.append(Message.model_validate_json(text))
            except ValidationError:
                self._skips.row(SessionsProjection.name, f"message of {session_id!r}")
        return items

    def _summaries(self, rows: Sequence[Any]) -> builtins.list[SessionSummary]:
        """Rows as summaries, validated in one pass; if one no longer validates,
        row by row, and that row is skipped and counted."""
        try:
            return _SUMMARIES.validate_python([_fields(row) for row in rows])
        except (ValidationError, ValueError, OverflowError, TypeError):
            pass
        summaries = []
        for row in rows:
            try:
                summaries.append(_summary(row))
            except (ValidationError, ValueError, OverflowError, TypeError):
                self._skips.row(SessionsProjection.name, f"index row {row[0]!r}")
        return summaries


def _fields(row: Sequence[Any]) -> dict[str, Any]:
    return {
        "session_id": row[0],
        "user_id": row[1],
        "title": row[2],
        "pinned": bool(row[3]),
        "model": row[4],
        "message_count": row[5],
        "created_at": moment(row[6]),
        "updated_at": moment(row[7]),
        "version": row[8],
        "deleted": bool(row[9]),
        "preview": row[10],
    }


def _summary(row: Sequence[Any]) -> SessionSummary:
    return SessionSummary(**_fields(row))


_SUMMARIES = TypeAdapter(list[SessionSummary])
_MESSAGES = TypeAdapter(list[Message])


def _where(
    listing: _Listing,
    columns: dict[str, str],
    last: dict[str, Any] | None,
) -> tuple[list[str], list[Any]]:
    """The filters of a listing, and the keyset condition past `last`."""
    clauses: list[str] = []
    params: list[Any] = []
    if listing.user_id is not None:
        clauses.append("s.user_id = ?")
        params.append(listing.user_id)
    if not listing.include_deleted:
        clauses.append(f"{columns['deleted']} = 0")
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


def _order(listing: _Listing, columns: dict[str, str]) -> str:
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


def _select_current(
    cur: Cursor,
    tables: SessionsProjection,
    listing: _Listing,
    last: dict[str, Any] | None,
    limit: int,
    unchanged_since: int | None,
    offset: int = 0,
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Rows by their current key; with `unchanged_since`, only rows not moved since."""
    clauses, params = _where(listing, _CURRENT, last)
    if unchanged_since is not None:
        clauses.append("s.position <= ?")
        params.append(unchanged_since)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM {tables.table('sessions')} s{where} "
        f"ORDER BY {_order(listing, _CURRENT)} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return [(row, _key(row[0], row[3], row[7])) for row in rows]


def _select_moved(
    cur: Cursor,
    tables: SessionsProjection,
    listing: _Listing,
    last: dict[str, Any],
    limit: int,
    since: int,
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Rows changed after `since` that existed then, by their key at `since`."""
    clauses, params = _where(listing, _AS_MOVED, last)
    rows = cur.execute(
        f"SELECT {_COLUMNS}, m.pinned, m.updated_at "
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


def _sorted(
    rows: list[tuple[tuple[Any, ...], dict[str, Any]]], listing: _Listing
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Rows in the listing's order (stable sorts, least significant key first)."""
    for name, descending in reversed(listing.sort_keys()):
        rows = sorted(rows, key=lambda row: row[1][name], reverse=descending)
    return rows
