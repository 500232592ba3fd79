"""The audit timeline across sessions: who did what, when, in log order.

`history(id)` replays one stream; this read model answers the questions that
cross streams — everything an actor did, everything in a time range — by index.
An erasure is in the timeline too (no session; the erased user's id, the actor
who asked), and stays there when the user's own entries are erased.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field

from ..domain.erasure import Erasure
from ..domain.event_model import EventModel
from ..domain.purge import Purge
from ..domain.qa import QASession
from ..domain.session import Session
from ..domain.summaries import message_summary, summarize
from ..domain.validation import Actor, Count, SessionId, UserId, validated
from ..domain.values import Value
from ..infrastructure.session_ids import StoredIds
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .columns import micros, moment
from .projection import STREAMS_PER_STATEMENT, Projection, Table

MAX_AUDIT_PAGE = 1000


STARTS = (Session.Started, QASession.QASessionStarted, Purge.SessionPurged)
"""The events that register whose a stream is (a purge's record is shown in its
session's timeline)."""


class AuditEntry(Value):
    """One event in the cross-session timeline; `position` orders the log."""

    position: int
    session_id: str
    user_id: str | None
    version: int
    timestamp: datetime
    actor: str
    event: str
    summary: str


class AuditPage(Value):
    """Entries oldest first; pass `next_after` as `after` for the next page."""

    items: list[AuditEntry]
    next_after: int | None


class AuditProjection(Projection):
    """One row per event, indexed by session, actor, user (an entry of no user
    in no index of users) and time."""

    name = "audit"
    version = 5  # 2: owners indexed by user, for erasure; 3: erasures shown;
    # 4: keyed by the position as the rowid (SQLite); 5: entries of no user in
    # no index of users
    tables = (
        Table(
            "audit",
            "position {position_key}, session_id TEXT NOT NULL, user_id TEXT, "
            "version INTEGER NOT NULL, at BIGINT NOT NULL, actor TEXT NOT NULL, "
            "event TEXT NOT NULL, summary TEXT NOT NULL",
            indexes=(
                "session_id, position",
                "actor, position",
                "user_id, position WHERE user_id IS NOT NULL",
                "at, position",
            ),
        ),
        Table(
            "audit_sessions",
            "stream TEXT PRIMARY KEY, session_id TEXT NOT NULL, user_id TEXT",
            indexes=("user_id",),
        ),
    )

    owners = "audit_sessions"
    per_stream = ("audit_sessions",)

    def forget(self, cur: Cursor, user_id: str, streams: Sequence[str]) -> None:
        """The user's entries (each names its stream's owner) but the records of
        their erasures, then their streams."""
        cur.execute(
            f"DELETE FROM {self.table('audit')} "
            "WHERE user_id = ? AND event <> 'UserErased'",
            (user_id,),
        )
        super().forget(cur, user_id, streams)

    def forget_streams(self, cur: Cursor, streams: Sequence[str]) -> None:
        """The entries of each stream's owner and session (a session's and its
        Q&A stream's are the only streams of that pair) but earlier purges' own,
        then the streams."""
        owners = self._owners(cur, set(streams))
        cur.executemany(
            f"DELETE FROM {self.table('audit')} WHERE session_id = ? "
            "AND COALESCE(user_id, '') = ? AND event <> 'SessionPurged'",
            sorted({(session, user or "") for session, user in owners.values()}),
        )
        Projection.forget(self, cur, "", streams)

    def apply_batch(
        self, cur: Cursor, events: Sequence[tuple[int, EventModel]]
    ) -> None:
        """The batch's stream owners read in one query per 500 streams, its rows
        written with two executemany: what `apply` does event by event."""
        owners = self._owners(cur, {str(event.originator_id) for _, event in events})
        registered, rows = [], []
        for position, event in events:
            stream = str(event.originator_id)
            if isinstance(event, STARTS) and stream not in owners:
                owners[stream] = (event.session_id, event.user_id)
                registered.append((stream, event.session_id, event.user_id))
            owner = owners.get(stream)
            if isinstance(event, Erasure.UserErased):  # no session; never replayed
                rows.append(self._row(cur, event, position, "", event.user_id))
            elif owner is not None:
                rows.append(self._row(cur, event, position, *owner))
        cur.executemany(
            f"INSERT INTO {self.table('audit_sessions')} (stream, session_id, user_id) "
            "VALUES (?, ?, ?) ON CONFLICT (stream) DO NOTHING",
            registered,
        )
        cur.executemany(
            f"INSERT INTO {self.table('audit')} (position, session_id, user_id, "
            "version, at, actor, event, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _owners(
        self, cur: Cursor, streams: set[str]
    ) -> dict[str, tuple[str, str | None]]:
        """stream -> (session id, user id) of the registered ones among `streams`."""
        ordered = sorted(streams)
        owners: dict[str, tuple[str, str | None]] = {}
        for start in range(0, len(ordered), STREAMS_PER_STATEMENT):
            chunk = ordered[start:][:STREAMS_PER_STATEMENT]
            for stream, session_id, user_id in cur.execute(
                f"SELECT stream, session_id, user_id FROM "
                f"{self.table('audit_sessions')} "
                f"WHERE stream IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall():
                owners[stream] = (session_id, user_id)
        return owners

    def _row(
        self,
        cur: Cursor,
        event: EventModel,
        position: int,
        session_id: str,
        user_id: str | None,
    ) -> tuple[object, ...]:
        """One entry's columns, its summary sealed under its owner's key (an
        erasure's, which holds no content, under none: that key is gone)."""
        name = type(event).__name__
        if isinstance(event, Session.MessageAppended):  # most events: no dump
            summary = message_summary(event.message.role, event.message.content)
        else:
            summary = summarize(name, event.json_payload())
        sealed_by = None if isinstance(event, Erasure.UserErased) else user_id
        return (
            position,
            session_id,
            user_id,
            event.originator_version,
            micros(event.timestamp),
            event.actor,
            name,
            cur.sealer.text(sealed_by, summary),
        )

    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """One event: a batch of one."""
        self.apply_batch(cur, [(position, event)])


class AuditTimeline:
    """Queries of the audit read model, paged by log position."""

    def __init__(self, database: ProjectionDatabase, ids: StoredIds) -> None:
        """`ids` finds the stored spelling of a session id in the log."""
        self._database = database
        self._ids = ids

    @validated
    def entries(
        self,
        *,
        session_id: SessionId | None = None,
        user_id: UserId | None = None,
        actor: Actor | None = None,
        since: AwareDatetime | None = None,
        until: AwareDatetime | None = None,
        after: Count | None = None,
        limit: Annotated[int, Field(ge=1, le=MAX_AUDIT_PAGE)] = 100,
    ) -> AuditPage:
        """Events oldest first, filtered by session, user, actor and [since, until)."""
        clauses: list[str] = []
        params: list[Any] = []
        if session_id is not None:
            session_id = self._ids.session(session_id)
        for column, value in (
            ("session_id", session_id),
            ("user_id", user_id),
            ("actor", actor),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("at >= ?")
            params.append(micros(since))
        if until is not None:
            clauses.append("at < ?")
            params.append(micros(until))
        if after is not None:
            clauses.append("position > ?")
            params.append(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._database.read() as cur:
            tables, _ = AuditProjection.live(cur)
            rows = cur.execute(
                "SELECT position, session_id, user_id, version, at, actor, event, "
                f"summary FROM {tables.table('audit')}{where} "
                "ORDER BY position LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
            sealer = cur.sealer
        items = [
            AuditEntry(
                position=row[0],
                session_id=row[1],
                user_id=row[2],
                version=row[3],
                timestamp=moment(row[4]),
                actor=row[5],
                event=row[6],
                summary=sealer.open_text(row[7]),
            )
            for row in rows[:limit]
        ]
        more = len(rows) > limit
        return AuditPage(items=items, next_after=items[-1].position if more else None)
