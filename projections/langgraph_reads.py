"""What the LangGraph savers read from the "langgraph" read model: a thread's
checkpoint (the latest, or by id) with its values and writes, searches as
LangGraph's `list` makes them, and a task's writes. Each checkpoint costs O(1)
indexed rows (its row, one per channel, its writes) whatever the thread's length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..domain.personal import ERASED
from ..domain.thread_ids import thread_session_id
from ..infrastructure.session_ids import StoredIds
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .langgraph import LangGraphProjection


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

    def __init__(self, database: ProjectionDatabase, ids: StoredIds) -> None:
        """`ids` finds where a thread's session is stored in the log (its id, or
        its legacy id: thread_ids.py). Thread ids are compared exactly, as
        LangGraph compares them."""
        self._database = database
        self._ids = ids

    def _stream(self, thread_id: str, checkpoint_ns: str) -> str:
        """The stream of a thread's namespace (its stored spelling's)."""
        return str(self._ids.stream(thread_session_id(thread_id, checkpoint_ns)))

    def get(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        user_id: str | None,
    ) -> StoredCheckpoint | None:
        """The checkpoint with that id, or the thread's latest (largest id)."""
        stream = self._stream(thread_id, checkpoint_ns)
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
                rows = [
                    row
                    for row in rows
                    if contains(cur.sealer.open_json(row[8]), wanted)
                ]
                rows = rows[: search.limit] if search.limit is not None else rows
            return [_loaded(cur, tables, row) for row in rows]

    def namespaces(self, thread_id: str) -> list[str]:
        """The live namespaces of a thread that hold anything."""
        return [str(ns) for ns in self._of_thread("checkpoint_ns", thread_id, True)]

    def owners(self, thread_id: str) -> set[str | None]:
        """Whose the thread's namespaces are (None: no one's), deleted ones
        too."""
        return set(self._of_thread("user_id", thread_id, False))

    def _of_thread(self, column: str, thread_id: str, live: bool) -> list[Any]:
        """The distinct values of `column` over the thread's namespaces (only
        those not deleted if `live`), in order."""
        alive = " AND deleted = 0" if live else ""
        with self._database.read() as cur:
            tables, _ = LangGraphProjection.live(cur)
            rows = cur.execute(
                f"SELECT DISTINCT {column} FROM {tables.table('lg_threads')} "
                f"WHERE thread_id = ?{alive} ORDER BY {column}",
                (thread_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, task_id: str
    ) -> dict[int, tuple[str, str, bytes]]:
        """A task's stored writes on a checkpoint of a live thread: slot ->
        (channel, type, data)."""
        stream = self._stream(thread_id, checkpoint_ns)
        with self._database.read() as cur:
            tables, _ = LangGraphProjection.live(cur)
            rows = cur.execute(
                f"SELECT w.idx, w.channel, w.type, w.data "
                f"FROM {tables.table('lg_writes')} w "
                f"JOIN {tables.table('lg_threads')} t ON t.stream = w.stream "
                "WHERE w.stream = ? AND w.checkpoint_id = ? AND w.task_id = ? "
                "AND t.deleted = 0",
                (stream, checkpoint_id, task_id),
            ).fetchall()
            sealer = cur.sealer
        return {
            row[0]: (row[1], row[2], sealer.open_blob(bytes(row[3]))) for row in rows
        }


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
    sealer = cur.sealer
    found = [(*item[:3], sealer.open_blob(bytes(item[3])), *item[4:]) for item in found]
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
        checkpoint=None if kind == ERASED else (kind, sealer.open_blob(bytes(data))),
        saved_at=float(saved_at),
        metadata=sealer.open_json(metadata) or {},
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
