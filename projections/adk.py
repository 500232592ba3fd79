"""Google ADK sessions' index and state, derived from the log by ADK's prefix rules.

The ADK adapter (`sessiontrail.integrations.adk`) starts each ADK session with
metadata `{"adk": {"app", "session", "state"}}` and writes each ADK event as a
message whose metadata holds `{"adk": {"event", "state_delta", "timestamp"}}`. From
those this read model keeps, in log order:
- `adk_sessions`: per ADK session its app, user, id, own (unprefixed) state and
  last update time, sorted for `list_sessions`;
- `adk_state`: "app:" keys (shared by the app's sessions, user '') and "user:" keys
  (shared by one user's sessions in the app), stored without their prefix.
"temp:" keys never reach the log. A fork of an ADK session under an id the
adapter makes (`trail_session_id(app, user, new id)`) is an ADK session of its
own. ADK lets a deleted id be created again while the log keeps the deleted
session, so each later session under one ADK id is a new sessiontrail session
(`generation_id`). No google-adk import here: it is all JSON. What the adapter
reads of these tables is in adk_reads.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from ..domain.errors import InvalidInput
from ..domain.event_model import EventModel
from ..domain.limits import MAX_ID_CHARS
from ..domain.session import Session
from ..infrastructure.sql import Cursor
from .projection import Projection, Table

ADK = "adk"
"""The metadata key of what the adapter records."""
APP, USER, TEMP = "app:", "user:", "temp:"
GENERATIONS = 1000
"""How many times one ADK id can be created (and deleted) in one app for one user."""


def split_state(state: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """(app, user, session) parts of a state delta, prefixes removed; temp dropped."""
    app, user, own = {}, {}, {}
    for key, value in state.items():
        if key.startswith(APP):
            app[key.removeprefix(APP)] = value
        elif key.startswith(USER):
            user[key.removeprefix(USER)] = value
        elif not key.startswith(TEMP):
            own[key] = value
    return app, user, own


class AdkProjection(Projection):
    """Folds the adapter's session starts and event messages into index and state."""

    name = "adk"
    version = 4  # 2: forks under their own ADK ids; 3: owners indexed by user;
    # 4: sessions found by user and ADK id (an id created again after deletion)
    tables = (
        Table(
            "adk_sessions",
            "stream TEXT PRIMARY KEY, app {key} NOT NULL, user_id {key} NOT NULL, "
            "session_id {key} NOT NULL, state TEXT NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL, deleted SMALLINT NOT NULL",
            indexes=(
                "app, deleted, updated_at, user_id, session_id",
                "user_id, session_id",
            ),
        ),
        Table(
            "adk_state",
            "app {key} NOT NULL, user_id {key} NOT NULL, key TEXT NOT NULL, "
            "value TEXT NOT NULL, PRIMARY KEY (app, user_id, key)",
            indexes=("user_id",),
        ),
    )

    owners = "adk_sessions"
    per_stream = ("adk_sessions",)

    def owned_streams(self, cur: Cursor, user_id: str) -> list[str]:
        """Every session of each app the user has sessions in: "app:" keys are
        shared, so an app's keys are replayed from all of its sessions (the
        erased user's writes drop out, the value before theirs shows again)."""
        sessions, shared = self.table("adk_sessions"), self.table("adk_state")
        rows = cur.execute(
            f"SELECT stream FROM {sessions} WHERE app IN "
            f"(SELECT app FROM {sessions} WHERE user_id = ? "
            f"UNION SELECT app FROM {shared} WHERE user_id = ?)",
            (user_id, user_id),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def forget_streams(self, cur: Cursor, streams: Sequence[str]) -> None:
        """The streams' sessions; their apps' shared keys belong to the app and
        user, not to one session, and stay."""
        Projection.forget(self, cur, "", streams)

    def forget(self, cur: Cursor, user_id: str, streams: Sequence[str]) -> None:
        """The streams' sessions, and the shared keys of their apps."""
        sessions, shared = self.table("adk_sessions"), self.table("adk_state")
        cur.execute(
            f"DELETE FROM {shared} WHERE app IN "
            f"(SELECT app FROM {sessions} WHERE user_id = ? "
            f"UNION SELECT app FROM {shared} WHERE user_id = ?)",
            (user_id, user_id),
        )
        super().forget(cur, user_id, streams)

    @singledispatchmethod
    def apply(self, event: EventModel, cur: Cursor, position: int) -> None:
        """Other events do not touch ADK sessions."""

    @apply.register
    def _started(self, event: Session.Started, cur: Cursor, position: int) -> None:
        recorded = event.metadata.get(ADK)
        if not isinstance(recorded, dict) or event.user_id is None:
            return
        app, session_id = recorded.get("app"), recorded.get("session")
        state = recorded.get("state")
        if not (isinstance(app, str) and isinstance(session_id, str)):
            return
        forked = isinstance(event, Session.Forked)
        if forked:  # a copy: its ADK id is its own, not the source's it recorded
            scope = f"{app}/{event.user_id}/"
            if not event.session_id.startswith(scope):
                return  # forked under an id ADK cannot name
            session_id = event.session_id.removeprefix(scope)
        app_part, user_part, own = split_state(state if isinstance(state, dict) else {})
        cur.execute(
            f"INSERT INTO {self.table('adk_sessions')} (stream, app, user_id, "
            "session_id, state, updated_at, deleted) VALUES (?, ?, ?, ?, ?, ?, 0) "
            "ON CONFLICT (stream) DO NOTHING",
            (
                str(event.originator_id),
                app,
                event.user_id,
                session_id,
                cur.sealer.json(event.user_id, own),
                event.timestamp.timestamp(),
            ),
        )
        if not forked:  # app: and user: state is shared now, not copied from then
            self._share(cur, app, event.user_id, app_part, user_part)

    @apply.register
    def _appended(
        self, event: Session.MessageAppended, cur: Cursor, position: int
    ) -> None:
        recorded = event.message.metadata.get(ADK)
        if not isinstance(recorded, dict):
            return
        stream = str(event.originator_id)
        row = cur.execute(
            f"SELECT app, user_id, state FROM {self.table('adk_sessions')} "
            "WHERE stream = ?",
            (stream,),
        ).fetchone()
        if row is None:
            return
        app, user_id, state = row
        stored = cur.sealer.open_json(state) or {}
        delta = recorded.get("state_delta")
        app_part, user_part, own = split_state(delta if isinstance(delta, dict) else {})
        when = recorded.get("timestamp")
        cur.execute(
            f"UPDATE {self.table('adk_sessions')} SET state = ?, "
            "updated_at = ? WHERE stream = ?",
            (
                cur.sealer.json(user_id, {**stored, **own}),
                when if isinstance(when, int | float) else event.timestamp.timestamp(),
                stream,
            ),
        )
        self._share(cur, app, user_id, app_part, user_part)

    @apply.register
    def _deleted(
        self, event: Session.SessionDeleted, cur: Cursor, position: int
    ) -> None:
        self._mark(cur, event, deleted=True)

    @apply.register
    def _restored(
        self, event: Session.SessionRestored, cur: Cursor, position: int
    ) -> None:
        """Live again, unless its ADK id was created again meanwhile: ADK sees one
        session per id, the newer one."""
        sessions = self.table("adk_sessions")
        taken = cur.execute(
            f"SELECT 1 FROM {sessions} AS later JOIN {sessions} AS this "
            "ON later.user_id = this.user_id AND later.session_id = this.session_id "
            "AND later.app = this.app AND later.stream <> this.stream "
            "WHERE this.stream = ? AND later.deleted = 0",
            (str(event.originator_id),),
        ).fetchone()
        if taken is None:
            self._mark(cur, event, deleted=False)

    def _mark(self, cur: Cursor, event: Session.Event, *, deleted: bool) -> None:
        cur.execute(
            f"UPDATE {self.table('adk_sessions')} SET deleted = ? WHERE stream = ?",
            (int(deleted), str(event.originator_id)),
        )

    def _share(
        self,
        cur: Cursor,
        app: str,
        user_id: str,
        app_part: dict[str, Any],
        user_part: dict[str, Any],
    ) -> None:
        """Upsert the app- and user-scoped keys (app keys under user ''), their
        values sealed under the writing user's key."""
        rows = [("", key, value) for key, value in app_part.items()]
        rows += [(user_id, key, value) for key, value in user_part.items()]
        cur.executemany(
            f"INSERT INTO {self.table('adk_state')} AS s (app, user_id, key, value) "
            "VALUES (?, ?, ?, ?) "
            "ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value",
            [
                (app, user, key, cur.sealer.json(user_id, value))
                for user, key, value in rows
            ],
        )


def trail_session_id(app_name: str, user_id: str, session_id: str) -> str:
    """The sessiontrail id of an ADK session: ADK scopes ids by app and user."""
    key = f"{app_name}/{user_id}/{session_id}"
    if len(key) > MAX_ID_CHARS:
        raise InvalidInput(
            f"app_name/user_id/session_id: at most {MAX_ID_CHARS - 2} characters "
            "together"
        )
    return key


def generation_id(app_name: str, user_id: str, session_id: str, generation: int) -> str:
    """The sessiontrail id of the `generation`th ADK session under one ADK id:
    the first is `trail_session_id`; a later one (the id created again after a
    deletion) adds `~N-` and a digest of the first id with N, so that no id a
    caller chooses is likely to meet it."""
    first = trail_session_id(app_name, user_id, session_id)
    if generation == 1:
        return first
    digest = hashlib.blake2b(f"{first}~{generation}".encode(), digest_size=5)
    key = f"{first}~{generation}-{digest.hexdigest()}"
    if len(key) > MAX_ID_CHARS:
        raise InvalidInput(
            f"app_name/user_id/session_id: at most {MAX_ID_CHARS - 20} characters "
            "together to be created again after a deletion"
        )
    return key
