"""The search read model's writes, for any number of rows at once.

Event by event a handler writes one document or one event's metadata changes;
a batch (`search_batch.py`) writes all of a batch's with the same statements,
one executemany each, so both paths store exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from pydantic import JsonValue

from ..domain.search import canonical
from ..infrastructure.sql import Cursor
from .projection import STREAMS_PER_STATEMENT

if TYPE_CHECKING:
    from .search import SearchProjection

TITLE = ""
"""The message id of a session's title document."""


class Doc(NamedTuple):
    """One searchable text: numbered by the log position of the event that wrote
    it (each event writes at most one), so a rebuild numbers it the same."""

    position: int
    stream: str
    message_id: str
    body: str
    owner: str
    """Whose key makes its tokens (under a master key; unused without one)."""


MetadataRow = tuple[str, str, str | None]
"""(stream, key, value as stored); a None value removes the key."""


def write_docs(projection: SearchProjection, cur: Cursor, docs: Sequence[Doc]) -> None:
    """Store documents: with their words (FTS5 on SQLite, a tsvector on
    PostgreSQL), or under a master key with the keyed tokens of their words
    instead (none once the owner's key is gone)."""
    table = projection.table
    if not projection.keeps_content:
        _write_bare_docs(projection, cur, docs)
        known: dict[str, dict[str, str]] = {}  # owner -> word -> token, this write
        cur.executemany(
            f"INSERT INTO {table('search_tokens')} (token, doc, stream) "
            "VALUES (?, ?, ?)",
            [
                (token, doc.position, doc.stream)
                for doc in docs
                for token in cur.sealer.tokens(
                    doc.owner, doc.body, known.setdefault(doc.owner, {})
                )
            ],
        )
    elif cur.dialect == "sqlite":
        _write_bare_docs(projection, cur, docs, with_text=True)
        cur.executemany(
            f"INSERT INTO {table('search_words')} (rowid, body) VALUES (?, ?)",
            [(doc.position, doc.body) for doc in docs],
        )
    else:
        cur.executemany(
            f"INSERT INTO {table('search_docs')} (doc, stream, message_id, body, "
            "words) SELECT ?, ?, ?, ?, to_tsvector(language::regconfig, ?) "
            f"FROM {table('search_config')}",
            [(*doc[:3], doc.body, doc.body) for doc in docs],
        )


def _write_bare_docs(
    projection: SearchProjection,
    cur: Cursor,
    docs: Sequence[Doc],
    *,
    with_text: bool = False,
) -> None:
    """The documents' rows: on SQLite `with_text` holds the text FTS5 reads
    (external content), else (under a master key) none; on PostgreSQL, here,
    none and no words."""
    rows: list[tuple[object, ...]]
    if cur.dialect == "sqlite":
        values, columns = "?, ?, ?, ?", ", body"
        rows = [(*doc[:3], doc.body if with_text else "") for doc in docs]
    else:
        values, columns = "?, ?, ?, '', ''::tsvector", ", body, words"
        rows = [doc[:3] for doc in docs]
    cur.executemany(
        f"INSERT INTO {projection.table('search_docs')} "
        f"(doc, stream, message_id{columns}) VALUES ({values})",
        rows,
    )


def remove_titles(
    projection: SearchProjection, cur: Cursor, streams: Sequence[str]
) -> None:
    """Delete the stored title documents of `streams` (their words or tokens too)."""
    table = projection.table
    docs = table("search_docs")
    for start in range(0, len(streams), STREAMS_PER_STATEMENT):
        chunk = streams[start:][:STREAMS_PER_STATEMENT]
        which = f"message_id = ? AND stream IN ({', '.join('?' * len(chunk))})"
        titles = f"SELECT doc FROM {docs} WHERE {which}"
        cur.execute(
            f"DELETE FROM {table('search_tokens')} WHERE doc IN ({titles})",
            (TITLE, *chunk),
        )
        projection.unindex(cur, which, (TITLE, *chunk))
        cur.execute(f"DELETE FROM {docs} WHERE {which}", (TITLE, *chunk))


def metadata_rows(
    cur: Cursor, stream: str, owner: str | None, changes: dict[str, JsonValue]
) -> list[MetadataRow]:
    """An event's top-level metadata changes as stored; with an `owner` (under a
    master key), key and value as their owner's tokens, and none once the
    owner's key is gone."""
    rows: list[MetadataRow] = []
    for name, value in changes.items():
        key: str | None = name
        stored = None if value is None else canonical(value)
        if owner is not None:
            key = cur.sealer.value_token(owner, name)
            stored = stored and cur.sealer.value_token(owner, stored)
        if key is None:
            break
        rows.append((stream, key, stored))
    return rows


def write_metadata(
    projection: SearchProjection, cur: Cursor, rows: Sequence[MetadataRow]
) -> None:
    """Set each (stream, key) to its value, or remove it; one row per key."""
    table = projection.table("search_metadata")
    cur.executemany(
        f"DELETE FROM {table} WHERE stream = ? AND key = ?",
        [(stream, key) for stream, key, _ in rows],
    )
    cur.executemany(
        f"INSERT INTO {table} (stream, key, value) VALUES (?, ?, ?)",
        [row for row in rows if row[2] is not None],
    )
