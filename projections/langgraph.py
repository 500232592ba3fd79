"""LangGraph threads' checkpoints and pending writes, as the saver reads them.

The LangGraph saver (`sessiontrail.integrations.langgraph`) records each checkpoint
and each batch of pending writes as an event of the thread's session; this read
model keeps them the way LangGraph's PostgreSQL saver keeps its tables, one row per
checkpoint, per (channel, version) value and per write, keyed by the session's
stream. So a session's checkpoints are whatever its own events say: a session
whose events were copied from another carries that thread's checkpoints along.

- `lg_threads`: per thread session, its thread id, namespace, owner and whether
  it is deleted (filled from the session's `Started` event, a fork's `Forked`
  included: its id names the thread);
- `lg_checkpoints`: a checkpoint (re-saving an id replaces it but keeps its
  parent), its channel versions and its metadata as JSON;
- `lg_values`: channel values by (channel, version); the first stored stays;
- `lg_writes`: by (checkpoint, task, slot); a batch of only special channels
  replaces what a slot held, any other batch leaves filled slots alone.

Each row notes `saved_by`, the stream version of the event that stored it, so a
clearing (a deleted thread's id used again) removes exactly what came before it.

Erased content (the owner's key destroyed) reads as "[erased]": such a checkpoint
is kept with no content, its values and writes are not. No langgraph import here:
values stay as their serializer wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import singledispatchmethod
from typing import TypeVar

from ..domain.event_model import EventModel
from ..domain.personal import ERASED
from ..domain.session import Session
from ..domain.thread_ids import thread_of
from ..domain.threads import Serialized
from ..infrastructure.sql import Cursor
from .projection import Projection, Table

S = TypeVar("S", bound=Serialized)


class LangGraphProjection(Projection):
    """Folds the saver's checkpoint and write events into LangGraph's tables."""

    name = "langgraph"
    version = 2  # 2: owners indexed by user, for erasure
    tables = (
        Table(
            "lg_threads",
            "stream TEXT PRIMARY KEY, thread_id {key} NOT NULL, "
            "checkpoint_ns {key} NOT NULL, user_id {key}, deleted SMALLINT NOT NULL",
            indexes=("thread_id, checkpoint_ns", "user_id"),
        ),
        Table(
            "lg_checkpoints",
            "stream TEXT NOT NULL, checkpoint_id {key} NOT NULL, "
            "parent_checkpoint_id TEXT, type TEXT NOT NULL, data {bytes} NOT NULL, "
            "versions TEXT NOT NULL, metadata TEXT NOT NULL, "
            "saved_at DOUBLE PRECISION NOT NULL, saved_by INTEGER NOT NULL, "
            "PRIMARY KEY (stream, checkpoint_id)",
            indexes=("checkpoint_id",),
        ),
        Table(
            "lg_values",
            "stream TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL, "
            "type TEXT NOT NULL, data {bytes} NOT NULL, saved_by INTEGER NOT NULL, "
            "PRIMARY KEY (stream, channel, version)",
        ),
        Table(
            "lg_writes",
            "stream TEXT NOT NULL, checkpoint_id {key} NOT NULL, "
            "task_id {key} NOT NULL, idx INTEGER NOT NULL, task_path TEXT NOT NULL, "
            "channel TEXT NOT NULL, type TEXT NOT NULL, data {bytes} NOT NULL, "
            "saved_by INTEGER NOT NULL, "
            "PRIMARY KEY (stream, checkpoint_id, task_id, idx)",
        ),
    )

    owners = "lg_threads"
    per_stream = ("lg_checkpoints", "lg_values", "lg_writes", "lg_threads")

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Other events do not touch LangGraph threads."""

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        thread = thread_of(event.session_id)
        if thread is not None:
            cur.execute(
                f"INSERT INTO {self.table('lg_threads')} VALUES (?, ?, ?, ?, 0) "
                "ON CONFLICT (stream) DO NOTHING",
                (str(event.originator_id), *thread, event.user_id),
            )

    @apply.register
    def _checkpoint(
        self, event: Session.CheckpointSaved, cur: Cursor, position: int
    ) -> None:
        stream = str(event.originator_id)
        erased = event.checkpoint.erased
        owner = self._owner(cur, stream)
        kind, data = (ERASED, b"") if erased else event.checkpoint.unpack()
        cur.execute(
            f"INSERT INTO {self.table('lg_checkpoints')} VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (stream, checkpoint_id) DO UPDATE "
            "SET type = excluded.type, data = excluded.data, "
            "versions = excluded.versions, metadata = excluded.metadata, "
            "saved_at = excluded.saved_at, saved_by = excluded.saved_by",
            (
                stream,
                event.checkpoint_id,
                event.parent_checkpoint_id,
                kind,
                cur.sealer.blob(owner, data),
                json.dumps(event.channel_versions),
                cur.sealer.json(owner, {**event.app_metadata, **event.metadata}),
                event.timestamp.timestamp(),
                event.originator_version,
            ),
        )
        cur.executemany(
            f"INSERT INTO {self.table('lg_values')} VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (stream, channel, version) DO NOTHING",
            [
                (
                    stream,
                    value.channel,
                    value.version,
                    kind,
                    cur.sealer.blob(owner, data),
                    event.originator_version,
                )
                for value, (kind, data) in _unpacked(event.values)
            ],
        )

    @apply.register
    def _writes(self, event: Session.WritesSaved, cur: Cursor, position: int) -> None:
        conflict = (
            "DO UPDATE SET channel = excluded.channel, type = excluded.type, "
            "data = excluded.data, saved_by = excluded.saved_by"
            if event.replace
            else "DO NOTHING"
        )
        stream = str(event.originator_id)
        owner = self._owner(cur, stream)
        cur.executemany(
            f"INSERT INTO {self.table('lg_writes')} "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (stream, checkpoint_id, task_id, idx) {conflict}",
            [
                (
                    stream,
                    event.checkpoint_id,
                    event.task_id,
                    write.idx,
                    event.task_path,
                    write.channel,
                    kind,
                    cur.sealer.blob(owner, data),
                    event.originator_version,
                )
                for write, (kind, data) in _unpacked(event.writes)
            ],
        )

    @apply.register
    def _cleared(
        self, event: Session.CheckpointsCleared, cur: Cursor, position: int
    ) -> None:
        for table in ("lg_checkpoints", "lg_values", "lg_writes"):
            cur.execute(
                f"DELETE FROM {self.table(table)} WHERE stream = ? AND saved_by <= ?",
                (str(event.originator_id), event.through_version),
            )

    @apply.register
    def _deleted(
        self, event: Session.SessionDeleted, cur: Cursor, position: int
    ) -> None:
        self._mark(cur, event, deleted=True)

    @apply.register
    def _restored(
        self, event: Session.SessionRestored, cur: Cursor, position: int
    ) -> None:
        self._mark(cur, event, deleted=False)

    def _owner(self, cur: Cursor, stream: str) -> str | None:
        """Whose key seals this thread's values (None without a master key)."""
        return cur.sealer.owner(cur, self.table("lg_threads"), stream)

    def _mark(self, cur: Cursor, event: Session.Event, *, deleted: bool) -> None:
        cur.execute(
            f"UPDATE {self.table('lg_threads')} SET deleted = ? WHERE stream = ?",
            (int(deleted), str(event.originator_id)),
        )


def _unpacked(items: Sequence[S]) -> Iterator[tuple[S, tuple[str, bytes]]]:
    """Each value its user still holds, with its (type, bytes), decoded once."""
    for item in items:
        if not item.erased:
            yield item, item.unpack()
