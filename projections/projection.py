"""What a read model is: a name, a version, its tables and a handler per event type.

A projection's tables exist once per generation (`st_<table>_g<N>`); readers query
the view `st_<table>`, which a rebuild re-points at a new generation atomically.
Handlers run inside the runner's transaction, next to the position update, so an
event is applied exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..domain.session import Session
from .database import Cursor


@dataclass(frozen=True)
class Table:
    """One table of a read model: its columns and the indexes its queries need."""

    name: str
    columns: str
    indexes: tuple[str, ...] = ()


KEY_TEXT = {"sqlite": "TEXT", "postgresql": 'TEXT COLLATE "C"'}
"""Text that sorts by code point on both databases, as keyset cursors need."""


def view(table: str) -> str:
    """The name readers use for a table, whatever generation is live."""
    return f"st_{table}"


class Projection:
    """Base of read models; subclasses make `apply` a singledispatchmethod."""

    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[Table, ...]]

    def __init__(self, generation: int) -> None:
        self.generation = generation

    def table(self, name: str) -> str:
        """The physical table of this generation that handlers write to."""
        return f"st_{name}_g{self.generation}"

    def create(self, cur: Cursor) -> None:
        """Create this generation's tables and indexes (empty)."""
        for table in self.tables:
            physical = self.table(table.name)
            columns = table.columns.format(key=KEY_TEXT[cur.dialect])
            cur.execute(f"CREATE TABLE {physical} ({columns})")
            for number, columns in enumerate(table.indexes):
                cur.execute(
                    f"CREATE INDEX {physical}_i{number} ON {physical} ({columns})"
                )

    def drop(self, cur: Cursor) -> None:
        for table in self.tables:
            cur.execute(f"DROP TABLE IF EXISTS {self.table(table.name)}")

    def publish(self, cur: Cursor) -> None:
        """Point the readers' views at this generation (inside the caller's swap)."""
        for table in self.tables:
            cur.execute(f"DROP VIEW IF EXISTS {view(table.name)}")
            cur.execute(
                f"CREATE VIEW {view(table.name)} AS "
                f"SELECT * FROM {self.table(table.name)}"
            )

    def apply(self, event: Session.Event, cur: Cursor, position: int) -> None:
        """Fold one event (at notification `position`) into this generation."""
        raise NotImplementedError
