"""The search read model folded a batch of events at a time.

What `SearchProjection.apply` does event by event, in a few statements per batch:
the batch's session owners are read 500 streams to a query, its documents (with
their words, or under a master key their keyed tokens) and metadata written with
one executemany per table (`search_rows.py`). Event by event that is two or three
statements per message, each a round trip on PostgreSQL. A title edit drops the
batch's own earlier title of the session in memory and the stored one at the
next write; a truncation (it deletes stored documents) is applied by its own
handler once the batch so far is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import JsonValue

from ..domain.session import Session
from ..infrastructure.sealed_columns import ANONYMOUS
from ..infrastructure.sql import Cursor
from .batch_fold import BatchFold
from .search import SearchProjection, indexed_text, searchable, token_owner
from .search_rows import (
    TITLE,
    Doc,
    MetadataRow,
    metadata_rows,
    remove_titles,
    write_docs,
    write_metadata,
)

Owner = tuple[str | None]
"""A session's row: (user id,)."""
FOLDED = frozenset({"_started", "_appended", "_titled", "_metadata"})
"""The handlers of `SearchProjection.apply` (by name) this module does the work of."""


class SearchBatch(BatchFold):
    """The sessions, documents and metadata one batch adds, until `flush`."""

    ignored = frozenset({"apply"})  # the events nothing searchable comes from

    def __init__(self, projection: SearchProjection, cur: Cursor) -> None:
        super().__init__(projection, cur)
        self._projection = projection
        self._rows: dict[str, Owner | None] = {}
        self._sessions: list[tuple[str, str | None]] = []
        self._docs: dict[int, Doc] = {}
        """position -> a document to write (insertion order is log order)."""
        self._titles: dict[str, list[int]] = {}
        """stream -> the positions of its title documents in `_docs`."""
        self._new: set[str] = set()
        """Streams started in this batch since the last write: none of their
        documents is stored yet."""
        self._retitled: dict[str, None] = {}
        """Streams whose stored title documents go at the next write."""
        self._metadata: dict[tuple[str, str], MetadataRow] = {}

    def _fold_one(self, position: int, event: Session.Event) -> None:
        handler = self.handled_by(event)
        stream = str(event.originator_id)
        if handler not in FOLDED:  # a truncation, or a handler added later
            self.flush()
            self._projection.apply(event, self._cur, position)
            del self._rows[stream]
            self._load([stream])
        elif isinstance(event, Session.Started):
            if self._rows[stream] is None:
                self._rows[stream] = (event.user_id,)
                self._sessions.append((stream, event.user_id))
                self._new.add(stream)
            self._add(position, stream, TITLE, event.title)
            self._set_metadata(stream, event.metadata)
        elif isinstance(event, Session.MessageAppended):
            message = event.message
            self._add(position, stream, message.id, searchable(message))
        elif isinstance(event, Session.TitleEdited):
            for title in self._titles.pop(stream, []):
                del self._docs[title]
            if stream not in self._new:
                self._retitled[stream] = None
            self._add(position, stream, TITLE, event.title)
        elif isinstance(event, Session.MetadataEdited):
            self._set_metadata(stream, event.changes)

    def _owner(self, stream: str) -> str:
        """Whose key makes `stream`'s tokens, as `SearchProjection._owner` finds."""
        row = self._rows[stream]
        return token_owner(None if row is None else row[0])

    def _add(self, position: int, stream: str, message_id: str, body: str) -> None:
        if not body:
            return
        owner = ANONYMOUS if self._projection.keeps_content else self._owner(stream)
        body = indexed_text(body)
        self._docs[position] = Doc(position, stream, message_id, body, owner)
        if message_id == TITLE:
            self._titles.setdefault(stream, []).append(position)

    def _set_metadata(self, stream: str, changes: dict[str, JsonValue]) -> None:
        owner = None if self._projection.keeps_content else self._owner(stream)
        for row in metadata_rows(self._cur, stream, owner, changes):
            self._metadata[row[:2]] = row

    def _load(self, streams: Iterable[str]) -> None:
        """Read the owners of `streams` not yet known, 500 to a query."""
        wanted = sorted({stream for stream in streams if stream not in self._rows})
        self._rows.update(dict.fromkeys(wanted))
        table = self._projection.table("search_sessions")
        select = f"SELECT stream, user_id FROM {table} WHERE stream"
        for stream, user_id in self.rows_of(select, wanted):
            self._rows[stream] = (user_id,)

    def flush(self) -> None:
        """Write the sessions, documents and metadata changed so far."""
        projection, cur = self._projection, self._cur
        cur.executemany(
            f"INSERT INTO {projection.table('search_sessions')} (stream, user_id) "
            "VALUES (?, ?) ON CONFLICT (stream) DO NOTHING",
            self._sessions,
        )
        remove_titles(projection, cur, list(self._retitled))
        write_docs(projection, cur, list(self._docs.values()))
        write_metadata(projection, cur, list(self._metadata.values()))
        self._sessions, self._docs, self._titles = [], {}, {}
        self._new, self._retitled, self._metadata = set(), {}, {}
