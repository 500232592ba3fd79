"""The session index and transcript folded a batch of events at a time.

What `SessionsProjection.apply` does event by event, with far fewer statements:
the batch's index rows are read in one query per 500 streams, changed in memory,
and written back with one executemany each for messages, moves and rows. Event by
event that is three or four round trips per event, which is what bounds a rebuild
(on PostgreSQL above all). A truncation (rare; it reads what is left of the
transcript) is applied by its own handler once the batch so far is written, and so
is each pruning of old moves: both then see exactly what they would have seen.

Under a master key, titles and previews are sealed when written, not when
folded: a row's title and preview are sealed once per write whatever the number
of edits and messages that changed them in the batch (event by event, each
message would be sealed twice, as message and as preview).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..domain.session import Session
from ..domain.values import preview
from ..infrastructure.sql import Cursor
from .batch_fold import BatchFold
from .columns import micros

if TYPE_CHECKING:
    from .sessions import SessionsProjection

COLUMNS = (
    "stream",
    "session_id",
    "user_id",
    "title",
    "pinned",
    "model",
    "message_count",
    "next_position",
    "preview",
    "created_at",
    "updated_at",
    "deleted",
    "version",
    "started_position",
    "position",
    "forked_from",
    "forked_version",
)
"""The index row's columns, in the order they are read and written."""

STAMP = ("updated_at", "version", "position")
"""The columns every change of a row sets."""
_values = operator.itemgetter(*COLUMNS)
"""A row's values in the order of COLUMNS."""
Row = dict[str, Any]
Changes = Callable[["SessionBatch", Row, Session.Event], Row]


