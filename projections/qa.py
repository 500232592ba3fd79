"""The Q&A read model: entries, graph context and trace steps per stream.

Rows are keyed by the Q&A stream, which is derived from (user, session), so one
user's or one session's rows can never answer for another's.
"""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import cast

from ..domain.event_model import EventModel
from ..domain.personal import ERASED, QA_ENTRY, TRACE_STEP, Spec
from ..domain.qa import QASession
from ..domain.qa_values import SessionQAEntry, SessionTraceStep
from ..infrastructure.event_store import SessionStore
from ..infrastructure.sql import NO_LIMIT, Cursor, ProjectionDatabase
from .projection import Projection, Table

ENTRY_FIELDS: Spec = {"": QA_ENTRY}
STEP_FIELDS: Spec = {"": TRACE_STEP}
"""A stored entry's and trace step's personal fields, as the log seals them."""


class QAProjection(Projection):
    """Folds QASession events; other streams' events are not its business."""

    name = "qa"
    version = 3
    """2: graph context stored as a JSON string, so NUL survives PostgreSQL;
    3: owners indexed by user, for erasure."""
    tables = (
        Table(
            "qa_entries",
            "stream TEXT NOT NULL, qa_id TEXT NOT NULL, seq BIGINT NOT NULL, "
            "entry TEXT NOT NULL, PRIMARY KEY (stream, qa_id)",
            indexes=("stream, seq",),
        ),
        Table("qa_context", "stream TEXT PRIMARY KEY, context TEXT NOT NULL"),
        Table(
            "qa_steps",
            "stream TEXT NOT NULL, position BIGINT NOT NULL, step TEXT NOT NULL, "
            "PRIMARY KEY (stream, position)",
        ),
        Table(
            "qa_streams",
            "stream TEXT PRIMARY KEY, user_id TEXT NOT NULL, session_id TEXT NOT NULL",
            indexes=("user_id",),
        ),
    )

    owners = "qa_streams"
    per_stream = ("qa_entries", "qa_context", "qa_steps", "qa_streams")

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Chat events do not change Q&A."""

    @apply.register
    def _started(
        self, event: QASession.QASessionStarted, cur: Cursor, position: int
    ) -> None:
        cur.execute(
            f"INSERT INTO {self.table('qa_streams')} (stream, user_id, session_id) "
            "VALUES (?, ?, ?) ON CONFLICT (stream) DO NOTHING",
            (str(event.originator_id), event.user_id, event.session_id),
        )

    @apply.register
    def _added(self, event: QASession.QAEntryAdded, cur: Cursor, position: int) -> None:
        cur.execute(
            f"INSERT INTO {self.table('qa_entries')} (stream, qa_id, seq, entry) "
            "VALUES (?, ?, ?, ?)",
            (
                str(event.originator_id),
                event.entry.id,
                position,
                cur.sealer.model(self._owner(cur, event), event.entry, ENTRY_FIELDS),
            ),
        )

    @apply.register
    def _updated(
        self, event: QASession.QAEntryUpdated, cur: Cursor, position: int
    ) -> None:
        stream = str(event.originator_id)
        row = cur.execute(
            f"SELECT entry FROM {self.table('qa_entries')} "
            "WHERE stream = ? AND qa_id = ?",
            (stream, event.qa_id),
        ).fetchone()
        if row is None:
            return
        stored = json.loads(cur.sealer.open_state(row[0], ENTRY_FIELDS))
        entry = SessionQAEntry.model_validate(
            {**stored, **event.changes.model_dump(mode="json")}
        )
        cur.execute(
            f"UPDATE {self.table('qa_entries')} SET entry = ? "
            "WHERE stream = ? AND qa_id = ?",
            (
                cur.sealer.model(self._owner(cur, event), entry, ENTRY_FIELDS),
                stream,
                event.qa_id,
            ),
        )

    @apply.register
    def _deleted(
        self, event: QASession.QAEntryDeleted, cur: Cursor, position: int
    ) -> None:
        cur.execute(
            f"DELETE FROM {self.table('qa_entries')} WHERE stream = ? AND qa_id = ?",
            (str(event.originator_id), event.qa_id),
        )

    @apply.register
    def _context(
        self, event: QASession.GraphContextSet, cur: Cursor, position: int
    ) -> None:
        cur.execute(
            f"INSERT INTO {self.table('qa_context')} (stream, context) VALUES (?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET context = excluded.context",
            (
                str(event.originator_id),
                cur.sealer.json(self._owner(cur, event), event.context),
            ),
        )

    @apply.register
    def _step(
        self, event: QASession.TraceStepRecorded, cur: Cursor, position: int
    ) -> None:
        cur.execute(
            f"INSERT INTO {self.table('qa_steps')} (stream, position, step) "
            "VALUES (?, ?, ?)",
            (
                str(event.originator_id),
                position,
                cur.sealer.model(self._owner(cur, event), event.step, STEP_FIELDS),
            ),
        )

    @apply.register
    def _cleared(
        self, event: QASession.QASessionCleared, cur: Cursor, position: int
    ) -> None:
        for table in ("qa_entries", "qa_context", "qa_steps"):
            cur.execute(
                f"DELETE FROM {self.table(table)} WHERE stream = ?",
                (str(event.originator_id),),
            )

    def _owner(self, cur: Cursor, event: QASession.Event) -> str | None:
        """Whose key seals this stream's values (None without a master key)."""
        return cur.sealer.owner(cur, self.table("qa_streams"), str(event.originator_id))


