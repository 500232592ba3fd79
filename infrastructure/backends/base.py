"""What differs between the databases a log can live in, asked of one object.

A `Backend` is made from a URL's settings; it opens nothing until asked. It is the
one place that knows, for its database: the URL's form and options (and, through
them, the eventsourcing persistence module that stores the events), how a fresh
database is made ready when several processes open it at once, the lock held
around appends, where users' data keys live, how to list the streams, how to read
the log's head and its notifications in order, and the read-model database it
opens beside the log (with its compaction). A new database is one new module.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, NamedTuple
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    StoredEvent,
)

from ..log_position import LogPosition
from ..settings import BackendName, Settings
from ..sql import Cursor, ProjectionDatabase
from ..user_keys import KeyTable, Sealed
from ..wakeups import Wakeups

Positioned = list[tuple[LogPosition, Notification]]
"""Notifications, each with its position in the log."""

InTransaction = Callable[[Cursor, Sequence[LogPosition]], None]
"""Run inside an append's own transaction, after its records are inserted, with
their positions: where the read models share that transaction (SQLite), an
inline write's read-model rows commit with its events."""

NearReads = tuple[ProjectionDatabase, Callable[[Cursor], int]]
"""Reads of the read models on the connection appends use, and a marker asked
first in such a read that stays the same while no other connection committed
(sqlite_reads.py)."""


class Purged(NamedTuple):
    """What a purge's transaction did: records deleted per stream, and the
    positions of the records it inserted (the purge's own record)."""

    deleted: dict[UUID, int]
    positions: list[LogPosition]


DEFAULT_LOCK_TIMEOUT = 10.0
"""Seconds a wait for a lock lasts where the URL cannot say (as SQLite's default)."""

STREAMS_PER_QUERY = 500
"""Stream ids named in one SQL statement (SQLite's limit on parameters is far)."""


