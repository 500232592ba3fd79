"""The usage ledger folded a batch of events at a time.

What `UsageProjection.apply` does event by event, in a few statements per batch:
the batch's session rows and the totals it adds to are read 500 keys to a query,
records and rows written with executemany. Totals are summed in memory in log
order from what the table held, so each ends exactly (to the last bit of a float)
as the event-by-event additions leave it. An event of a kind this module does not
know is applied by its own handler once the batch so far is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..domain.session import Session
from ..infrastructure.sql import Cursor
from .batch_fold import BatchFold
from .columns import micros
from .projection import STREAMS_PER_STATEMENT

if TYPE_CHECKING:
    from .usage import UsageProjection

Owner = list[str | None]
"""A session's row: [stream, session id, user id, model]."""
Key = tuple[str, str]
"""A totals key: (scope, key)."""
FOLDED = frozenset({"_started", "_model", "_usage"})
"""The handlers of `UsageProjection.apply` (by name) this module does the work of."""


class UsageBatch(BatchFold):
    """The session rows, records and totals one batch changes, until `flush`."""

    ignored = frozenset({"apply"})  # the events `UsageProjection` has no handler for

    def __init__(self, projection: UsageProjection, cur: Cursor) -> None:
        super().__init__(projection, cur)
        self._projection = projection
        self._rows: dict[str, Owner | None] = {}
        self._changed: dict[str, Owner] = {}
        self._records: list[tuple[object, ...]] = []
        self._added: list[tuple[Key, str, float]] = []

    def _fold_one(self, position: int, event: Session.Event) -> None:
        handler = self.handled_by(event)
        stream = str(event.originator_id)
        if handler not in FOLDED:
            self.flush()
            self._projection.apply(event, self._cur, position)
            del self._rows[stream]
            self._load([stream])
        elif isinstance(event, Session.Started):
            if self._rows.get(stream) is None:
                row = [stream, event.session_id, event.user_id, event.model]
                self._rows[stream] = self._changed[stream] = row
        elif isinstance(event, Session.ModelChanged):
            changed = self._rows[stream]
            if changed is not None:
                changed[3] = event.model
                self._changed[stream] = changed
        elif isinstance(event, Session.TokenUsageRecorded):
            self._usage(position, event)

    def _usage(self, position: int, event: Session.TokenUsageRecorded) -> None:
        row = self._rows[str(event.originator_id)]
        if row is None:
            return
        stream, session_id, owner, session_model = row
        assert stream is not None and session_id is not None
        assert session_model is not None
        model = self._projection.record_model(event, session_model)
        self._records.append(
            (
                position,
                stream,
                session_id,
                model,
                micros(event.timestamp),
                self._projection.stored_record(self._cur.sealer, owner, event),
            )
        )
        for field, value in self._projection.counted(event):
            self._added.append((("session", session_id), field, value))
            self._added.append((("model", model), field, value))

    def _load(self, streams: Iterable[str]) -> None:
        """Read the session rows of `streams` not yet known, 500 to a query."""
        wanted = sorted({stream for stream in streams if stream not in self._rows})
        self._rows.update(dict.fromkeys(wanted))
        table = self._projection.table("usage_sessions")
        select = f"SELECT stream, session_id, user_id, model FROM {table} WHERE stream"
        for values in self.rows_of(select, wanted):
            self._rows[values[0]] = list(values)

    def _totals(self) -> dict[tuple[str, str, str], float]:
        """(scope, key, field) -> total summed in log order from what is stored."""
        table = self._projection.table("usage_totals")
        keys = sorted({key for key, _, _ in self._added})
        totals: dict[tuple[str, str, str], float] = {}
        for scope in ("session", "model"):
            names = [name for kind, name in keys if kind == scope]
            for start in range(0, len(names), STREAMS_PER_STATEMENT):
                chunk = names[start:][:STREAMS_PER_STATEMENT]
                for key, field, total in self._cur.execute(
                    f"SELECT key, field, total FROM {table} WHERE scope = ? "
                    f"AND key IN ({', '.join('?' * len(chunk))})",
                    [scope, *chunk],
                ).fetchall():
                    totals[scope, key, field] = total
        for (scope, key), field, value in self._added:
            at = (scope, key, field)
            totals[at] = totals[at] + value if at in totals else value
        return totals

    def flush(self) -> None:
        """Write the session rows, records and totals changed so far."""
        table = self._projection.table
        self._cur.executemany(
            f"INSERT INTO {table('usage_sessions')} (stream, session_id, user_id, "
            "model) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET model = excluded.model",
            list(self._changed.values()),
        )
        self._cur.executemany(
            f"INSERT INTO {table('usage_records')} (position, stream, session_id, "
            "model, recorded_at, record) VALUES (?, ?, ?, ?, ?, ?)",
            self._records,
        )
        self._cur.executemany(
            f"INSERT INTO {table('usage_totals')} (scope, key, field, total) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT (scope, key, field) DO UPDATE SET total = excluded.total",
            [(*at, total) for at, total in self._totals().items()],
        )
        self._changed, self._records, self._added = {}, [], []
