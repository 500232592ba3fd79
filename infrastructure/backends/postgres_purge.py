"""PostgreSQL: the stale-writer guard and purges, beside the events recorder.

- Guard: an append that continues a stream locks the record before its first
  one `FOR KEY SHARE` and checks its chain value, in its INSERT statement. A
  purge that deleted it first makes the append insert nothing and fail; an append
  that locked it first makes the purge's DELETE wait for its commit, and the
  purge then finds the new record and starts over. One indexed row per stream
  per append; other streams never wait.
- Purge: DELETE ... RETURNING of the streams' records and snapshots, a re-check
  that no record of them is left (one committed by a writer that locked its
  predecessor before the DELETE), then the purge's record, in one transaction.
  The deleted rows stay in the table files as dead tuples until VACUUM FULL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Literal

from ..chain import DIGEST_SIZE, MARK, predecessors, unframe
from ..log_position import LogPosition

if TYPE_CHECKING:
    from .postgres_store import EventsRecorder


def guard(
    cursor: Cursor[DictRow], table: Composed, records: Sequence[StoredEvent]
) -> None:
    """Lock and check the record each stream's first new record follows;
    IntegrityError if it is gone or holds another chain value (a purge's own
    records, inserted in its transaction)."""
    statement = SQL(
        "SELECT state FROM {} WHERE originator_id = %s AND originator_version = %s "
        "FOR KEY SHARE"
    ).format(table)
    for (stream, version), previous in predecessors(records).items():
        cursor.execute(statement, (stream, version - 1))
        row = cursor.fetchone()
        if row is None:
            raise IntegrityError(f"stream {stream}: version {version - 1} is gone")
        value, _ = unframe(bytes(row["state"]))
        if value is not None and value != previous:
            raise IntegrityError(f"stream {stream}: version {version - 1} changed")


def guarded_insert(table: Composed, record_type: Composed, id_type: str) -> Composed:
    """An INSERT of a batch of records (as eventsourcing's, with each row's
    position returned) that inserts nothing unless every record it guards is
    there with its chain value, locked `FOR KEY SHARE` in the same statement:
    guard and insert are one statement, a transaction of its own that never waits
    for its client. Parameters: `guarded_params`, the records (an array of
    `record_type`), and how many records are guarded."""
    return SQL(
        "WITH guard AS (SELECT 1 FROM {table} AS g JOIN unnest(%s::{id_type}[], "
        "%s::bigint[], %s::bytea[]) AS p(stream, version, previous) ON "
        "g.originator_id = p.stream AND g.originator_version = p.version WHERE "
        "substring(g.state FROM 1 FOR {mark}) <> {marked} OR "
        "substring(g.state FROM {start} FOR {size}) = p.previous "
        "FOR KEY SHARE OF g) "
        "INSERT INTO {table} (originator_id, originator_version, topic, state) "
        "SELECT originator_id, originator_version, topic, state "
        "FROM unnest(%s::{record_type}[]) WHERE (SELECT count(*) FROM guard) = %s "
        "RETURNING notification_id, transaction_id::text::bigint AS transaction_id"
    ).format(
        table=table,
        id_type=SQL(id_type),
        mark=Literal(len(MARK)),
        marked=Literal(MARK),
        start=Literal(len(MARK) + 1),
        size=Literal(DIGEST_SIZE),
        record_type=record_type,
    )


def guarded_params(records: Sequence[StoredEvent]) -> list[Any]:
    """`guarded_insert`'s guard parameters for `records`."""
    needed = predecessors(records)
    return [
        [stream for stream, _ in needed],
        [version - 1 for _, version in needed],
        list(needed.values()),
    ]


def purge(
    recorder: EventsRecorder,
    snapshots_table: Composed | None,
    expected: Mapping[UUID, int],
    records: Sequence[StoredEvent],
) -> tuple[dict[UUID, int], list[LogPosition]]:
    """Delete the streams (each must end at its expected version) and their
    snapshots, and insert `records`, in one transaction; (deleted, positions)."""
    table = recorder.qualified_table
    deleted: dict[UUID, int] = {}
    rows: list[Any] = []
    with recorder.datastore.get_connection() as connection:
        with connection.transaction(), connection.cursor() as cursor:
            for stream, last in expected.items():
                cursor.execute(
                    SQL(
                        "DELETE FROM {} WHERE originator_id = %s "
                        "RETURNING originator_version"
                    ).format(table),
                    (stream,),
                )
                versions = [row["originator_version"] for row in cursor.fetchall()]
                if max(versions, default=0) != last:
                    raise IntegrityError(f"stream {stream} moved on")
                deleted[stream] = len(versions)
                if snapshots_table is not None:
                    cursor.execute(
                        SQL("DELETE FROM {} WHERE originator_id = %s").format(
                            snapshots_table
                        ),
                        (stream,),
                    )
            # A writer that locked its predecessor before the DELETE committed
            # after the DELETE's snapshot: its record is seen now, by a new one.
            cursor.execute(
                SQL("SELECT 1 FROM {} WHERE originator_id = ANY(%s) LIMIT 1").format(
                    table
                ),
                (list(expected),),
            )
            if cursor.fetchone() is not None:
                raise IntegrityError("a purged stream moved on")
            if records:
                recorder._insert_stored_events(cursor, records)
                rows = cursor.fetchall()
        recorder._wake(connection)
    positions = [
        LogPosition(row["transaction_id"], row["notification_id"]) for row in rows
    ]
    return deleted, positions
