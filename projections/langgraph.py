"""LangGraph threads' checkpoints and pending writes, as the saver reads them.

The LangGraph saver (`sessiontrail.integrations.langgraph`) records each checkpoint
and each batch of pending writes as an event of the thread's session; this read
model keeps them the way LangGraph's PostgreSQL saver keeps its tables, one row per
checkpoint, per (channel, version) value and per write, keyed by the session's
stream. So a session's checkpoints are whatever its own events say: a session
whose events were copied from another carries that thread's checkpoints along.

- `lg_threads`: per thread session, its thread id, namespace, owner and whether
  it is deleted (filled from the session's first event: its id names the thread);
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
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any

from ..domain.event_model import EventModel
from ..domain.personal import ERASED
from ..domain.session import Session, stream_id
from ..domain.threads import thread_of, thread_session_id
from .database import Cursor, ProjectionDatabase
from .projection import Projection, Table


class LangGraphProjection(Projection):
    """Folds the saver's checkpoint and write events into LangGraph's tables."""

    name = "langgraph"
    version = 1
    tables = (
        Table(
            "lg_threads",
            "stream TEXT PRIMARY KEY, thread_id {key} NOT NULL, "
            "checkpoint_ns {key} NOT NULL, user_id {key}, deleted SMALLINT NOT NULL",
            indexes=("thread_id, checkpoint_ns",),
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
                *((ERASED, b"") if erased else event.checkpoint.unpack()),
                json.dumps(event.channel_versions),
                json.dumps({**event.app_metadata, **event.metadata}),
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
                    *value.unpack(),
                    event.originator_version,
                )
                for value in event.values
                if not value.erased
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
                    *write.unpack(),
                    event.originator_version,
                )
                for write in event.writes
                if not write.erased
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

    def _mark(self, cur: Cursor, event: Session.Event, *, deleted: bool) -> None:
        cur.execute(
            f"UPDATE {self.table('lg_threads')} SET deleted = ? WHERE stream = ?",
            (int(deleted), str(event.originator_id)),
        )


@dataclass(frozen=True)
class StoredCheckpoint:
    """One checkpoint as stored: values and writes as their serializer's bytes.

    `checkpoint` is None once its owner was erased; `writes` are in LangGraph's
    order (task path, task id, slot).
    """

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    checkpoint: tuple[str, bytes] | None
    saved_at: float
    metadata: dict[str, Any]
    values: list[tuple[str, str, bytes]] = field(default_factory=list)
    writes: list[tuple[str, str, str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Search:
    """Which checkpoints `LangGraphReads.search` returns (None: any)."""

    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    before: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int | None = None


_COLUMNS = (
    "t.thread_id, t.checkpoint_ns, c.stream, c.checkpoint_id, "
    "c.parent_checkpoint_id, c.type, c.data, c.versions, c.metadata, c.saved_at"
)


class LangGraphReads:
    """What the LangGraph saver reads: O(1) indexed rows per checkpoint (its
    row, one value per channel, its writes), whatever the thread's length."""

    def __init__(self, database: ProjectionDatabase) -> None:
        self._database = database

    def get(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        user_id: str | None,
    ) -> StoredCheckpoint | None:
        """The checkpoint with that id, or the thread's latest (largest id)."""
        stream = str(stream_id(thread_session_id(thread_id, checkpoint_ns)))
        where, params = ["c.stream = ?"], [stream]
        if checkpoint_id is not None:
            where.append("c.checkpoint_id = ?")
            params.append(checkpoint_id)
        with self._database.read() as cur:
            tables, _ = LangGraphProjection.live(cur)
            rows = _select(cur, tables, where, params, user_id, limit=1)
            return _loaded(cur, tables, rows[0]) if rows else None

    def search(self, search: Search) -> list[StoredCheckpoint]:
        """Checkpoints newest (largest id) first, as LangGraph's `list` gives them:
        a metadata filter matches as PostgreSQL's `@>` (containment) does."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("t.thread_id", search.thread_id),
            ("t.checkpoint_ns", search.checkpoint_ns),
            ("c.checkpoint_id", search.checkpoint_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if search.before is not None:
            where.append("c.checkpoint_id < ?")
            params.append(search.before)
        wanted = search.metadata or None
        with self._database.read() as cur:
            tables, _ = LangGraphProjection.live(cur)
            rows = _select(
                cur,
                tables,
                where,
                params,
                search.user_id,
                limit=search.limit if wanted is None else None,
            )
            if wanted is not None:
                rows = [row for row in rows if contains(json.loads(row[8]), wanted)]
                rows = rows[: search.limit] if search.limit is not None else rows
            return [_loaded(cur, tables, row) for row in rows]

    def namespaces(self, thread_id: str) -> list[str]:
        """The live namespaces of a thread that hold anything."""
        with self._database.read() as cur:
            tables, _ = LangGraphProjection.live(cur)
            rows = cur.execute(
                f"SELECT checkpoint_ns FROM {tables.table('lg_threads')} "
                "WHERE thread_id = ? AND deleted = 0 ORDER BY checkpoint_ns",
                (thread_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, task_id: str
    ) -> dict[int, tuple[str, str, bytes]]:
        """A task's stored writes on a checkpoint: slot -> (channel, type, data)."""
        stream = str(stream_id(thread_session_id(thread_id, checkpoint_ns)))
        with self._database.read() as cur:
            tables, _ = LangGraphProjection.live(cur)
            rows = cur.execute(
                f"SELECT idx, channel, type, data FROM {tables.table('lg_writes')} "
                "WHERE stream = ? AND checkpoint_id = ? AND task_id = ?",
                (stream, checkpoint_id, task_id),
            ).fetchall()
        return {row[0]: (row[1], row[2], bytes(row[3])) for row in rows}


