"""PostgreSQL: the stale-writer guard and purges, beside the events recorder.

- Guard: an append that continues a stream locks the record before its first
  one `FOR KEY SHARE` and checks its chain value, in its INSERT statement. A
  purge that deleted it first makes the append insert nothing and fail; an append
  that locked it first makes the purge's DELETE wait for its commit, and the
  purge then finds the new record and starts over. One indexed row per stream
  per append; other streams never wait.
- Keys: the same INSERT locks `FOR KEY SHARE` the key each user's content was
  sealed with, and inserts nothing if one is gone: an erasure destroyed it after
  this process read it (KeyDestroyed: sealed again, the append is retried).
- Purge: DELETE ... RETURNING of the streams' records and snapshots, a re-check
  that no record of them is left (one committed by a writer that locked its
  predecessor before the DELETE), then the purge's record, in one transaction.
  The deleted rows stay in the table files as dead tuples until VACUUM FULL.
- Places: the purge records where each deleted row was in the log (its
  transaction id and id, nothing else) in a table of its own, in one more
  statement. Read models number a row by its rank among every row ever inserted
  (../log_position.py), so they count these places too: a read model that
  applied the purged rows and one that never saw them number every later row
  alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from ..chain import DIGEST_SIZE, MARK, predecessors, unframe
from ..log_position import LogPosition
from ..user_keys import Sealed, check_kept

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


def guarded_insert(
    table: Composed, record_type: Composed, id_type: str, keys: Composed
) -> Composed:
    """An INSERT of a batch of records (as eventsourcing's, with each row's
    position returned) that inserts nothing unless every record it guards is
    there with its chain value, and every key its content was sealed with is in
    the key table `keys`, each locked `FOR KEY SHARE` in the same statement (an
    erasure's delete of a key then waits for the commit): guard and insert are
    one statement, a transaction of its own that never waits for its client.
    Parameters: `guarded_params`, the records (an array of `record_type`), how
    many records and how many keys are guarded."""
    return SQL(
        "WITH guard AS (SELECT 1 FROM {table} AS g JOIN unnest(%s::{id_type}[], "
        "%s::bigint[], %s::bytea[]) AS p(stream, version, previous) ON "
        "g.originator_id = p.stream AND g.originator_version = p.version WHERE "
        "substring(g.state FROM 1 FOR {mark}) <> {marked} OR "
        "substring(g.state FROM {start} FOR {size}) = p.previous "
        "FOR KEY SHARE OF g), "
        "sealed AS (SELECT 1 FROM {keys} AS k JOIN unnest(%s::text[], %s::text[]) "
        "AS s(user_id, key_id) ON k.user_id = s.user_id AND k.key_id = s.key_id "
        "FOR KEY SHARE OF k) "
        "INSERT INTO {table} (originator_id, originator_version, topic, state) "
        "SELECT originator_id, originator_version, topic, state "
        "FROM unnest(%s::{record_type}[]) WHERE (SELECT count(*) FROM guard) = %s "
        "AND (SELECT count(*) FROM sealed) = %s "
        "RETURNING notification_id, transaction_id::text::bigint AS transaction_id"
    ).format(
        table=table,
        keys=keys,
        id_type=SQL(id_type),
        mark=Literal(len(MARK)),
        marked=Literal(MARK),
        start=Literal(len(MARK) + 1),
        size=Literal(DIGEST_SIZE),
        record_type=record_type,
    )


def guarded_params(records: Sequence[StoredEvent], sealed: Sealed) -> list[Any]:
    """`guarded_insert`'s guard parameters for `records`, sealed with the keys
    `sealed` names."""
    needed = predecessors(records)
    return [
        [stream for stream, _ in needed],
        [version - 1 for _, version in needed],
        list(needed.values()),
        list(sealed),
        list(sealed.values()),
    ]


def destroyed_key(cursor: Cursor[DictRow], keys: Composed, sealed: Sealed) -> None:
    """KeyDestroyed if a key `sealed` names is no longer in the key table (why
    a guarded insert inserted nothing, if not a purge)."""
    statement = SQL("SELECT 1 FROM {} WHERE user_id = %s AND key_id = %s").format(keys)
    check_kept(
        sealed,
        lambda user_id, key_id: (
            cursor.execute(statement, (user_id, key_id)).fetchone() is not None
        ),
    )


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
    places: list[tuple[str, int]] = []
    rows: list[Any] = []
    with recorder.datastore.get_connection() as connection:
        with connection.transaction(), connection.cursor() as cursor:
            for stream, last in expected.items():
                cursor.execute(
                    SQL(
                        "DELETE FROM {} WHERE originator_id = %s RETURNING "
                        "originator_version, transaction_id::text AS t, "
                        "notification_id AS n"
                    ).format(table),
                    (stream,),
                )
                gone = cursor.fetchall()
                places += [(row["t"], row["n"]) for row in gone]
                versions = [row["originator_version"] for row in gone]
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
            _keep_places(cursor, recorder.places_table, places)
            if records:
                recorder._insert_stored_events(cursor, records)
                rows = cursor.fetchall()
        recorder._wake(connection)
    positions = [
        LogPosition(row["transaction_id"], row["notification_id"]) for row in rows
    ]
    return deleted, positions


def _keep_places(
    cursor: Cursor[DictRow], places_table: Composed, places: Sequence[tuple[str, int]]
) -> None:
    """Record where the deleted rows were ((transaction id, id) each): one
    statement for the whole purge."""
    if places:
        cursor.execute(
            SQL(
                "INSERT INTO {} SELECT t::xid8, n FROM unnest(%s::text[], "
                "%s::bigint[]) AS u(t, n)"
            ).format(places_table),
            ([place[0] for place in places], [place[1] for place in places]),
        )


PLACES_SUFFIX = "_purged"
"""A log's table of purged rows' places is its events table's name and this."""


def places_table(schema: str, events_table_name: str) -> Composed:
    """Where a log's purged rows were: beside its events table, in its schema."""
    return SQL("{}.{}").format(
        Identifier(schema), Identifier(events_table_name + PLACES_SUFFIX)
    )


CREATE_PLACES = SQL(
    "CREATE TABLE IF NOT EXISTS {} (transaction_id xid8 NOT NULL, "
    "notification_id bigint NOT NULL, PRIMARY KEY (transaction_id, notification_id))"
)
"""Created with the events table (a log from before it gets it on open)."""


@retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
def purged_places(
    recorder: EventsRecorder, after: LogPosition, until: LogPosition
) -> list[LogPosition]:
    """The places of purged rows after `after` up to `until`, in log order."""
    statement = SQL(
        "SELECT transaction_id::text::bigint AS t, notification_id AS n FROM {} "
        "WHERE (transaction_id, notification_id) > (%s::text::xid8, %s) AND "
        "(transaction_id, notification_id) <= (%s::text::xid8, %s) "
        "ORDER BY transaction_id, notification_id"
    ).format(recorder.places_table)
    with recorder.datastore.get_connection() as connection:
        rows = connection.execute(
            statement,
            (str(after.transaction_id), after[1], str(until.transaction_id), until[1]),
            prepare=True,
        ).fetchall()
    return [LogPosition(row["t"], row["n"]) for row in rows]
