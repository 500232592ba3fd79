"""The inline mode: read models current on every write and every read.

A write's own events reach the read models without being read back: the store
tells `RecentWrites` what each append committed, and the runner's catch-up to
that append's position applies them (when every read model is right before
them). Reads first make sure the read models hold every committed event
(`RefreshedReads`), so a writer killed between its commit and its catch-up
never leaves a stale list behind; while another thread is catching up, a read
reads the read models as they are instead of waiting for it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

from ..domain.event_model import EventModel
from ..infrastructure.log_position import LogPosition
from ..infrastructure.sql import Cursor, ProjectionDatabase

Recent = list[tuple[LogPosition, EventModel]]
"""A write's events, each with its position in the log."""


class RecentWrites:
    """The events this thread's last append committed (a store's on_commit
    listener), handed once to the catch-up that follows it."""

    def __init__(self) -> None:
        self._local = threading.local()

    def remember(self, committed: Sequence[tuple[LogPosition, EventModel]]) -> None:
        self._local.last = list(committed)

    def take(self, position: LogPosition) -> Recent | None:
        """This thread's last committed append, if it ended at `position` (once)."""
        recent: Recent | None = getattr(self._local, "last", None)
        self._local.last = None
        if recent and recent[-1][0] == position:
            return recent
        return None


class RefreshedReads(ProjectionDatabase):
    """A database whose reads first catch the read models up when they lag.

    `lagging(cur)` says, inside the read's transaction, whether the log holds
    events the read models have not applied; the read then calls `catch_up`
    (which applies what the log gives, or, for the trail's inline reads, returns
    at once while another thread applies) and reads anew.
    """

    def __init__(
        self,
        database: ProjectionDatabase,
        lagging: Callable[[Cursor], bool],
        catch_up: Callable[[], object],
    ) -> None:
        self.dialect = database.dialect
        self.log_after = database.log_after
        self._database = database
        self._lagging = lagging
        self._catch_up = catch_up

    def write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._database.write()

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._database.read() as cur:
            if not self._lagging(cur):
                yield cur
                return
        self._catch_up()
        with self._database.read() as cur:
            yield cur

    def close(self) -> None:
        self._database.close()


class UnmovedLog:
    """A lag check that reads no page while nothing but this process's own
    appends wrote to the file since a check found no lag: `marker(cur)` (asked
    first in the read) is then unchanged and each of those appends was applied
    as it committed (`applied`). Else `lagging(cur)` asks the database.

    Register `committed` with the store (`on_commit`) so the check knows the
    last position this process appended."""

    def __init__(
        self,
        lagging: Callable[[Cursor], bool],
        applied: Callable[[LogPosition], bool],
        marker: Callable[[Cursor], int],
    ) -> None:
        self._lagging = lagging
        self._applied = applied
        self._marker = marker
        self._checked: int | None = None
        self._appended: LogPosition | None = None
        self._lock = threading.Lock()  # appends' listeners run in their threads

    def committed(self, recent: Sequence[tuple[LogPosition, EventModel]]) -> None:
        """An append of this process committed these events."""
        last = recent[-1][0]
        with self._lock:
            if self._appended is None or last > self._appended:
                self._appended = last

    def __call__(self, cur: Cursor) -> bool:
        marker = self._marker(cur)
        appended = self._appended
        if marker == self._checked and (appended is None or self._applied(appended)):
            return False
        behind = self._lagging(cur)
        if not behind:
            self._checked = marker
        return behind