def _select(
    cur: Cursor,
    tables: LangGraphProjection,
    where: list[str],
    params: list[Any],
    user_id: str | None,
    limit: int | None,
) -> list[tuple[Any, ...]]:
    """Checkpoint rows of live threads (the user's, if named), largest id first."""
    where = [*where, "t.deleted = 0"]
    if user_id is not None:
        where.append("t.user_id = ?")
        params = [*params, user_id]
    sql = (
        f"SELECT {_COLUMNS} FROM {tables.table('lg_checkpoints')} c "
        f"JOIN {tables.table('lg_threads')} t ON t.stream = c.stream "
        f"WHERE {' AND '.join(where)} ORDER BY c.checkpoint_id DESC"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params = [*params, limit]
    return cur.execute(sql, params).fetchall()


def _loaded(
    cur: Cursor, tables: LangGraphProjection, row: tuple[Any, ...]
) -> StoredCheckpoint:
    """A checkpoint row with its channel values and writes, in one query of point
    lookups by primary key (one per channel, one range for the writes)."""
    thread_id, checkpoint_ns, stream, checkpoint_id, parent = row[:5]
    kind, data, versions, metadata, saved_at = row[5:]
    pairs = list(json.loads(versions).items()) if kind != ERASED else []
    lookups = [
        f"SELECT 0, channel, type, data, '', '', 0 FROM {tables.table('lg_values')} "
        "WHERE stream = ? AND channel = ? AND version = ?"
    ] * len(pairs)
    lookups.append(
        f"SELECT 1, channel, type, data, task_path, task_id, idx "
        f"FROM {tables.table('lg_writes')} WHERE stream = ? AND checkpoint_id = ?"
    )
    params = [item for pair in pairs for item in (stream, *pair)]
    found = cur.execute(
        " UNION ALL ".join(lookups), [*params, stream, checkpoint_id]
    ).fetchall()
    writes = sorted(
        (path, task, idx, channel, kind_, data_)
        for is_write, channel, kind_, data_, path, task, idx in found
        if is_write
    )
    return StoredCheckpoint(
        thread_id=thread_id,
        checkpoint_ns=checkpoint_ns,
        checkpoint_id=checkpoint_id,
        parent_checkpoint_id=parent,
        checkpoint=None if kind == ERASED else (kind, data),
        saved_at=float(saved_at),
        metadata=json.loads(metadata),
        values=[
            (channel, kind_, data_)
            for is_write, channel, kind_, data_, *_ in found
            if not is_write
        ],
        writes=[
            (task, channel, kind_, data_)
            for _, task, _, channel, kind_, data_ in writes
        ],
    )


def contains(stored: Any, wanted: Any) -> bool:
    """Whether JSON `stored` contains `wanted` as PostgreSQL's jsonb `@>` says:
    objects by key, recursively; arrays when each wanted item is contained in some
    stored item; scalars when equal and of one JSON type (true is not 1)."""
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and all(
            key in stored and contains(stored[key], value)
            for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(stored, list) and all(
            any(contains(item, value) for item in stored) for value in wanted
        )
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return type(wanted) is type(stored) and wanted == stored
    if isinstance(wanted, int | float):
        return isinstance(stored, int | float) and wanted == stored
    return type(wanted) is type(stored) and wanted == stored
