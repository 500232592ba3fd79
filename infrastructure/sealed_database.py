"""The read models' database with sealing cursors (only with a master key)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import Notification

from .log_position import LogPosition
from .sealed_columns import ColumnSealer
from .sql import Cursor, ProjectionDatabase


class SealedDatabase(ProjectionDatabase):
    """The read models' database whose cursors seal with `sealer`: the one
    change a master key makes to the read models."""

    def __init__(self, database: ProjectionDatabase, sealer: ColumnSealer) -> None:
        self.dialect = database.dialect
        self.log_after, self.log_rows = database.log_after, database.log_rows
        self.log_places = database.log_places
        self.shares_catch_ups = database.shares_catch_ups
        self._database = database
        self.sealer = sealer

    @contextlib.contextmanager
    def write(self) -> Iterator[Cursor]:
        with self._database.write() as cur:
            cur.sealer = self.sealer
            yield cur

    @contextlib.contextmanager
    def applying(
        self, look: str, done: Callable[[Sequence[Any]], bool]
    ) -> Iterator[tuple[Cursor, bool, Sequence[Any] | None]]:
        with self._database.applying(look, done) as (cur, apply, looked):
            cur.sealer = self.sealer
            yield cur, apply, looked

    def logged(
        self, rows: Sequence[Sequence[Any]]
    ) -> list[tuple[LogPosition, Notification]]:
        return self._database.logged(rows)

    def announce_catch_ups(self) -> None:
        self._database.announce_catch_ups()

    def applied(self, cur: Cursor) -> None:
        self._database.applied(cur)

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._database.read() as cur:
            cur.sealer = self.sealer
            yield cur

    def compact(self) -> bool:
        return self._database.compact()

    def rewrite(self, full: bool) -> tuple[int, int]:
        return self._database.rewrite(full)

    def close(self) -> None:
        self._database.close()