class QAReads:
    """O(result) reads of the Q&A read model."""

    def __init__(self, database: ProjectionDatabase, store: SessionStore) -> None:
        """`store` is the log, for what the read model has not reached yet."""
        self._database = database
        self._store = store

    def entries(
        self, user_id: str, session_id: str, last_n: int | None
    ) -> list[SessionQAEntry]:
        """The trailing `last_n` entries (all when None), oldest first."""
        rows = self._trailing(
            "qa_entries", "entry", "seq", user_id, session_id, last_n, ENTRY_FIELDS
        )
        return [SessionQAEntry.model_validate_json(row) for row in rows]

    def graph_context(self, user_id: str, session_id: str) -> str | None:
        """The stream's graph context, stored JSON-encoded: PostgreSQL text cannot
        hold the NUL character a context may contain."""
        stream = str(self._store.ids.qa_stream(user_id, session_id))
        with self._database.read() as cur:
            tables, _ = QAProjection.live(cur)
            row = cur.execute(
                f"SELECT context FROM {tables.table('qa_context')} WHERE stream = ?",
                (stream,),
            ).fetchone()
            sealer = cur.sealer
        if row is None:
            return None
        context = sealer.open_json(row[0])
        return ERASED if context is None else str(context)

    def steps(
        self, user_id: str, session_id: str, last_n: int | None
    ) -> list[SessionTraceStep]:
        """The trailing `last_n` trace steps (all when None), oldest first."""
        rows = self._trailing(
            "qa_steps", "step", "position", user_id, session_id, last_n, STEP_FIELDS
        )
        return [SessionTraceStep.model_validate_json(row) for row in rows]

    def _trailing(
        self,
        table: str,
        column: str,
        order: str,
        user_id: str,
        session_id: str,
        last_n: int | None,
        spec: Spec,
    ) -> list[str]:
        """The last `last_n` values of a stream's column in `order`, oldest first,
        their fields `spec` names opened."""
        stream = str(self._store.ids.qa_stream(user_id, session_id))
        with self._database.read() as cur:
            tables, _ = QAProjection.live(cur)
            rows = cur.execute(
                f"SELECT {column} FROM {tables.table(table)} WHERE stream = ? "
                f"ORDER BY {order} DESC LIMIT ?",
                (stream, NO_LIMIT if last_n is None else last_n),
            ).fetchall()
            sealer = cur.sealer
        return [sealer.open_state(str(row[0]), spec) for row in reversed(rows)]

    def streams(self) -> list[tuple[str, str]]:
        """Every (user, session) with a Q&A stream in the log at the time of the
        call, sorted: the read model's, and those started after the position it has
        reached (a worker may lag behind), read from the log itself. Costs
        O(Q&A streams + log events after that position): none in inline mode."""
        with self._database.read() as cur:
            tables, _ = QAProjection.live(cur)
            position = QAProjection.live_log(cur)
            rows = cur.execute(
                f"SELECT user_id, session_id FROM {tables.table('qa_streams')}"
            ).fetchall()
        found = {(str(row[0]), str(row[1])) for row in rows}
        for event in self._store.every_event(
            after=position, types=[QASession.QASessionStarted]
        ):
            started = cast(QASession.QASessionStarted, event)
            found.add((started.user_id, started.session_id))
        return sorted(found)
