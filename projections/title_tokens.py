"""Keyed title tokens: whole-word title search that works on sealed read models.

With a master key every title is sealed (`sealed_columns.py`), so no SQL can
match its words. This read model keeps, per session, the keyed tokens of its
current title's words (`search_tokens.py`: an HMAC per word under a key derived
from the owner's data key), and finds a user's sessions by one word: the word's
token is computed with the asking user's key, so another user's words never
match, and once a user is erased no token of theirs can be computed (and the
erasure's replay writes none). Kept only with a master key (without one, titles
are plaintext and this read model stays empty).

It is the seam full-text search builds on: `SessionSearch.titled` answers one
word; more texts (messages) are more rows of the same shape.
"""

from __future__ import annotations

from functools import singledispatchmethod

from pydantic import StrictStr

from ..domain.event_model import EventModel
from ..domain.session import Session
from ..domain.validation import UserId, validated
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .projection import Projection, Table


class TitleTokensProjection(Projection):
    """Folds session starts and title edits into per-user keyed word tokens."""

    name = "title_tokens"
    version = 2  # 2: owners indexed by user, for erasure
    tables = (
        Table(
            "title_streams",
            "stream TEXT PRIMARY KEY, session_id TEXT NOT NULL, user_id TEXT",
            indexes=("user_id",),
        ),
        Table(
            "title_tokens",
            "user_id TEXT NOT NULL, token TEXT NOT NULL, stream TEXT NOT NULL, "
            "PRIMARY KEY (user_id, token, stream)",
            indexes=("stream",),
        ),
    )
    owners = "title_streams"
    per_stream = ("title_tokens", "title_streams")

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Other events do not change titles."""

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        if not cur.sealer.active:
            return
        stream = str(event.originator_id)
        cur.execute(
            f"INSERT INTO {self.table('title_streams')} (stream, session_id, user_id) "
            "VALUES (?, ?, ?) ON CONFLICT (stream) DO NOTHING",
            (stream, event.session_id, event.user_id),
        )
        self._index(cur, stream, event.user_id, event.title)

    @apply.register
    def _titled(self, event: Session.TitleEdited, cur: Cursor, position: int) -> None:
        if not cur.sealer.active:
            return
        stream = str(event.originator_id)
        owner = cur.sealer.owner(cur, self.table("title_streams"), stream)
        self._index(cur, stream, owner, event.title)

    def _index(self, cur: Cursor, stream: str, owner: str | None, title: str) -> None:
        """Replace the stream's tokens by those of `title`'s words."""
        tokens = self.table("title_tokens")
        cur.execute(f"DELETE FROM {tokens} WHERE stream = ?", (stream,))
        cur.executemany(
            f"INSERT INTO {tokens} (user_id, token, stream) VALUES (?, ?, ?)",
            [(owner, token, stream) for token in cur.sealer.tokens(owner, title)],
        )


class SessionSearch:
    """Finds a user's sessions by a word, on sealed read models."""

    def __init__(self, database: ProjectionDatabase) -> None:
        self._database = database

    @validated
    def titled(self, user_id: UserId, word: StrictStr) -> list[str]:
        """Ids of `user_id`'s sessions whose title has `word` (whole word, any
        case), sorted; none without a master key or once the user is erased."""
        with self._database.read() as cur:
            token = cur.sealer.token(user_id, word)
            if token is None:
                return []
            tables, _ = TitleTokensProjection.live(cur)
            rows = cur.execute(
                f"SELECT s.session_id FROM {tables.table('title_tokens')} t "
                f"JOIN {tables.table('title_streams')} s ON s.stream = t.stream "
                "WHERE t.user_id = ? AND t.token = ? ORDER BY s.session_id",
                (user_id, token),
            ).fetchall()
        return [str(row[0]) for row in rows]
