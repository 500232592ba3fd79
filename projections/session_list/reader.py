"""Reads of the session index and transcript: list pages and transcript pages.

A cursor pins its walk to the index as it was at the first page (position P):
rows unchanged since P are paged by their current sort key, rows changed since P
by their key before their first change after P (from `session_moves`), and rows
created after P are left out. So walking every page yields each session that
existed at P exactly once, however many writes happen during the walk.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from ...domain.errors import SessionNotFound
from ...domain.ports import Order
from ...domain.search import NO_FILTER, SearchHit, SessionFilter
from ...domain.session import stream_id
from ...domain.values import Message, MessagePage, Page, SessionSummary
from ...infrastructure.gc_pause import gc_paused
from ...infrastructure.sealed_columns import ColumnSealer
from ...infrastructure.sql import NO_LIMIT, Cursor, ProjectionDatabase
from ..columns import moment
from ..search import SearchProjection
from ..sessions import MESSAGE_FIELDS, SessionsProjection
from ..skips import Skips
from .cursor import Listing, Walk, decode, encode
from .keyset import by_key, select_current, select_moved
from .search import find
from .token_search import find_keyed


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
        filters: SessionFilter = NO_FILTER,
    ) -> Page:
        listing = Listing(
            user_id=user_id,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
            filters=filters,
        )
        walk = None if cursor is None else decode(cursor, listing)
        with self._database.read() as cur:
            tables, position = SessionsProjection.live(cur)
            search = _search_tables(cur, filters)
            if walk is None:
                rows = select_current(
                    cur, tables, listing, None, limit + 1, None, search=search
                )
                issued = time.time()
            else:
                position, issued = walk.position, walk.issued
                rows = select_current(
                    cur, tables, listing, walk.last, limit + 1, position, search=search
                )
                rows += select_moved(
                    cur, tables, listing, walk.last, limit + 1, position, search
                )
            sealer = cur.sealer
        if walk is not None:  # current and moved rows: merge them by key
            rows = by_key(rows, listing)[: limit + 1]
        items = self._summaries([row[0] for row in rows[:limit]], sealer)
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1][1]
            next_cursor = encode(
                Walk(listing=listing, position=position, issued=issued, last=last)
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
        filters: SessionFilter = NO_FILTER,
    ) -> builtins.list[SessionSummary]:
        listing = Listing(
            user_id=user_id,
            order=order,
            pinned_first=pinned_first,
            include_deleted=include_deleted,
            filters=filters,
        )
        with self._database.read() as cur:
            tables, _ = SessionsProjection.live(cur)
            rows = select_current(
                cur,
                tables,
                listing,
                None,
                NO_LIMIT if limit is None else limit,
                None,
                offset,
                _search_tables(cur, filters),
            )
            sealer = cur.sealer
        return self._summaries([row[0] for row in rows], sealer)

    def search(
        self, text: str, *, user_id: str | None, include_deleted: bool, limit: int
    ) -> builtins.list[SearchHit]:
        """The best `limit` sessions holding every word of `text` (see search.py;
        under a master key, token_search.py: whole words, newest first)."""
        with self._database.read() as cur:
            sessions, _ = SessionsProjection.live(cur)
            search, _ = SearchProjection.live(cur)
            found = (find_keyed if cur.sealer.active else find)(
                cur,
                sessions,
                search,
                text,
                user_id=user_id,
                include_deleted=include_deleted,
                limit=limit,
            )
            sealer = cur.sealer
        summaries = {
            summary.session_id: summary
            for summary in self._summaries([each.row for each in found], sealer)
        }
        return [
            SearchHit(
                session=summaries[each.row[0]],
                message_ids=each.message_ids,
                title_matched=each.title_matched,
                snippet=each.snippet,
            )
            for each in found
            if each.row[0] in summaries
        ]

    def messages(
        self,
        session_id: str,
        *,
        user_id: str | None,
        last_n: int | None,
        before: int | None,
        message_id: str | None = None,
    ) -> MessagePage:
        with self._database.read() as cur:
            rows = transcript_rows(
                cur,
                str(stream_id(session_id)),
                session_id,
                user_id=user_id,
                last_n=last_n,
                before=before,
                message_id=message_id,
            )
        return self.page(rows, session_id)

    def page(self, rows: TranscriptRows, session_id: str) -> MessagePage:
        """The messages `transcript_rows` read, decoded after its transaction
        ended (so no snapshot is held while JSON is parsed)."""
        last_n = rows.last_n
        more = last_n is not None and len(rows.rows) > last_n
        page = list(reversed(rows.rows[:last_n] if last_n is not None else rows.rows))
        texts = [rows.sealer.open_state(text, MESSAGE_FIELDS) for _, text in page]
        items = self._messages(texts, session_id)
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

    def _summaries(
        self, rows: Sequence[Any], sealer: ColumnSealer
    ) -> builtins.list[SessionSummary]:
        """Rows as summaries (sealed values opened), validated in one pass; if one
        no longer validates, row by row, and that row is skipped and counted."""
        if sealer.active:
            rows = [_opened(row, sealer) for row in rows]
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


class TranscriptRows(NamedTuple):
    """A transcript page's rows as one read found them, newest first (one more
    than `last_n` when there are more), and what opens their sealed values."""

    rows: builtins.list[tuple[Any, ...]]
    last_n: int | None
    sealer: ColumnSealer


def transcript_rows(
    cur: Cursor,
    stream: str,
    session_id: str,
    *,
    user_id: str | None,
    last_n: int | None,
    before: int | None,
    message_id: str | None = None,
) -> TranscriptRows:
    """The newest `last_n` messages (all: None) of the session in `stream`
    before position `before` (only the one of `message_id`, if given: found
    by index), read in `cur`'s transaction, so that a caller can read other
    read models in the same snapshot; SessionNotFound (naming `session_id`)
    unless the session is live and, given `user_id`, theirs."""
    tables, _ = SessionsProjection.live(cur)
    owner = cur.execute(
        f"SELECT user_id, deleted FROM {tables.table('sessions')} WHERE stream = ?",
        (stream,),
    ).fetchone()
    if owner is None or owner[1] or user_id not in (None, owner[0]):
        raise SessionNotFound(f"no session {session_id!r}")
    bound = "" if before is None else " AND position < ?"
    named = "" if message_id is None else " AND message_id = ?"
    rows = cur.execute(
        f"SELECT position, message FROM {tables.table('messages')} "
        f"WHERE stream = ?{bound}{named} "
        "ORDER BY position DESC LIMIT ?",
        (
            stream,
            *(() if before is None else (before,)),
            *(() if message_id is None else (message_id,)),
            NO_LIMIT if last_n is None else last_n + 1,
        ),
    ).fetchall()
    return TranscriptRows(rows, last_n, cur.sealer)


def _search_tables(cur: Cursor, filters: SessionFilter) -> SearchProjection | None:
    """The live search generation, when the filters need it."""
    return SearchProjection.live(cur)[0] if filters.searches else None


def _opened(row: Sequence[Any], sealer: ColumnSealer) -> tuple[Any, ...]:
    """An index row with its title and preview opened."""
    return (
        *row[:2],
        sealer.open_text(row[2]),
        *row[3:10],
        sealer.open_text(row[10]),
        *row[11:],
    )


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
        "forked_from": row[11],
        "forked_version": row[12],
    }


def _summary(row: Sequence[Any]) -> SessionSummary:
    return SessionSummary(**_fields(row))


_SUMMARIES = TypeAdapter(list[SessionSummary])
_MESSAGES = TypeAdapter(list[Message])
