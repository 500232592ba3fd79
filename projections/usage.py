"""The token-usage ledger: every usage record, and running totals per session and model.

Totals add up every numeric field a record holds, whatever the provider calls it
(`prompt_tokens`, `input_tokens`, `cost`, nested ones as `a.b`), so a new
provider's fields are counted without a schema change. A record's model is its
own `model` field, else the model the event names, else the session's model then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import singledispatchmethod
from typing import Any

from pydantic import JsonValue

from ..domain.errors import SessionNotFound
from ..domain.event_model import EventModel
from ..domain.personal import USAGE, Spec
from ..domain.purge import Purge
from ..domain.session import Session, stream_id
from ..domain.validation import SessionId, UserId, validated
from ..domain.values import Value, one_line
from ..infrastructure.sealed_columns import ColumnSealer
from ..infrastructure.session_ids import StoredIds
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .columns import micros, moment
from .projection import STREAMS_PER_STATEMENT, Projection, Table
from .usage_batch import UsageBatch

RECORD_FIELDS: Spec = {"": USAGE}
"""A stored record's personal entries, as the log seals them."""


class UsageRecord(Value):
    """One token-usage record as it was written, with when and for which model."""

    session_id: str
    recorded_at: datetime
    model: str
    record: dict[str, JsonValue]


def numeric_fields(
    record: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, float]]:
    """Every number in a record (booleans are not numbers), nested names dotted;
    a name with control characters is kept JSON-escaped."""
    for key, value in record.items():
        name = prefix + (key if one_line(key) == key else json.dumps(key)[1:-1])
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            yield name, float(value)
        elif isinstance(value, dict):
            yield from numeric_fields(value, f"{name}.")


