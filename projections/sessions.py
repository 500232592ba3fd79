"""The session index and the transcript pages: one projection, three tables.

- `sessions`: one row per session, what lists show, sorted by keyset indexes
  (a session of no user is in none of those of users' lists: an append to it
  writes two B-trees fewer); a fork's row names its source session and version.
- `messages`: the transcript by (stream, position); positions count appends and
  are never reused, so a page is an index range, not a replay.
- `session_moves`: each row's sort key before each change, so a cursor can page
  through the list as it was when its walk began (see `session_list`). Kept for
  `MOVES_KEPT` after the change, long enough for any live cursor. Keyed by the
  log position of the change (one event changes one row at most); pruned from
  the oldest, in that order, so no index of their time is written per change.
  Each names the position of its row's change before it (`previous`: the row's
  own `position` then), so a walk finds a row's first move after it began, and
  a purge or an erasure a row's moves, by their key alone: no index of their
  streams is written per change either.

Index and transcript are one projection because the index's message count and
preview depend on which messages a truncation really removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import singledispatchmethod
from typing import Any

from ..domain.event_model import EventModel
from ..domain.personal import MESSAGE
from ..domain.session import Session
from ..domain.values import Message, preview
from ..infrastructure.sealed_columns import ColumnSealer
from ..infrastructure.sql import Cursor
from .columns import MICROSECOND, micros
from .projection import STREAMS_PER_STATEMENT, Projection, Table
from .session_batch import SessionBatch

MOVES_KEPT = timedelta(hours=2)
PRUNE_EVERY = 256  # notifications; pruning depends on the log only, not the clock
_DELETE_CHUNK = 500
MESSAGE_FIELDS = {"": MESSAGE}
"""A stored message's personal fields, as the log seals them."""


