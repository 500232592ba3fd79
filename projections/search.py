"""The search read model: words of titles and messages, and metadata values.

- `search_docs`: one row per searchable text of a session: its title (message id
  '') and each live message (content, tool names and arguments). On SQLite its
  words are in an FTS5 table (`search_words`, rowid = doc) with the `unicode61`
  tokenizer (diacritics folded) whose text is the row's own `body` (external
  content: FTS5 keeps no second copy, so a document is one row fewer to write;
  a document's words leave FTS5 by a 'delete' naming the text it was given,
  before its row goes). FTS5 keeps no size per document either (`columnsize =
  0`: one page fewer per save); bm25 counts the words of each document it
  scores from its text, as snippets do. On PostgreSQL in a `tsvector` column
  under a GIN index, parsed with the text search configuration the generation
  was built with (`search_config`; $SESSIONTRAIL_SEARCH_LANGUAGE, `simple` by
  default, so ids and code tokens match as written). Changing the language
  takes a rebuild.
- `search_metadata`: each session's top-level metadata values (canonical JSON),
  indexed by (key, value) for equality filters.

- `search_tokens`: under a master key only, the keyed tokens of each document's
  words (`infrastructure/search_tokens.py`: an HMAC per normalised word under a
  key derived from the owner's data key), instead of its words.

Its own projection, apart from the session index, so search can be rebuilt (and
changed) without touching lists. A message removed by a truncation leaves it.
Under a master key the trail registers `SealedSearchProjection` instead, which
keeps tokens, not words, and metadata keys and values as tokens too (sealed
content stays sealed; an erased user's replay writes none: their key is gone).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from functools import singledispatchmethod
from typing import ClassVar

from pydantic import JsonValue

from ..domain.errors import InvalidInput, StorageUnavailable
from ..domain.event_model import EventModel
from ..domain.qa import DEFAULT_USER
from ..domain.search import canonical
from ..domain.session import Session
from ..domain.values import Message
from ..infrastructure.sealed_columns import ANONYMOUS
from ..infrastructure.sql import Cursor
from .projection import Projection, Table
from .search_rows import TITLE as TITLE  # where readers have always found it
from .search_rows import Doc, metadata_rows, write_docs, write_metadata

LANGUAGE_ENV = "SESSIONTRAIL_SEARCH_LANGUAGE"
DEFAULT_LANGUAGE = "simple"
_LANGUAGE = re.compile(r"[a-z_][a-z0-9_]*")
_DELETE_CHUNK = 500
MAX_INDEXED_CHARS = 100_000
"""How much of one title or message is searchable: PostgreSQL refuses a
`tsvector` over 1 MiB, and a longer text makes a poor snippet anyway."""


def indexed_text(body: str) -> str:
    """The part of a title or message that is searched: its first
    MAX_INDEXED_CHARS, a NUL as a space (PostgreSQL text cannot hold one, and
    a message with one would go unsearched there; it separates no word less)."""
    return body[:MAX_INDEXED_CHARS].replace("\x00", " ")


def token_owner(user_id: str | None) -> str:
    """Whose key makes a session's search tokens: its user's, or for sessions of
    no user the key of anonymous content."""
    return ANONYMOUS if user_id in (None, DEFAULT_USER) else str(user_id)


def language() -> str:
    """The PostgreSQL text search configuration new generations are built with."""
    name = os.environ.get(LANGUAGE_ENV, DEFAULT_LANGUAGE)
    if not _LANGUAGE.fullmatch(name):
        raise InvalidInput(
            f"{LANGUAGE_ENV}: {name!r} is not a text search configuration name"
        )
    return name


def searchable(message: Message) -> str:
    """The text of a message that search finds: content, tool names, arguments."""
    parts = [message.content]
    for call in message.tool_calls or ():
        arguments = call.arguments
        parts += [
            call.name,
            arguments if isinstance(arguments, str) else canonical(arguments),
        ]
    return "\n".join(part for part in parts if part)


class SearchProjection(Projection):
    """Folds titles, messages and metadata of sessions into searchable rows."""

    name = "search"
    version = 4  # 2: keyed tokens under a master key (`search_tokens`);
    # 3: on SQLite, FTS5 reads the text from `search_docs` (external content);
    # 4: on SQLite, no stored size per document (`columnsize = 0`)
    keeps_content: ClassVar[bool] = True
    """False under a master key: tokens instead of words and metadata values."""
    tables = (
        Table(  # built by `create`: its columns differ by database
            "search_docs",
            "doc, stream, message_id",
            indexes=("stream, message_id",),
        ),
        Table(
            "search_metadata",
            "stream TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "PRIMARY KEY (stream, key)",
            indexes=("key, value, stream",),
        ),
        Table("search_config", "language TEXT NOT NULL, keyed SMALLINT NOT NULL"),
        Table(
            "search_sessions",
            "stream TEXT PRIMARY KEY, user_id TEXT",
            indexes=("user_id",),
        ),
        Table(
            "search_tokens",
            "token TEXT NOT NULL, doc BIGINT NOT NULL, stream TEXT NOT NULL, "
            "PRIMARY KEY (token, doc)",
            indexes=("stream, token",),
        ),
    )
    owners = "search_sessions"
    per_stream = (
        "search_tokens",
        "search_docs",
        "search_metadata",
        "search_sessions",
    )

    def create(self, cur: Cursor) -> None:
        docs = self.table("search_docs")
        if cur.dialect == "sqlite":
            cur.execute(
                f"CREATE TABLE {docs} (doc INTEGER PRIMARY KEY, "
                "stream TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL)"
            )
            self._create_words(cur)
        else:
            cur.execute(
                f"CREATE TABLE {docs} (doc BIGINT PRIMARY KEY, "
                "stream TEXT NOT NULL, message_id TEXT NOT NULL, "
                "body TEXT NOT NULL, words TSVECTOR NOT NULL)"
            )
            cur.execute(f"CREATE INDEX {docs}_words ON {docs} USING GIN (words)")
        cur.execute(f"CREATE INDEX {docs}_i0 ON {docs} (stream, message_id)")
        for table in self.tables[1:]:
            physical = self.table(table.name)
            cur.execute(f"CREATE TABLE {physical} ({table.columns})")
            table.create_indexes(cur, physical)
        cur.execute(
            f"INSERT INTO {self.table('search_config')} (language, keyed) "
            "VALUES (?, ?)",
            (language(), int(not self.keeps_content)),
        )

    def settle(self, cur: Cursor) -> None:
        """PostgreSQL: move the rebuild's last documents from the GIN index's
        pending list into the index: every word query reads the whole pending
        list (up to `gin_pending_list_limit`, 4 MB by default) until a vacuum
        merges it."""
        if cur.dialect != "sqlite":
            index = f"{self.table('search_docs')}_words"
            cur.execute("SELECT gin_clean_pending_list(?::regclass)", (index,))

    def _create_words(self, cur: Cursor) -> None:
        """SQLite: the FTS5 table of the documents' words (rowid = doc), reading
        their text from `search_docs`, with no table of their sizes."""
        try:
            cur.execute(
                f"CREATE VIRTUAL TABLE {self.table('search_words')} USING fts5("
                f"body, content = '{self.table('search_docs')}', content_rowid = "
                "'doc', columnsize = 0, "
                "tokenize = 'unicode61 remove_diacritics 2')"
            )
        except sqlite3.OperationalError as exc:
            raise StorageUnavailable(
                "search needs SQLite's FTS5 extension, which this Python's "
                f"sqlite3 lacks ({exc})"
            ) from exc

    def forget(self, cur: Cursor, user_id: str, streams: Sequence[str]) -> None:
        """An erasure's first step: the streams' words go with their documents."""
        for stream in streams:
            self.unindex(cur, "stream = ?", (stream,))
        super().forget(cur, user_id, streams)

    def drop(self, cur: Cursor) -> None:
        super().drop(cur)
        cur.execute(f"DROP TABLE IF EXISTS {self.table('search_words')}")

    def apply_batch(
        self, cur: Cursor, events: Sequence[tuple[int, EventModel]]
    ) -> None:
        """What `apply` does event by event, with the batch's documents and
        metadata written with executemany (`SearchBatch`); one event alone goes
        to its handler (see `folds_batch`)."""
        if self.folds_batch(events, SearchProjection):
            from .search_batch import SearchBatch  # it builds on this module

            SearchBatch(self, cur).fold(events)
        else:
            super().apply_batch(cur, events)

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Other events change nothing searchable."""

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        stream = str(event.originator_id)
        cur.execute(
            f"INSERT INTO {self.table('search_sessions')} (stream, user_id) "
            "VALUES (?, ?) ON CONFLICT (stream) DO NOTHING",
            (stream, event.user_id),
        )
        self._add(cur, position, stream, TITLE, event.title)
        self._set_metadata(cur, stream, event.metadata)

    def _owner(self, cur: Cursor, stream: str) -> str:
        """The owner whose key makes `stream`'s tokens (under a master key)."""
        return token_owner(cur.sealer.owner(cur, self.table("search_sessions"), stream))

    @apply.register
    def _appended(
        self, event: Session.MessageAppended, cur: Cursor, position: int
    ) -> None:
        message = event.message
        self._add(
            cur, position, str(event.originator_id), message.id, searchable(message)
        )

    @apply.register
    def _titled(self, event: Session.TitleEdited, cur: Cursor, position: int) -> None:
        stream = str(event.originator_id)
        self._remove(cur, stream, [TITLE])
        self._add(cur, position, stream, TITLE, event.title)

    @apply.register
    def _truncated(
        self, event: Session.TranscriptTruncated, cur: Cursor, position: int
    ) -> None:
        self._remove(cur, str(event.originator_id), event.removed_ids)

    @apply.register
    def _metadata(
        self, event: Session.MetadataEdited, cur: Cursor, position: int
    ) -> None:
        self._set_metadata(cur, str(event.originator_id), event.changes)

    def _add(
        self, cur: Cursor, position: int, stream: str, message_id: str, body: str
    ) -> None:
        """One document (`search_rows.Doc`); an empty text has none."""
        if body:
            owner = ANONYMOUS if self.keeps_content else self._owner(cur, stream)
            doc = Doc(position, stream, message_id, indexed_text(body), owner)
            write_docs(self, cur, [doc])

    def _remove(self, cur: Cursor, stream: str, message_ids: Iterable[str]) -> None:
        docs, tokens = self.table("search_docs"), self.table("search_tokens")
        ids = list(message_ids)
        for start in range(0, len(ids), _DELETE_CHUNK):
            chunk = ids[start : start + _DELETE_CHUNK]
            which = f"stream = ? AND message_id IN ({', '.join('?' * len(chunk))})"
            cur.execute(
                f"DELETE FROM {tokens} WHERE stream = ? AND doc IN "
                f"(SELECT doc FROM {docs} WHERE {which})",
                (stream, stream, *chunk),
            )
            self.unindex(cur, which, (stream, *chunk))
            cur.execute(f"DELETE FROM {docs} WHERE {which}", (stream, *chunk))

    def unindex(self, cur: Cursor, which: str, values: Sequence[str]) -> None:
        """SQLite: take the words of the documents `which` selects out of FTS5
        (before their rows go: it is told the text each was indexed with). Under
        a master key FTS5 holds no document, and must not be told of one."""
        if cur.dialect != "sqlite" or not self.keeps_content:
            return
        words = self.table("search_words")
        cur.execute(
            f"INSERT INTO {words} ({words}, rowid, body) SELECT 'delete', doc, body "
            f"FROM {self.table('search_docs')} WHERE {which}",
            values,
        )

    def _set_metadata(
        self, cur: Cursor, stream: str, changes: dict[str, JsonValue]
    ) -> None:
        """Apply top-level metadata changes; a None value removes the key. Under a
        master key, key and value are stored as their owner's tokens (none once
        the owner's key is gone)."""
        owner = None if self.keeps_content else self._owner(cur, stream)
        write_metadata(self, cur, metadata_rows(cur, stream, owner, changes))


class SealedSearchProjection(SearchProjection):
    """The search read model of a trail under a master key: documents hold keyed
    tokens of their words, metadata keys and values are tokens, so no plaintext
    of sealed content lands in it; reads match whole words only
    (see session_list/tokens.py)."""

    keeps_content = False
