"""PostgreSQL: the stale-writer guard and purges, beside the events recorder.

- Guard: an append that continues a stream first locks the record before its
  first one `FOR KEY SHARE` and checks its chain value. A purge that deleted it
  first makes the append fail; an append that locked it first makes the purge's
  DELETE wait for its commit, and the purge then finds the new record and starts
  over. One indexed row per stream per append; other streams never wait.
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

from ..chain import predecessors, unframe
from ..log_position import LogPosition

if TYPE_CHECKING:
    from .postgres_store import EventsRecorder


GUARD = "SELECT state FROM {} WHERE originator_id = {} AND originator_version = {} "
GUARD_LOCK = "FOR KEY SHARE"


def guard(
    cursor: Cursor[DictRow], table: Composed, records: Sequence[StoredEvent]
) -> None:
    """Lock and check the record each stream's first new record follows;
    IntegrityError if it is gone or holds another chain value."""
    statement = SQL(GUARD + GUARD_LOCK).format(table, SQL("%s"), SQL("%s"))
    for (stream, version), previous in predecessors(records).items():
        cursor.execute(statement, (stream, version - 1))
        _check(stream, version - 1, cursor.fetchone(), previous)


def begin_guarded(
    cursor: Cursor[DictRow], table: Composed, records: Sequence[StoredEvent]
) -> None:
    """BEGIN a transaction and `guard` the records in the same message: one round
    trip where a BEGIN of its own and a statement per stream took two or more
    (the guard's values are written into the statements, which a message of
    several statements requires)."""
    needed = predecessors(records)
    statements = [SQL("BEGIN")] + [
        SQL(GUARD + GUARD_LOCK).format(table, Literal(stream), Literal(version - 1))
        for stream, version in needed
    ]
    cursor.execute(SQL("; ").join(statements))
    for (stream, version), previous in needed.items():
        cursor.nextset()
        _check(stream, version - 1, cursor.fetchone(), previous)


def _check(stream: UUID, version: int, row: DictRow | None, previous: bytes) -> None:
    """IntegrityError unless the guarded record is there with the chain value the
    new one follows."""
    if row is None:
        raise IntegrityError(f"stream {stream}: version {version} is gone")
    value, _ = unframe(bytes(row["state"]))
    if value is not None and value != previous:
        raise IntegrityError(f"stream {stream}: version {version} changed")


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
