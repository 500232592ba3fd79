"""What a read model is: a name, a version, its tables and a handler per event type.

A projection's tables exist once per generation (`st_<table>_g<N>`). The registry
row in `st_projections` names the live generation; readers look it up in the same
snapshot as they read the rows, so a rebuild's swap (one UPDATE of that row) is
atomic for them. Views re-pointed by DDL would not be: PostgreSQL resolves a name
with the newest catalog but reads rows with the reader's older snapshot.
Handlers run inside the runner's transaction, next to the position update, so an
event is applied exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import ClassVar, Self

from ..domain.errors import StorageUnavailable
from ..domain.event_model import EventModel
from ..infrastructure.log_position import LOG_START, LogPosition
from ..infrastructure.sql import Cursor


@dataclass(frozen=True)
class Table:
    """One table of a read model: its columns and the indexes its queries need
    (each its columns, and for a partial index `WHERE` and the rows it holds:
    a row outside it is not written there)."""

    name: str
    columns: str
    indexes: tuple[str, ...] = ()

    def create_indexes(self, cur: Cursor, physical: str) -> None:
        """Create the indexes of this table, whose physical name is `physical`."""
        for number, index in enumerate(self.indexes):
            columns, where, rows = index.partition(" WHERE ")
            cur.execute(
                f"CREATE INDEX {physical}_i{number} ON {physical} ({columns})"
                f"{where}{rows}"
            )


KEY_TEXT = {"sqlite": "TEXT", "postgresql": 'TEXT COLLATE "C"'}
"""Text that sorts by code point on both databases, as keyset cursors need."""
BYTES = {"sqlite": "BLOB", "postgresql": "BYTEA"}
"""Raw bytes on both databases."""
POSITION_KEY = {"sqlite": "INTEGER PRIMARY KEY", "postgresql": "BIGINT PRIMARY KEY"}
"""A log position as a table's key; on SQLite the rowid itself, so the rows are
stored in its order and it needs no index of its own."""


STREAMS_PER_STATEMENT = 500
"""Streams named in one DELETE of an erasure."""

LIVE = "st_projections"
"""The registry: per projection, its live generation, version and position."""


class Projection:
    """Base of read models; subclasses make `apply` a singledispatchmethod."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]
    owners: ClassVar[str | None] = None
    """The table naming each stream's owner (`stream`, `user_id`): how an
    erasure finds one user's rows. None: this read model holds none."""
    per_stream: ClassVar[tuple[str, ...]] = ()
    """The tables whose rows belong to one stream (a `stream` column)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation

    @classmethod
    def live(cls, cur: Cursor) -> tuple[Self, int]:
        """The live generation and the position it has reached, in `cur`'s snapshot."""
        row = cur.execute(
            f"SELECT generation, position FROM {LIVE} WHERE name = ?", (cls.name,)
        ).fetchone()
        if row is None:
            raise StorageUnavailable(
                f"read model {cls.name!r} does not exist; connect() creates it"
            )
        return cls(row[0]), int(row[1])

    @classmethod
    def live_log(cls, cur: Cursor) -> LogPosition:
        """Where in the log the live generation is, in `cur`'s snapshot."""
        row = cur.execute(
            f"SELECT transaction_id, notification_id FROM {LIVE} WHERE name = ?",
            (cls.name,),
        ).fetchone()
        return LOG_START if row is None else LogPosition(row[0], row[1])

    def table(self, name: str) -> str:
        """The physical table of this generation that handlers write to."""
        return f"st_{name}_g{self.generation}"

    def create(self, cur: Cursor) -> None:
        """Create this generation's tables and indexes (empty)."""
        for table in self.tables:
            physical = self.table(table.name)
            columns = table.columns.format(
                key=KEY_TEXT[cur.dialect],
                bytes=BYTES[cur.dialect],
                position_key=POSITION_KEY[cur.dialect],
            )
            cur.execute(f"CREATE TABLE {physical} ({columns})")
            table.create_indexes(cur, physical)

    def settle(self, cur: Cursor) -> None:
        """Tidy what a rebuild's bulk writes left before the generation goes
        live (nothing, unless a read model says otherwise)."""

    def drop(self, cur: Cursor) -> None:
        for table in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {self.table(table.name)}")

    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Fold one event (at notification `position`) into this generation."""
        raise NotImplementedError

    def apply_batch(
        self, cur: Cursor, events: Sequence[tuple[int, EventModel]]
    ) -> None:
        """Fold (position, event) pairs in log order: one at a time here; a read
        model may read and write a batch's rows together instead. Each event goes
        straight to the handler its type picks: reaching `apply` through the
        instance would build a new bound wrapper per event (singledispatchmethod)."""
        own = class_apply(type(self))
        if "apply" in vars(self) or not isinstance(own, singledispatchmethod):
            for position, event in events:
                self.apply(event, cur, position)
            return
        handler = own.dispatcher.dispatch
        for position, event in events:
            handler(type(event))(self, event, cur, position)

    def folds_batch(
        self, events: Sequence[tuple[int, EventModel]], base: type[Projection]
    ) -> bool:
        """Whether `events` take `base`'s batch path (one read and one write per
        table for the batch): more than one event, and handled as `base`. One
        event alone, what an inline save mostly applies, costs less through its
        handler: the batch path's fixed part (reading whole rows, working out
        what changed, building the executemany lists) outweighs the statements
        it saves."""
        return len(events) > 1 and self.handled_as(base)

    def handled_as(self, base: type[Projection]) -> bool:
        """Whether this read model's events go to `base`'s handlers: a subclass
        with an `apply` of its own is not, so a batch path written for `base`
        would miss what it adds (it then applies a batch event by event); so is
        an `apply` replaced by a plain function (a test's stand-in)."""
        own = class_apply(type(self))
        return own is class_apply(base) and isinstance(own, singledispatchmethod)

    def owned_streams(self, cur: Cursor, user_id: str) -> list[str]:
        """The streams whose rows an erasure of `user_id` rewrites (by replaying
        their events once their key is gone)."""
        if self.owners is None:
            return []
        rows = cur.execute(
            f"SELECT stream FROM {self.table(self.owners)} WHERE user_id = ?",
            (user_id,),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def forget_streams(self, cur: Cursor, streams: Sequence[str]) -> None:
        """Delete every row of `streams`, which a purge deleted from the log (what
        an erasure's `forget` does, less what concerns the user beyond them)."""
        self.forget(cur, "", streams)

    def forget(self, cur: Cursor, user_id: str, streams: Sequence[str]) -> None:
        """Delete every row of `streams` (which `user_id` owns)."""
        for start in range(0, len(streams), STREAMS_PER_STATEMENT):
            chunk = streams[start:][:STREAMS_PER_STATEMENT]
            marks = ", ".join("?" * len(chunk))
            for table in self.per_stream:
                cur.execute(
                    f"DELETE FROM {self.table(table)} WHERE stream IN ({marks})",
                    chunk,
                )


def class_apply(projection: type[Projection]) -> object:
    """The `apply` a read model's class defines or inherits, as defined (a
    `singledispatchmethod`, unbound): what `inspect.getattr_static` finds, for
    a fraction of its cost on every batch."""
    for klass in projection.__mro__:
        if "apply" in vars(klass):
            return vars(klass)["apply"]
    raise AttributeError(f"{projection.__name__} has no apply")
