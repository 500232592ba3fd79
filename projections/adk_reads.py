"""What the Google ADK adapter reads of the `adk` read model (adk.py): its sessions
with their state and events, and the app's and users' shared state.

`session_and_messages` reads a session's state (the `adk` read model) and its
events (the `sessions` read model's transcript) in one read transaction, so both
are as of one moment, as ADK's DatabaseSessionService reads them in one database
session: read apart, an event appended between the two reads would be among the
events and missing from the state (or the reverse). In worker mode the trail
builds this on a database whose reads first bring those two read models up to
the log (trail.py), and `catch_up` brings up those two alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..domain.session import stream_id
from ..domain.session_ids import nfc
from ..domain.values import Message
from ..infrastructure.session_ids import StoredIds
from ..infrastructure.sql import Cursor, ProjectionDatabase
from .adk import APP, GENERATIONS, USER, AdkProjection, generation_id, trail_session_id
from .columns import any_spelling
from .session_list.reader import SessionIndex, transcript_rows


class StoredAdkSession(NamedTuple):
    """A live ADK session as one read found it."""

    key: str
    """Its sessiontrail id."""
    state: dict[str, Any]
    """Its own state and the shared "app:" and "user:" keys, prefixed."""
    updated_at: float
    messages: list[Message]
    """Its newest messages, oldest first (those asked for)."""


class AdkReads:
    """What the ADK adapter reads: sessions with their state and events, and
    shared state."""

    def __init__(
        self,
        database: ProjectionDatabase,
        ids: StoredIds,
        transcripts: SessionIndex,
        catch_up: Callable[[], object],
    ) -> None:
        """`ids` finds the stored spelling of a session id in the log;
        `transcripts` decodes the messages read here; `catch_up` brings the
        read models read here up to the log, waiting for one under way."""
        self._database = database
        self._ids = ids
        self._transcripts = transcripts
        self._catch_up = catch_up

    def catch_up(self) -> None:
        """Bring the sessions and ADK read models up to the log now, waiting for
        another thread's catch-up under way (a read alone may not, inline): a
        session another process or thread just created is then read. Worker
        mode applies those two read models only, leaving the rest to the
        worker; inline mode keeps every read model current together, as each
        write does."""
        self._catch_up()

    def session(
        self, app: str, user_id: str, session_id: str
    ) -> tuple[str, dict[str, Any], float] | None:
        """The live session under an ADK id: its sessiontrail id, merged state
        (ADK's prefixes) and update time. The first session under the id is
        looked up by its sessiontrail id (any spelling of it); if that one was
        deleted, a later one by user and ADK id."""
        found = self.session_and_messages(app, user_id, session_id, last_n=0)
        return None if found is None else (found.key, found.state, found.updated_at)

    def session_and_messages(
        self, app: str, user_id: str, session_id: str, *, last_n: int | None
    ) -> StoredAdkSession | None:
        """`session`, with its newest `last_n` messages (every one: None; none:
        0), both read in one transaction; None if there is no live session."""
        first = trail_session_id(app, user_id, session_id)
        stream = str(self._ids.stream(first))
        with self._database.read() as cur:
            found = _live(cur, app, user_id, session_id, first, stream)
            if found is None:
                return None
            rows = None
            if last_n != 0:
                rows = transcript_rows(
                    cur,
                    found.stream,
                    found.key,
                    user_id=user_id,
                    last_n=last_n,
                    before=None,
                )
        page = [] if rows is None else self._transcripts.page(rows, found.key).items
        return StoredAdkSession(found.key, found.state, found.updated_at, page)

    def sessions(
        self, app: str, user_id: str | None
    ) -> list[tuple[str, str, dict[str, Any], float]]:
        """(user, session id, merged state, updated_at) of the app's live sessions
        (one user's, or everyone's), least recently updated first, as ADK lists."""
        user_filter = "" if user_id is None else " AND user_id = ?"
        apps, names = any_spelling("app", app)
        with self._database.read() as cur:
            tables, _ = AdkProjection.live(cur)
            rows = cur.execute(
                f"SELECT user_id, session_id, state, updated_at "
                f"FROM {tables.table('adk_sessions')} "
                f"WHERE {apps} AND deleted = 0{user_filter} "
                "ORDER BY updated_at, user_id, session_id",
                names if user_id is None else (*names, user_id),
            ).fetchall()
            shared = _shared(cur, tables, app, user_id)
            sealer = cur.sealer
        return [
            (
                user,
                session_id,
                _merged(sealer.open_json(state) or {}, *shared.get_pair(user)),
                at,
            )
            for user, session_id, state, at in rows
        ]

    def user_state(self, app: str, user_id: str) -> dict[str, Any]:
        """The user's "user:" keys in the app, without the prefix."""
        with self._database.read() as cur:
            tables, _ = AdkProjection.live(cur)
            return _shared(cur, tables, app, user_id).users.get(user_id, {})


class _Found(NamedTuple):
    """A live ADK session's sessiontrail id and stream, merged state and
    update time."""

    key: str
    stream: str
    state: dict[str, Any]
    updated_at: float


def _live(
    cur: Cursor, app: str, user_id: str, session_id: str, first: str, stream: str
) -> _Found | None:
    """The live session under an ADK id (`first`: the sessiontrail id of its
    first session; `stream`: that id's stream), read in `cur`'s transaction."""
    tables, _ = AdkProjection.live(cur)
    sessions = tables.table("adk_sessions")
    row = cur.execute(
        f"SELECT state, updated_at, app, deleted FROM {sessions} "
        "WHERE stream = ? AND user_id = ?",
        (stream, user_id),
    ).fetchone()
    key = first
    if row is None or row[3]:
        later, row = _later(cur, sessions, app, user_id, session_id)
        if later is None or row is None:
            return None
        key, stream = later, str(row[4])
    shared = _shared(cur, tables, row[2], user_id)
    own = cur.sealer.open_json(row[0]) or {}
    return _Found(key, stream, _merged(own, *shared.get_pair(user_id)), float(row[1]))


def _later(
    cur: Cursor, sessions: str, app: str, user_id: str, session_id: str
) -> tuple[str | None, Any]:
    """The live session a later generation holds under the ADK id, and its
    sessiontrail id (found among the generations' ids by its stream)."""
    apps, names = any_spelling("app", app)
    ids, id_names = any_spelling("session_id", session_id)
    row = cur.execute(
        f"SELECT state, updated_at, app, deleted, stream, session_id FROM {sessions} "
        f"WHERE user_id = ? AND {ids} AND {apps} AND deleted = 0",
        (user_id, *id_names, *names),
    ).fetchone()
    if row is None:
        return None, None
    for generation in range(2, GENERATIONS + 1):
        key = generation_id(nfc(row[2]), user_id, nfc(row[5]), generation)
        if str(stream_id(key)) == row[4]:
            return key, row
    return None, None  # a session the adapter did not make (a fork under this id)


class _Shared:
    """An app's "app:" keys and some users' "user:" keys."""

    def __init__(self) -> None:
        self.app: dict[str, Any] = {}
        self.users: dict[str, dict[str, Any]] = {}

    def get_pair(self, user_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.app, self.users.get(user_id, {})


def _shared(
    cur: Cursor, tables: AdkProjection, app: str, user_id: str | None
) -> _Shared:
    """The app's shared keys (its name in any spelling) and those of `user_id`
    (every user's when None)."""
    users = "" if user_id is None else " AND user_id IN ('', ?)"
    apps, names = any_spelling("app", app)
    shared = _Shared()
    for user, key, value in cur.execute(
        f"SELECT user_id, key, value FROM {tables.table('adk_state')} "
        f"WHERE {apps}{users}",
        names if user_id is None else (*names, user_id),
    ).fetchall():
        scope = shared.app if user == "" else shared.users.setdefault(user, {})
        scope[key] = cur.sealer.open_json(value)
    return shared


def _merged(
    own: dict[str, Any], app: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    """A session's state as ADK shows it: its own keys, then app: and user: ones."""
    return (
        own
        | {APP + key: value for key, value in app.items()}
        | {USER + key: value for key, value in user.items()}
    )
