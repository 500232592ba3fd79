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
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
)

from ..settings import BackendName, Settings
from ..sql import ProjectionDatabase
from ..user_keys import KeyTable

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

    def write_lock(self) -> AbstractContextManager[Any]:
        """What this process holds around each append (none by default)."""
        return contextlib.nullcontext()

    @abstractmethod
    def key_table(self, recorder: AggregateRecorder) -> KeyTable:
        """The table of users' wrapped data keys, created if missing."""

    @abstractmethod
    def stream_ids(
        self, recorder: AggregateRecorder, after: UUID | None, limit: int
    ) -> list[UUID]:
        """Up to `limit` stream ids greater than `after` (None: from the first)."""

    def head(self, recorder: ApplicationRecorder) -> int:
        """The newest notification id in the log (0 when empty)."""
        return recorder.max_notification_id() or 0

    def notifications(
        self,
        recorder: ApplicationRecorder,
        after: int,
        limit: int,
        topics: Sequence[str] = (),
    ) -> Sequence[Notification]:
        """Up to `limit` notifications after the id `after`, in log order (only
        of `topics` when given, filtered by the database)."""
        return recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )

    def stream_notifications(
        self, recorder: ApplicationRecorder, streams: Sequence[UUID], until: int
    ) -> list[Notification]:
        """Every notification of `streams` up to the id `until`, in log order: what
        an erasure replays. Here a walk of the log (memory://); the SQL backends
        look the streams up by index."""
        wanted = set(streams)
        return [
            notification
            for notification in recorder.select_notifications(
                start=1, limit=max(until, 1), stop=until
            )
            if notification.originator_id in wanted
        ]

    @abstractmethod
    def prune_snapshots(
        self, recorder: AggregateRecorder, stream: UUID, version: int
    ) -> None:
        """Delete the stream's snapshots older than `version`: the newest is all a
        load needs."""

    @abstractmethod
    def open_read_models(self, recorder: ApplicationRecorder) -> ProjectionDatabase:
        """The read models' database, opened; where it is the log's own, its
        `log_head` reads the log's head in a read's own snapshot."""