class Backend(ABC):
    """One database kind: what the event store, the key table and the read models
    need to know about it."""

    name: ClassVar[BackendName]
    schemes: ClassVar[tuple[str, ...]]
    """The URL schemes it answers to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    @abstractmethod
    def parse(cls, url: str) -> Settings:
        """The settings a URL of one of `schemes` gives; InvalidInput if unusable
        (its message shows the URL without its password)."""

    @property
    def env(self) -> dict[str, str]:
        """eventsourcing's settings (persistence module, database, key, ...)."""
        return self.settings.env

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        """Around opening the log: make a fresh database ready for eventsourcing,
        safely when processes race to open it (nothing to do by default)."""
        yield

    def absent(self) -> str | None:
        """Why opening this log would create an empty one (a file not there yet),
        for commands that only read an existing log; None when it exists."""
        return None

    def write_lock(self, recorder: AggregateRecorder) -> AbstractContextManager[Any]:
        """What this process holds around each append (none by default); it may
        raise a storage error when it cannot be had in time."""
        return contextlib.nullcontext()

    @abstractmethod
    def key_table(self, recorder: AggregateRecorder) -> KeyTable:
        """The table of users' wrapped data keys, created if missing."""

    @abstractmethod
    def stream_ids(
        self, recorder: AggregateRecorder, after: UUID | None, limit: int
    ) -> list[UUID]:
        """Up to `limit` stream ids greater than `after` (None: from the first)."""

    def wait_bound(self) -> float:
        """The longest an inline save waits for older transactions to end before
        its read models can apply it (where that can happen: PostgreSQL)."""
        return 0.0

    def lock_timeout(self) -> float:
        """The URL's lock timeout: the longest a wait for a lock lasts, in this
        process as in the database (a backend without the option: the default)."""
        return DEFAULT_LOCK_TIMEOUT

    def after_opening(self, recorder: ApplicationRecorder) -> None:  # noqa: B027
        """What the log needs once opened, outside `opening` (nothing by default)."""

    def head(self, recorder: ApplicationRecorder) -> int:
        """The newest notification id in the log (0 when empty)."""
        return recorder.max_notification_id() or 0

    # The log in order (see ../log_position.py). By default ids are in commit
    # order (one writer commits at a time): every position is (0, id).

    def insert(
        self,
        recorder: ApplicationRecorder,
        records: Sequence[StoredEvent],
        sealed: Sealed,
    ) -> list[LogPosition]:
        """Insert in one transaction; each record's position. `sealed` names
        the key each user's content in `records` was sealed with: unless each
        is still in the key table, checked in the transaction so that no erasure
        deletes it before the commit, KeyDestroyed and nothing inserted."""
        ids = recorder.insert_events(records, sealed=sealed) or ()
        return [LogPosition(0, ident) for ident in ids]

    def insert_within(
        self,
        recorder: ApplicationRecorder,
        records: Sequence[StoredEvent],
        within: InTransaction,
        sealed: Sealed,
    ) -> list[LogPosition]:
        """`insert`, and `within` in the same transaction before it commits, where
        the read models live in it; elsewhere (by default) `within` is not called
        and the read models catch up in a transaction of their own."""
        return self.insert(recorder, records, sealed)

    def notifications(
        self,
        recorder: ApplicationRecorder,
        after: LogPosition,
        limit: int,
        topics: Sequence[str] = (),
        *,
        settled: bool = True,
    ) -> Positioned:
        """Up to `limit` notifications after `after`, in log order (only of `topics`
        when given, filtered by the database). `settled`: only those no later commit
        can precede (what a follower of the log may apply); else every committed
        one (a one-off read)."""
        found = recorder.select_notifications(
            start=after.notification_id,
            limit=limit,
            topics=topics,
            inclusive_of_start=False,
        )
        return [
            (LogPosition(0, notification.id), notification) for notification in found
        ]

    def head_position(self, recorder: ApplicationRecorder) -> LogPosition:
        """The position of the last committed notification in log order."""
        return LogPosition(0, self.head(recorder))

    def pending(
        self,
        recorder: ApplicationRecorder,
        after: LogPosition,
        at_most: int | None = None,
    ) -> int:
        """How many committed notifications come after `after` (ids may have gaps:
        an estimate from above where they do), counting no further than `at_most`
        (None: all)."""
        count = max(0, self.head(recorder) - after.notification_id)
        return count if at_most is None else min(count, at_most)

    def follows(
        self, recorder: ApplicationRecorder, before: LogPosition, first: LogPosition
    ) -> bool:
        """Whether `first` is the next position after `before` a follower may apply
        now (nothing can still come between them)."""
        return before == LogPosition(0, first.notification_id - 1)

    def wakeups(self, recorder: ApplicationRecorder) -> Wakeups:
        """How followers wait for new events (by default: their poll interval)."""
        return Wakeups(None, "")

    def stream_notifications(
        self, recorder: ApplicationRecorder, streams: Sequence[UUID], until: LogPosition
    ) -> Positioned:
        """Every notification of `streams` up to the position `until`, in log
        order: what an erasure replays. Here a walk of the log (memory://); the SQL
        backends look the streams up by index."""
        wanted = set(streams)
        last = until.notification_id
        return [
            (LogPosition(0, notification.id), notification)
            for notification in recorder.select_notifications(
                start=1, limit=max(last, 1), stop=last
            )
            if notification.originator_id in wanted
        ]

    def purged_places(
        self, recorder: ApplicationRecorder, after: LogPosition, until: LogPosition
    ) -> list[LogPosition]:
        """Where purged rows were in the log after `after` up to `until`, in log
        order: places read models number without applying. Here none: numbered by
        id, a purged row leaves its id unused and every other number alone."""
        return []

    def sequence_numbers(
        self, recorder: ApplicationRecorder, positions: Sequence[LogPosition]
    ) -> list[int]:
        """The number read models gave the event at each position (see
        ../log_position.py): here, with ids in commit order, its id."""
        return [position.notification_id for position in positions]

    @abstractmethod
    def prune_snapshots(
        self, recorder: AggregateRecorder, stream: UUID, version: int
    ) -> None:
        """Delete the stream's snapshots older than `version`: the newest is all a
        load needs."""

    @abstractmethod
    def purge(
        self,
        recorder: ApplicationRecorder,
        snapshots: AggregateRecorder | None,
        expected: Mapping[UUID, int],
        records: Sequence[StoredEvent],
    ) -> Purged:
        """In one transaction: delete every record and snapshot of the `expected`
        streams, each of which must still end at the version given (else
        eventsourcing's IntegrityError: a writer got in, nothing is deleted), and
        insert `records`. Deleted bytes are overwritten where the database can."""

    def reads_near_appends(
        self, recorder: ApplicationRecorder, database: ProjectionDatabase
    ) -> NearReads | None:
        """Reads of `database` on the connection appends use, where its page
        cache then holds what inline appends just wrote; None where reads gain
        nothing from that."""
        return None

    @abstractmethod
    def open_read_models(self, recorder: ApplicationRecorder) -> ProjectionDatabase:
        """The read models' database, opened; where it is the log's own, its
        `log_after` tells whether the log moved past a position, in a read's own
        snapshot."""
