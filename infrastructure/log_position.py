"""Where a consumer of the log is: the order every reader of the log follows.

Rows are read in (transaction id, notification id) order. On PostgreSQL the
transaction id is the inserting transaction's (`pg_current_xact_id()`), and a
reader only takes rows whose transaction is below the oldest one still running,
so a row can never appear behind a position already passed. On SQLite and in
memory one writer at a time commits in id order: every row's transaction id is 0
and the order is the ids'. Rows written before PostgreSQL recorded transaction
ids also read 0, so they keep their old order, before every newer row.

A row's number counts every row ever inserted before it: on PostgreSQL a purge
records where each row it deletes was (a place), and consumers number places as
rows without applying them, so whether a read model applied a purged row or never
saw it, it numbers every later row alike.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import NamedTuple


class LogPosition(NamedTuple):
    """A point in the log, compared as (transaction id, notification id)."""

    transaction_id: int
    notification_id: int


LOG_START = LogPosition(0, 0)
"""Before the first event."""


def sequence_after(previous: int, position: LogPosition) -> int:
    """The sequence number of the event at `position`, after one numbered
    `previous`: its notification id for a row with no transaction id (SQLite,
    memory, and PostgreSQL rows from before transaction ids, so stored numbers
    keep naming the same events), else the next number. A function of the log's
    order alone, so every read model, and every rebuild, numbers alike."""
    if position.transaction_id == 0:
        return position.notification_id
    return previous + 1


def sequence_past(
    previous: int, places: Sequence[LogPosition], after: LogPosition, at: LogPosition
) -> int:
    """The number of the last of `places` (purged rows' places, in log order)
    between `after`, numbered `previous`, and `at`; `previous` if none is."""
    for place in places[bisect_right(places, after) : bisect_left(places, at)]:
        previous = sequence_after(previous, place)
    return previous
