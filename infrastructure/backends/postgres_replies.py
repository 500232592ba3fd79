"""A PostgreSQL append whose reply was lost: stored once, and told so.

An append is retried when its connection fails (a server restart, a network
cut, a failover). A failure while the COMMIT was under way is ambiguous: the
server may have committed and only its reply was lost (with synchronous
replication, a commit done locally waits for the standby, and a connection cut
then loses the reply of a stored transaction). The retry then meets its own
records: a unique-key conflict. Taken for another writer's, the caller heard
"already in use" for the session it just created, or its Q&A entry refused as
a duplicate, or a trace step re-run on the stream's head and stored twice.

So a conflict met by an attempt after a failed one asks first whether the
records it inserts are stored exactly (each at its stream and version, byte for
byte: their stored form holds a chain value and random nonces, which no other
writer's records share): then the append succeeded, and it returns what the
lost reply would have. The conflict waited for the transaction it met to end
(a unique index does), so a commit whose reply was lost is visible by then.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed

ATTEMPTS = 10
"""Attempts of an append whose connection fails (eventsourcing's retry had 10)."""
WAIT = 0.2
"""Seconds between attempts, give or take 5%."""


class Appender(Protocol):
    """What `retried_unless_stored` needs of the events recorder."""

    def stored_already(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The records' notification ids if each is stored exactly, else None."""


Insert = Callable[..., Sequence[int] | None]


def retried_unless_stored(insert: Insert) -> Insert:
    """`insert` (an events recorder's insert_events) retried when its connection
    fails; a conflict after such a failure is the failed attempt's own commit
    when the records are stored exactly: their ids are returned."""

    @functools.wraps(insert)
    def inserted(
        recorder: Appender,
        stored_events: Sequence[StoredEvent],
        *args: Any,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        failed = False
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return insert(recorder, stored_events, *args, **kwargs)
            except (InterfaceError, OperationalError):
                if attempt == ATTEMPTS:
                    raise
                failed = True
                time.sleep(WAIT * (1 + 0.1 * (random.random() - 0.5)))
            except IntegrityError:
                ids = recorder.stored_already(stored_events) if failed else None
                if ids is None:
                    raise
                return ids
        raise AssertionError("every attempt returns or raises")

    return inserted


def stored_rows(
    connection: Connection[DictRow],
    table: Composed,
    id_type: str,
    stored_events: Sequence[StoredEvent],
) -> list[DictRow] | None:
    """The rows (notification_id, transaction_id) of `stored_events`, in their
    order, if each is stored with exactly its topic and state; else None."""
    rows = connection.execute(
        SQL(
            "SELECT t.originator_id::text AS stream, t.originator_version AS version, "
            "t.topic, t.state, t.notification_id, "
            "t.transaction_id::text::bigint AS transaction_id FROM {table} AS t "
            "JOIN unnest(%s::{id_type}[], %s::bigint[]) AS p(stream, version) "
            "ON t.originator_id = p.stream AND t.originator_version = p.version"
        ).format(table=table, id_type=SQL(id_type)),
        (
            [record.originator_id for record in stored_events],
            [record.originator_version for record in stored_events],
        ),
    ).fetchall()
    found = {(row["stream"], row["version"]): row for row in rows}
    ordered = []
    for record in stored_events:
        row = found.get((str(record.originator_id), record.originator_version))
        if row is None or (row["topic"], bytes(row["state"])) != (
            record.topic,
            record.state,
        ):
            return None
        ordered.append(row)
    return ordered