class UsageProjection(Projection):
    """Folds TokenUsageRecorded into records and totals; tracks session models."""

    name = "usage"
    version = 2  # 2: owners indexed by user, for erasure
    tables = (
        Table(
            "usage_records",
            "position BIGINT PRIMARY KEY, stream TEXT NOT NULL, "
            "session_id TEXT NOT NULL, model TEXT NOT NULL, "
            "recorded_at BIGINT NOT NULL, record TEXT NOT NULL",
            indexes=("stream, position",),
        ),
        Table(
            "usage_sessions",
            "stream TEXT PRIMARY KEY, session_id TEXT NOT NULL, user_id TEXT, "
            "model TEXT NOT NULL",
            indexes=("user_id",),
        ),
        Table(
            "usage_totals",
            "scope TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, "
            "total DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key, field)",
        ),
    )

    owners = "usage_sessions"
    per_stream = ("usage_records", "usage_sessions")

    def forget(self, cur: Cursor, user_id: str, streams: Sequence[str]) -> None:
        """The streams' records and session totals; their numbers taken off the
        model totals (the replay adds back what the erased records keep)."""
        records, totals = self.table("usage_records"), self.table("usage_totals")
        taken: dict[tuple[str, str], float] = {}
        sessions: set[str] = set()
        for start in range(0, len(streams), STREAMS_PER_STATEMENT):
            chunk = streams[start:][:STREAMS_PER_STATEMENT]
            for session_id, model, text in cur.execute(
                f"SELECT session_id, model, record FROM {records} "
                f"WHERE stream IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall():
                sessions.add(session_id)
                record = json.loads(cur.sealer.open_state(text, RECORD_FIELDS))
                for field, value in [("records", 1.0), *numeric_fields(record)]:
                    taken[model, field] = taken.get((model, field), 0.0) + value
        cur.executemany(
            f"UPDATE {totals} SET total = total - ? "
            "WHERE scope = 'model' AND key = ? AND field = ?",
            [(value, model, field) for (model, field), value in taken.items()],
        )
        cur.executemany(  # a name only the erased records had goes with them
            f"DELETE FROM {totals} "
            "WHERE scope = 'model' AND key = ? AND field = ? AND total = 0",
            list(taken),
        )
        cur.executemany(
            f"DELETE FROM {totals} WHERE scope = 'session' AND key = ?",
            [(session_id,) for session_id in sorted(sessions)],
        )
        super().forget(cur, user_id, streams)

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Other events do not change usage."""

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        cur.execute(
            f"INSERT INTO {self.table('usage_sessions')} "
            "(stream, session_id, user_id, model) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (stream) DO NOTHING",
            (str(event.originator_id), event.session_id, event.user_id, event.model),
        )

    @apply.register
    def _model(self, event: Session.ModelChanged, cur: Cursor, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table('usage_sessions')} SET model = ? WHERE stream = ?",
            (event.model, str(event.originator_id)),
        )

    @apply.register
    def _usage(
        self, event: Session.TokenUsageRecorded, cur: Cursor, position: int
    ) -> None:
        row = cur.execute(
            f"SELECT session_id, model, user_id FROM {self.table('usage_sessions')} "
            "WHERE stream = ?",
            (str(event.originator_id),),
        ).fetchone()
        if row is None:
            return
        session_id, session_model, owner = row
        model = self.record_model(event, session_model)
        cur.execute(
            f"INSERT INTO {self.table('usage_records')} (position, stream, "
            "session_id, model, recorded_at, record) VALUES (?, ?, ?, ?, ?, ?)",
            (
                position,
                str(event.originator_id),
                session_id,
                model,
                micros(event.timestamp),
                self.stored_record(cur.sealer, owner, event),
            ),
        )
        totals = [
            (scope, key, field, value)
            for field, value in self.counted(event)
            for scope, key in (("session", session_id), ("model", model))
        ]
        cur.executemany(
            f"INSERT INTO {self.table('usage_totals')} AS t (scope, key, field, total) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT (scope, key, field) "
            "DO UPDATE SET total = t.total + excluded.total",
            totals,
        )

    def apply_batch(
        self, cur: Cursor, events: Sequence[tuple[int, EventModel]]
    ) -> None:
        """What `apply` does event by event, with the batch's rows and totals read
        once and written with executemany (`UsageBatch`)."""
        if self.handled_as(UsageProjection):
            UsageBatch(self, cur).fold(events)
        else:
            super().apply_batch(cur, events)

    @staticmethod
    def record_model(event: Session.TokenUsageRecorded, session_model: str) -> str:
        """A record's model: its own `model` field, else the event's, else the
        session's."""
        own = event.record.get("model")
        return own if isinstance(own, str) and own else event.model or session_model

    @staticmethod
    def stored_record(
        sealer: ColumnSealer, owner: str | None, event: Session.TokenUsageRecorded
    ) -> str:
        """A record as its row holds it (sealed under a master key)."""
        if not sealer.active:
            return json.dumps(event.record)
        return sealer.state(owner, dict(event.record), RECORD_FIELDS)

    @staticmethod
    def counted(event: Session.TokenUsageRecorded) -> list[tuple[str, float]]:
        """What a record adds to its totals: one record, and each number in it."""
        return [("records", 1.0), *numeric_fields(event.record)]

    @apply.register
    def _purged(self, event: Purge.SessionPurged, cur: Cursor, position: int) -> None:
        """A purge took its records' numbers off the model totals (`forget`);
        its record gives them back, so totals by model survive purges, and a
        rebuild (which never sees the purged records) adds them the same way."""
        cur.executemany(
            f"INSERT INTO {self.table('usage_totals')} AS t (scope, key, field, total) "
            "VALUES ('model', ?, ?, ?) "
            "ON CONFLICT (scope, key, field) "
            "DO UPDATE SET total = t.total + excluded.total",
            [
                (model, field, value)
                for model, fields in sorted(event.usage.items())
                for field, value in sorted(fields.items())
            ],
        )


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() else value


class UsageLedger:
    """Reads of the usage ledger: a session's records, totals by session and model."""

    def __init__(self, database: ProjectionDatabase, ids: StoredIds) -> None:
        """`ids` finds the stored spelling of a session id in the log."""
        self._database = database
        self._ids = ids

    @validated
    def records(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> list[UsageRecord]:
        """Every usage record of the session, oldest first."""
        stream = str(self._ids.stream(session_id))
        with self._database.read() as cur:
            tables = _check_owner(cur, stream, session_id, user_id)
            rows = cur.execute(
                f"SELECT session_id, recorded_at, model, record "
                f"FROM {tables.table('usage_records')} WHERE stream = ? "
                "ORDER BY position",
                (stream,),
            ).fetchall()
            sealer = cur.sealer
        return [
            UsageRecord(
                session_id=row[0],
                recorded_at=moment(row[1]),
                model=row[2],
                record=json.loads(sealer.open_state(row[3], RECORD_FIELDS)),
            )
            for row in rows
        ]

    @validated
    def session_totals(
        self, session_id: SessionId, *, user_id: UserId | None = None
    ) -> dict[str, float | int]:
        """Field -> sum over the session's records (`records` counts them)."""
        session_id = self._ids.session(session_id)
        with self._database.read() as cur:
            tables = _check_owner(cur, str(stream_id(session_id)), session_id, user_id)
            rows = cur.execute(
                f"SELECT field, total FROM {tables.table('usage_totals')} "
                "WHERE scope = 'session' AND key = ? ORDER BY field",
                (session_id,),
            ).fetchall()
        return {field: _number(total) for field, total in rows}

    @validated
    def model_totals(
        self, *, user_id: UserId | None = None
    ) -> dict[str, dict[str, float | int]]:
        """Model -> field -> sum over every record of every session (of `user_id`'s
        sessions only, summed from their records, when a user is named)."""
        with self._database.read() as cur:
            tables, _ = UsageProjection.live(cur)
            if user_id is None:
                rows = cur.execute(
                    f"SELECT key, field, total FROM {tables.table('usage_totals')} "
                    "WHERE scope = 'model' ORDER BY key, field"
                ).fetchall()
            else:
                records = cur.execute(
                    f"SELECT r.model, r.record FROM {tables.table('usage_records')} r "
                    f"JOIN {tables.table('usage_sessions')} s ON s.stream = r.stream "
                    "WHERE s.user_id = ?",
                    (user_id,),
                ).fetchall()
                opened = [
                    (model, cur.sealer.open_state(text, RECORD_FIELDS))
                    for model, text in records
                ]
                rows = sorted(_summed(opened))
        totals: dict[str, dict[str, float | int]] = {}
        for model, field, total in rows:
            totals.setdefault(model, {})[field] = _number(total)
        return totals


def _summed(records: list[tuple[str, str]]) -> Iterator[tuple[str, str, float]]:
    """(model, field, total) over records, as the totals table would hold them."""
    sums: dict[tuple[str, str], float] = {}
    for model, text in records:
        for field, value in [("records", 1.0), *numeric_fields(json.loads(text))]:
            sums[model, field] = sums.get((model, field), 0.0) + value
    for (model, field), total in sums.items():
        yield model, field, total


def _check_owner(
    cur: Cursor, stream: str, session_id: str, user_id: str | None
) -> UsageProjection:
    """The live tables, once the session is known to be visible to `user_id`."""
    tables, _ = UsageProjection.live(cur)
    row = cur.execute(
        f"SELECT user_id FROM {tables.table('usage_sessions')} WHERE stream = ?",
        (stream,),
    ).fetchone()
    if row is None or user_id not in (None, row[0]):
        raise SessionNotFound(f"no session {session_id!r}")
    return tables
