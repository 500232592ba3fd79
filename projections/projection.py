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

from dataclasses import dataclass
from typing import ClassVar, Self

from ..domain.errors import StorageUnavailable
from ..domain.event_model import EventModel
from ..infrastructure.log_position import LOG_START, LogPosition
from ..infrastructure.sql import Cursor


@dataclass(frozen=True)
class Table:
    """One table of a read model: its columns and the indexes its queries need."""

    name: str
    columns: str
    indexes: tuple[str, ...] = ()


KEY_TEXT = {"sqlite": "TEXT", "postgresql": 'TEXT COLLATE "C"'}
"""Text that sorts by code point on both databases, as keyset cursors need."""
BYTES = {"sqlite": "BLOB", "postgresql": "BYTEA"}
"""Raw bytes on both databases."""


LIVE = "st_projections"
"""The registry: per projection, its live generation, version and position."""


class Projection:
    """Base of read models; subclasses make `apply` a singledispatchmethod."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

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
                key=KEY_TEXT[cur.dialect], bytes=BYTES[cur.dialect]
            )
            cur.execute(f"CREATE TABLE {physical} ({columns})")
            for number, columns in enumerate(table.indexes):
                cur.execute(
                    f"CREATE INDEX {physical}_i{number} ON {physical} ({columns})"
                )

    def drop(self, cur: Cursor) -> None:
        for table in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {self.table(table.name)}")

    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Fold one event (at notification `position`) into this generation."""
        raise NotImplementedError
