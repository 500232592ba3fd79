"""Every stream id in the log, a page at a time in id order: what verify walks."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import AggregateRecorder
from eventsourcing.popo import POPOAggregateRecorder
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg.sql import SQL, Identifier


def stream_ids(
    recorder: AggregateRecorder, after: UUID | None, limit: int
) -> list[UUID]:
    """Up to `limit` stream ids greater than `after` (None: from the first)."""
    if isinstance(recorder, SQLiteAggregateRecorder):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT DISTINCT originator_id FROM {recorder.events_table_name} "
                "WHERE originator_id > ? ORDER BY originator_id LIMIT ?",
                ("" if after is None else after.hex, limit),  # stored as 32 hex digits
            )
            return [UUID(row[0]) for row in cursor.fetchall()]
    if isinstance(recorder, PostgresAggregateRecorder):
        statement = SQL(
            "SELECT DISTINCT originator_id FROM {schema}.{table} "
            "WHERE originator_id > %s ORDER BY originator_id LIMIT %s"
        ).format(
            schema=Identifier(recorder.datastore.schema),
            table=Identifier(recorder.events_table_name),
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (after or UUID(int=0), limit))
            return [row["originator_id"] for row in cursor.fetchall()]
    if isinstance(recorder, POPOAggregateRecorder):
        index = recorder._stored_events_index  # a defaultdict: reads add empty keys
        known = sorted(UUID(key) for key, versions in index.items() if versions)
        return [stream for stream in known if after is None or stream > after][:limit]
    raise TypeError(f"cannot list the streams of {type(recorder).__name__}")