class SessionBatch(BatchFold):
    """The index rows, messages and moves one batch changes, until `flush`."""

    def __init__(self, projection: SessionsProjection, cur: Cursor) -> None:
        super().__init__(projection, cur)
        self._projection = projection
        self._rows: dict[str, Row | None] = {}
        """stream -> its index row as the batch has made it (None: no row)."""
        self._changed: dict[str, Row] = {}
        self._assigned: dict[str, set[str] | None] = {}
        """stream -> the columns the batch changed in its stored row (None: a new
        row). Only those are written: SQLite rewrites the entries of every index
        holding a column a statement assigns, even to the value it had."""
        self._unsealed: dict[str, dict[str, str]] = {}
        """stream -> the title and preview its row is to have, sealed at `flush`."""
        self._messages: list[tuple[str, int, str, str]] = []
        self._moves: list[tuple[str, int, int, int, int, int, int]] = []

    def _fold_one(self, position: int, event: Session.Event) -> None:
        handler = self.handled_by(event)
        if handler == "_started":
            self._start(position, event)
            return
        if handler not in CHANGED_BY:  # a truncation, or a handler added later
            self.flush()
            self._projection.apply(event, self._cur, position)
            stream = str(event.originator_id)
            del self._rows[stream]
            self._load([stream])
            return
        row = self._rows[str(event.originator_id)]
        if row is not None:
            self._touch(row, position, event, CHANGED_BY[handler](self, row, event))
        if self._projection.prunes(position):
            self.flush()
            self._projection.prune(self._cur, event, position)

    def _start(self, position: int, event: Session.Event) -> None:
        """A new row, unless the stream has one (as ON CONFLICT DO NOTHING)."""
        assert isinstance(event, Session.Started)
        stream = str(event.originator_id)
        if self._rows.get(stream) is not None:
            return
        at = micros(event.timestamp)
        row = {
            "stream": stream,
            "session_id": event.session_id,
            "user_id": event.user_id,
            "title": "",
            "pinned": 0,
            "model": event.model,
            "message_count": 0,
            "next_position": 1,
            "preview": "",
            "created_at": at,
            "updated_at": at,
            "deleted": 0,
            "version": event.originator_version,
            "started_position": position,
            "position": position,
            "forked_from": None,
            "forked_version": None,
        }
        if isinstance(event, Session.Forked):
            row.update(forked_from=event.source_id, forked_version=event.source_version)
        self._rows[stream] = self._changed[stream] = row
        self._assigned[stream] = None
        self._unsealed[stream] = {"title": event.title}

    def _touch(
        self, row: Row, position: int, event: Session.Event, changes: Row
    ) -> None:
        """Keep the row's old sort key as a move, stamp it, apply the change."""
        at = micros(event.timestamp)
        self._moves.append(
            (
                row["stream"],
                position,
                row["position"],
                row["updated_at"],
                row["pinned"],
                row["deleted"],
                at,
            )
        )
        row.update(changes)
        row.update(updated_at=at, version=event.originator_version, position=position)
        stream = row["stream"]
        self._changed[stream] = row
        assigned = self._assigned.setdefault(stream, set())
        if assigned is not None:
            assigned.update(changes, STAMP)

    def appended(self, row: Row, event: Session.Event) -> Row:
        assert isinstance(event, Session.MessageAppended)
        sealer = self._cur.sealer
        owner = row["user_id"] if sealer.active else None
        message = event.message
        self._messages.append(
            (
                row["stream"],
                row["next_position"],
                message.id,
                self._projection.stored_message(sealer, owner, message),
            )
        )
        self._unsealed.setdefault(row["stream"], {})["preview"] = preview(message)
        return {
            "message_count": row["message_count"] + 1,
            "next_position": row["next_position"] + 1,
        }

    def titled(self, row: Row, event: Session.Event) -> Row:
        assert isinstance(event, Session.TitleEdited)
        self._unsealed.setdefault(row["stream"], {})["title"] = event.title
        return {}

    def _load(self, streams: Iterable[str]) -> None:
        """Read the index rows of `streams` not yet known, 500 to a query."""
        wanted = sorted({stream for stream in streams if stream not in self._rows})
        self._rows.update(dict.fromkeys(wanted))
        table = self._projection.table("sessions")
        select = f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE stream"
        for values in self.rows_of(select, wanted):
            self._rows[values[0]] = dict(zip(COLUMNS, values, strict=True))

    def flush(self) -> None:
        """Write the messages, moves and rows changed so far."""
        self._seal_titles_and_previews()
        table = self._projection.table
        self._cur.executemany(
            f"INSERT INTO {table('messages')} (stream, position, message_id, message) "
            "VALUES (?, ?, ?, ?)",
            self._messages,
        )
        self._cur.executemany(
            f"INSERT INTO {table('session_moves')} "
            "(stream, position, previous, updated_at, pinned, deleted, moved_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            self._moves,
        )
        updates = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[1:])
        self._cur.executemany(
            f"INSERT INTO {table('sessions')} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))}) "
            f"ON CONFLICT (stream) DO UPDATE SET {updates}",
            [
                _values(row)
                for stream, row in self._changed.items()
                if self._assigned[stream] is None
            ],
        )
        for columns, values in self._updates().items():
            self._cur.executemany(
                f"UPDATE {table('sessions')} SET "
                f"{', '.join(f'{column} = ?' for column in columns)} WHERE stream = ?",
                values,
            )
        self._messages, self._moves, self._changed, self._assigned = [], [], {}, {}

    def _updates(self) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
        """The stored rows changed, grouped by the columns changed: per group,
        each row's new values of those columns, then its stream."""
        grouped: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for stream, row in self._changed.items():
            assigned = self._assigned[stream]
            if assigned is not None:
                columns = tuple(column for column in COLUMNS if column in assigned)
                values = (*(row[column] for column in columns), stream)
                grouped.setdefault(columns, []).append(values)
        return grouped

    def _seal_titles_and_previews(self) -> None:
        """Give the changed rows their last title and preview, as stored."""
        sealer = self._cur.sealer
        for stream, values in self._unsealed.items():
            row = self._changed[stream]
            owner = row["user_id"] if sealer.active else None
            row.update(
                {name: sealer.text(owner, text) for name, text in values.items()}
            )
            assigned = self._assigned[stream]
            if assigned is not None:
                assigned.update(values)
        self._unsealed = {}


def _stamped(batch: SessionBatch, row: Row, event: Session.Event) -> Row:
    return {}


def _pinned(batch: SessionBatch, row: Row, event: Session.Event) -> Row:
    assert isinstance(event, Session.PinChanged)
    return {"pinned": int(event.pinned)}


def _model(batch: SessionBatch, row: Row, event: Session.Event) -> Row:
    assert isinstance(event, Session.ModelChanged)
    return {"model": event.model}


def _deleted(batch: SessionBatch, row: Row, event: Session.Event) -> Row:
    return {"deleted": 1}


def _restored(batch: SessionBatch, row: Row, event: Session.Event) -> Row:
    return {"deleted": 0}


CHANGED_BY: dict[str, Changes] = {
    "apply": _stamped,  # any other session event
    "_appended": SessionBatch.appended,
    "_titled": SessionBatch.titled,
    "_pinned": _pinned,
    "_model": _model,
    "_deleted": _deleted,
    "_restored": _restored,
}
"""Per handler of `SessionsProjection.apply` (by name), the columns it changes
besides the stamp; one not named here is applied by the handler itself."""
