"""The inline mode's read path: reads first make sure the read models hold every
committed event, so a writer killed between its commit and its catch-up never
leaves a stale list behind."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ..infrastructure.sql import Cursor, ProjectionDatabase


class RefreshedReads(ProjectionDatabase):
    """A database whose reads first catch the read models up when they lag.

    `lagging(cur)` says, inside the read's transaction, which head the read models
    are behind (None when current); the read then catches up to it and reads anew.
    """

    def __init__(
        self,
        database: ProjectionDatabase,
        lagging: Callable[[Cursor], int | None],
        catch_up: Callable[[int], object],
    ) -> None:
        self.dialect = database.dialect
        self.log_head = database.log_head
        self._database = database
        self._lagging = lagging
        self._catch_up = catch_up

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.write()

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._database.read() as cur:
            head = self._lagging(cur)
            if head is None:
                yield cur
                return
        self._catch_up(head)
        with self._database.read() as cur:
            yield cur

    def close(self) -> None:
        self._database.close()
