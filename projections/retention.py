"""The retention read model: each session's metadata values with its last update.

Retention rules for a metadata key/value (a tenant, say) must find the sessions
of that value not updated since a cutoff by an index range, so a sweep costs the
sessions it expires, not the tenant's. The session index (`sessions`) serves the
global and per-user rules (its `deleted, updated_at` and `user_id, deleted,
updated_at` indexes); this table adds `(key, value, deleted, updated_at)`.

Every session event moves the session's `updated_at` here too (one indexed
UPDATE, which touches nothing for a session without metadata). Under a master key
metadata values are sealed content, so this table stays empty and metadata rules
are refused (see sessiontrail/privacy/retention.py).
"""

from __future__ import annotations

from functools import singledispatchmethod

from pydantic import JsonValue

from ..domain.event_model import EventModel
from ..domain.search import canonical
from ..domain.session import Session
from ..infrastructure.sql import Cursor
from .columns import micros
from .projection import Projection, Table


class RetentionProjection(Projection):
    """Folds session metadata and last-update times into `retention_metadata`."""

    name = "retention"
    version = 1
    tables = (
        Table(
            "retention_metadata",
            "stream TEXT NOT NULL, key {key} NOT NULL, value {key} NOT NULL, "
            "deleted SMALLINT NOT NULL, updated_at BIGINT NOT NULL, "
            "PRIMARY KEY (stream, key)",
            indexes=("key, value, deleted, updated_at, stream",),
        ),
        Table(  # whose each session is: how an erasure finds a user's rows here
            "retention_sessions",
            "stream TEXT PRIMARY KEY, user_id TEXT",
            indexes=("user_id",),
        ),
    )
    owners = "retention_sessions"
    per_stream = ("retention_metadata", "retention_sessions")

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        if isinstance(event, Session.Event):  # other streams are not sessions
            self._touch(cur, event)

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        cur.execute(
            f"INSERT INTO {self.table('retention_sessions')} (stream, user_id) "
            "VALUES (?, ?) ON CONFLICT (stream) DO NOTHING",
            (str(event.originator_id), event.user_id),
        )
        self._set(cur, event, event.metadata)

    @apply.register
    def _metadata(
        self, event: Session.MetadataEdited, cur: Cursor, position: int
    ) -> None:
        self._set(cur, event, event.changes)
        self._touch(cur, event)

    @apply.register
    def _deleted(
        self, event: Session.SessionDeleted, cur: Cursor, position: int
    ) -> None:
        self._touch(cur, event, ", deleted = 1")

    @apply.register
    def _restored(
        self, event: Session.SessionRestored, cur: Cursor, position: int
    ) -> None:
        self._touch(cur, event, ", deleted = 0")

    def _set(
        self, cur: Cursor, event: Session.Event, changes: dict[str, JsonValue]
    ) -> None:
        """Apply top-level metadata changes; a None value removes the key."""
        if cur.sealer.active:
            return
        table, stream = self.table("retention_metadata"), str(event.originator_id)
        for key, value in changes.items():
            cur.execute(
                f"DELETE FROM {table} WHERE stream = ? AND key = ?", (stream, key)
            )
            if value is not None:
                cur.execute(
                    f"INSERT INTO {table} (stream, key, value, deleted, updated_at) "
                    "VALUES (?, ?, ?, 0, ?)",
                    (stream, key, canonical(value), micros(event.timestamp)),
                )

    def _touch(self, cur: Cursor, event: Session.Event, changes: str = "") -> None:
        cur.execute(
            f"UPDATE {self.table('retention_metadata')} "
            f"SET updated_at = ?{changes} WHERE stream = ?",
            (micros(event.timestamp), str(event.originator_id)),
        )
