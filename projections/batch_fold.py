"""What the batch paths of read models share: a batch folded in log order into
rows kept in memory, written back once, each event sent to the work its handler
would do (`handled_by`), and rows read 500 streams to a query."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from functools import singledispatchmethod
from typing import Any, ClassVar

from ..domain.event_model import EventModel
from ..domain.session import Session
from ..infrastructure.sql import Cursor
from .projection import STREAMS_PER_STATEMENT, Projection, class_apply


class BatchFold(ABC):
    """One batch of session events folded into a read model's rows."""

    _rows: dict[str, Any]
    """stream -> its row as the batch has made it (None: the read model has none)."""
    ignored: ClassVar[frozenset[str]] = frozenset()
    """The handlers (by name) whose events change nothing here: left out before
    any row is read, so a batch of only those costs no statement."""

    def __init__(self, projection: Projection, cur: Cursor) -> None:
        self._cur = cur
        self._handler = projection
        apply = class_apply(type(projection))
        assert isinstance(apply, singledispatchmethod)  # as `handled_as` checked
        self._dispatch = apply.dispatcher.dispatch

    def fold(self, events: Sequence[tuple[int, EventModel]]) -> None:
        """Apply (position, event) pairs in log order, then write what they changed."""
        events = [
            (position, event)
            for position, event in events
            if not (
                isinstance(event, Session.Event)
                and self.handled_by(event) in self.ignored
            )
        ]
        if not events:
            return
        sessions = [
            (position, event)
            for position, event in events
            if isinstance(event, Session.Event)
        ]
        self._load(str(event.originator_id) for _, event in sessions)
        for position, event in events:
            if isinstance(event, Session.Event):
                self._fold_one(position, event)
            else:  # another stream's event (a purge's record): its own handler
                self.flush()
                self._handler.apply(event, self._cur, position)
                self._reload()
        self.flush()

    def handled_by(self, event: Session.Event) -> str:
        """The name of the projection's handler that `apply` sends `event` to."""
        return str(self._dispatch(type(event)).__name__)

    def rows_of(self, select: str, streams: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The rows `select` (ending in `WHERE stream`) finds for `streams`."""
        for start in range(0, len(streams), STREAMS_PER_STATEMENT):
            chunk = streams[start:][:STREAMS_PER_STATEMENT]
            yield from self._cur.execute(
                f"{select} IN ({', '.join('?' * len(chunk))})", chunk
            ).fetchall()

    @abstractmethod
    def _load(self, streams: Iterable[str]) -> None:
        """Read the rows of `streams` not yet known."""

    def _reload(self) -> None:
        """Read again every row already read (a handler outside the batch ran)."""
        known = list(self._rows)
        self._rows.clear()
        self._load(known)

    @abstractmethod
    def _fold_one(self, position: int, event: Session.Event) -> None:
        """Fold one event into the rows in memory."""

    @abstractmethod
    def flush(self) -> None:
        """Write what the batch has changed so far."""