class SessionsProjection(Projection):
    """Folds every session event into its index row; messages into the transcript."""

    name = "sessions"
    version = 6  # 2: an index for the model filter; 3: where a fork came from;
    # 4: moves keyed by their position (on SQLite the rowid); 5: no index of
    # the moves' time; 6: no index of the moves' streams (each names the move
    # before it), and a session of no user in no index of users' lists
    tables = (
        Table(
            "sessions",
            "stream TEXT PRIMARY KEY, session_id {key} NOT NULL UNIQUE, "
            "user_id TEXT, title TEXT NOT NULL, pinned SMALLINT NOT NULL, "
            "model TEXT NOT NULL, message_count INTEGER NOT NULL, "
            "next_position INTEGER NOT NULL, preview TEXT NOT NULL, "
            "created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
            "deleted SMALLINT NOT NULL, version INTEGER NOT NULL, "
            "started_position BIGINT NOT NULL, position BIGINT NOT NULL, "
            "forked_from TEXT, forked_version INTEGER",
            indexes=(
                "deleted, updated_at, session_id",
                "user_id, deleted, updated_at, session_id WHERE user_id IS NOT NULL",
                "deleted, pinned, updated_at, session_id",
                "user_id, deleted, pinned, updated_at, session_id "
                "WHERE user_id IS NOT NULL",
                "deleted, model, updated_at, session_id",
            ),
        ),
        Table(
            "session_moves",
            "position {position_key}, stream TEXT NOT NULL, "
            "previous BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
            "pinned SMALLINT NOT NULL, deleted SMALLINT NOT NULL, "
            "moved_at BIGINT NOT NULL",
        ),
        Table(
            "messages",
            "stream TEXT NOT NULL, position INTEGER NOT NULL, "
            "message_id TEXT NOT NULL, message TEXT NOT NULL, "
            "PRIMARY KEY (stream, position)",
            indexes=("stream, message_id",),
        ),
    )

    owners = "sessions"
    per_stream = ("messages", "sessions")  # and the moves, by `forget`

    def apply_batch(
        self, cur: Cursor, events: Sequence[tuple[int, EventModel]]
    ) -> None:
        """What `apply` does event by event, with the batch's rows read once and
        written with executemany (`SessionBatch`); one event alone goes to its
        handler (see `folds_batch`)."""
        if self.folds_batch(events, SessionsProjection):
            SessionBatch(self, cur).fold(events)
        else:
            super().apply_batch(cur, events)

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        if isinstance(event, Session.Event):  # other streams are not sessions
            self._touch(event, cur, position)

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        at = micros(event.timestamp)
        cur.execute(
            f"INSERT INTO {self.table('sessions')} (stream, session_id, user_id, "
            "title, pinned, model, message_count, next_position, preview, "
            "created_at, updated_at, deleted, version, started_position, position, "
            "forked_from, forked_version) "
            "VALUES (?, ?, ?, ?, 0, ?, 0, 1, '', ?, ?, 0, ?, ?, ?, ?, ?) "
            "ON CONFLICT (stream) DO NOTHING",
            (
                str(event.originator_id),
                event.session_id,
                event.user_id,
                cur.sealer.text(event.user_id, event.title),
                event.model,
                at,
                at,
                event.originator_version,
                position,
                position,
                *(
                    (event.source_id, event.source_version)
                    if isinstance(event, Session.Forked)
                    else (None, None)
                ),
            ),
        )

    @apply.register
    def _appended(
        self, event: Session.MessageAppended, cur: Cursor, position: int
    ) -> None:
        message = event.message
        owner = self._owner(cur, event)
        cur.execute(
            f"INSERT INTO {self.table('messages')} "
            "(stream, position, message_id, message) "
            f"SELECT stream, next_position, ?, ? FROM {self.table('sessions')} "
            "WHERE stream = ?",
            (
                message.id,
                self.stored_message(cur.sealer, owner, message),
                str(event.originator_id),
            ),
        )
        self._touch(
            event,
            cur,
            position,
            "message_count = message_count + 1, "
            "next_position = next_position + 1, preview = ?",
            (cur.sealer.text(owner, preview(message)),),
        )

    @apply.register
    def _truncated(
        self, event: Session.TranscriptTruncated, cur: Cursor, position: int
    ) -> None:
        stream = str(event.originator_id)
        for start in range(0, len(event.removed_ids), _DELETE_CHUNK):
            chunk = event.removed_ids[start : start + _DELETE_CHUNK]
            marks = ", ".join("?" * len(chunk))
            cur.execute(
                f"DELETE FROM {self.table('messages')} "
                f"WHERE stream = ? AND message_id IN ({marks})",
                (stream, *chunk),
            )
        last = cur.execute(
            f"SELECT message FROM {self.table('messages')} WHERE stream = ? "
            "ORDER BY position DESC LIMIT 1",
            (stream,),
        ).fetchone()
        text = ""
        if last:
            opened = cur.sealer.open_state(last[0], MESSAGE_FIELDS)
            text = preview(Message.model_validate_json(opened))
        self._touch(
            event,
            cur,
            position,
            f"message_count = (SELECT COUNT(*) FROM {self.table('messages')} "
            "WHERE stream = ?), preview = ?",
            (stream, cur.sealer.text(self._owner(cur, event), text)),
        )

    @apply.register
    def _titled(self, event: Session.TitleEdited, cur: Cursor, position: int) -> None:
        title = cur.sealer.text(self._owner(cur, event), event.title)
        self._touch(event, cur, position, "title = ?", (title,))

    @apply.register
    def _pinned(self, event: Session.PinChanged, cur: Cursor, position: int) -> None:
        self._touch(event, cur, position, "pinned = ?", (int(event.pinned),))

    @apply.register
    def _model(self, event: Session.ModelChanged, cur: Cursor, position: int) -> None:
        self._touch(event, cur, position, "model = ?", (event.model,))

    @apply.register
    def _deleted(
        self, event: Session.SessionDeleted, cur: Cursor, position: int
    ) -> None:
        self._touch(event, cur, position, "deleted = 1")

    @apply.register
    def _restored(
        self, event: Session.SessionRestored, cur: Cursor, position: int
    ) -> None:
        self._touch(event, cur, position, "deleted = 0")

    def _owner(self, cur: Cursor, event: Session.Event) -> str | None:
        """Whose key seals this session's values (None without a master key)."""
        return cur.sealer.owner(cur, self.table("sessions"), str(event.originator_id))

    def _touch(
        self,
        event: Session.Event,
        cur: Cursor,
        position: int,
        changes: str = "",
        values: tuple[Any, ...] = (),
    ) -> None:
        """Keep the row's old sort key as a move, then stamp the row (and change it)."""
        stream = str(event.originator_id)
        at = micros(event.timestamp)
        sessions, moves = self.table("sessions"), self.table("session_moves")
        cur.execute(
            f"INSERT INTO {moves} "
            "(stream, position, previous, updated_at, pinned, deleted, moved_at) "
            "SELECT stream, ?, position, updated_at, pinned, deleted, ? "
            f"FROM {sessions} WHERE stream = ?",
            (position, at, stream),
        )
        extra = f", {changes}" if changes else ""
        cur.execute(
            f"UPDATE {sessions} SET updated_at = ?, version = ?, position = ?{extra} "
            "WHERE stream = ?",
            (at, event.originator_version, position, *values, stream),
        )
        if self.prunes(position):
            self.prune(cur, event, position)

    def forget(self, cur: Cursor, user_id: str, streams: Sequence[str]) -> None:
        """The streams' moves (from each row's last change back, move by move:
        the ones older than the first missing were pruned before it), then their
        messages and rows."""
        sessions, moves = self.table("sessions"), self.table("session_moves")
        for start in range(0, len(streams), STREAMS_PER_STATEMENT):
            chunk = streams[start:][:STREAMS_PER_STATEMENT]
            cur.execute(
                "WITH RECURSIVE chain (stream, position, previous) AS ("
                f"SELECT m.stream, m.position, m.previous FROM {sessions} s "
                f"JOIN {moves} m ON m.position = s.position AND m.stream = s.stream "
                f"WHERE s.stream IN ({', '.join('?' * len(chunk))}) UNION ALL "
                f"SELECT m.stream, m.position, m.previous FROM chain c JOIN {moves} m "
                "ON m.position = c.previous AND m.stream = c.stream) "
                f"DELETE FROM {moves} WHERE position IN (SELECT position FROM chain)",
                chunk,
            )
        super().forget(cur, user_id, streams)

    @staticmethod
    def prunes(position: int) -> bool:
        """Whether the event at `position` prunes old moves (every PRUNE_EVERY:
        the log decides, not the clock, so every generation prunes alike)."""
        return position % PRUNE_EVERY == 0

    def prune(self, cur: Cursor, event: Session.Event, position: int) -> None:
        """Drop the moves older than MOVES_KEPT before `event` (at `position`),
        walking from the oldest in log order to the first one kept (an old move
        behind a newer one, as writers' clocks differ, waits for a later one)."""
        moves = self.table("session_moves")
        cur.execute(
            f"DELETE FROM {moves} WHERE position < COALESCE((SELECT position "
            f"FROM {moves} WHERE moved_at >= ? ORDER BY position LIMIT 1), ?)",
            (micros(event.timestamp) - MOVES_KEPT // MICROSECOND, position + 1),
        )

    @staticmethod
    def stored_message(
        sealer: ColumnSealer, owner: str | None, message: Message
    ) -> str:
        """A transcript message as its row holds it (sealed under a master key)."""
        return sealer.model(owner, message, MESSAGE_FIELDS)
