"""Google ADK sessions kept in sessiontrail (the `adk` extra).

    trail = await sessiontrail.aio.connect("sqlite:///chats.db")
    service = TrailSessionService(trail)
    runner = Runner(agent=agent, app_name="travel", session_service=service)

An ADK session is a sessiontrail session (id "APP/USER/SESSION", owned by USER)
that starts with its app, id and initial state in its metadata; each ADK event is
one message (role, text, tool calls as sessiontrail sees them) whose metadata keeps
the event itself and its state delta; a model response's usage metadata is also
one token-usage record, saved with it. The "adk" read model (projections/adk.py)
derives session, "user:" and "app:" state from those by ADK's prefix rules;
"temp:" keys are never stored. Appends merge on write: two runners appending to
one session both keep their events, and no caller sees `StaleSessionError`.
Creating a session is atomic: of several callers creating one id, one succeeds.

The trail may also be a sync trail or a URL (`TrailSessionService(
"sqlite:///chats.db")`, opened and closed by the service: see adapter_trail.py).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal, TypeGuard
from uuid import uuid4

from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
    ListSessionsResponse,
)
from google.adk.sessions.session import Session as AdkSession
from pydantic import JsonValue, SkipValidation, StrictStr

from ..domain.errors import ConcurrencyConflict, InvalidInput, SessionNotFound
from ..domain.session import Session
from ..domain.session_ids import nfc
from ..domain.validation import Actor, NewSessionId, SessionId, UserId, validated
from ..infrastructure.appends import attempts, gave_up
from ..projections.adk import (
    ADK,
    GENERATIONS,
    TEMP,
    generation_id,
)
from ..projections.adk import (  # re-exported: the sessiontrail id of an ADK session
    trail_session_id as trail_session_id,
)
from ..trail import SessionTrail
from .adapter_trail import AdapterTrail, ClosesWhatItOpened, TrailArgument
from .adk_events import message_fields, stored_event, usage_record
from .adk_order import InCallOrder


class TrailSessionService(ClosesWhatItOpened, BaseSessionService):
    """ADK's session service over a sessiontrail log: an async trail, a sync trail,
    or a database URL it opens (and `close()` closes; a trail passed in stays the
    caller's). `actor` names the writer in the audit trail. `delete="purge"`
    makes `delete_session` purge the session (gone from the log for good, a
    purge record stays) instead of ADK's default here, a soft delete."""

    @validated
    def __init__(
        self,
        trail: SkipValidation[TrailArgument],
        *,
        actor: Actor = "runtime",
        delete: Literal["soft", "purge"] = "soft",
    ) -> None:
        self._trail = AdapterTrail(trail, "TrailSessionService")
        self._actor = actor
        self._delete = delete
        self._in_order = InCallOrder()

    @validated
    async def create_session(
        self,
        *,
        app_name: NewSessionId,
        user_id: UserId,
        state: dict[str, Any] | None = None,
        session_id: StrictStr | None = None,
    ) -> AdkSession:
        """A new session with `state` split by prefix (temp: keys dropped);
        AlreadyExistsError if the user already has this id in the app. An id
        whose session was deleted can be created again, as in ADK's services:
        the new session starts empty, and the deleted one stays in the log. The
        app name and session id are stored in NFC, as every new session id is."""
        chosen = nfc((session_id or "").strip()) or uuid4().hex
        kept = {k: v for k, v in (state or {}).items() if not k.startswith(TEMP)}
        return await self._trail.run(
            self._create, app_name, user_id, chosen, _json(kept, "state")
        )

    @validated
    async def get_session(
        self,
        *,
        app_name: SessionId,
        user_id: UserId,
        session_id: SessionId,
        config: GetSessionConfig | None = None,
    ) -> AdkSession | None:
        """The session with its merged state and events (the latest
        `num_recent_events`, those at or after `after_timestamp`); None if absent."""
        return await self._trail.run(
            self._get, app_name, user_id, session_id.strip(), config
        )

    @validated
    async def list_sessions(
        self, *, app_name: SessionId, user_id: UserId | None = None
    ) -> ListSessionsResponse:
        """The app's sessions (one user's, or all), least recently updated first,
        with their state and no events: one indexed query on the read model."""
        rows = await self._trail.run(
            lambda trail: trail.adk.sessions(app_name, user_id)
        )
        return ListSessionsResponse(
            sessions=[
                AdkSession(
                    id=session_id,
                    app_name=app_name,
                    user_id=user,
                    state=state,
                    last_update_time=updated_at,
                )
                for user, session_id, state, updated_at in rows
            ]
        )

    @validated
    async def delete_session(
        self, *, app_name: SessionId, user_id: UserId, session_id: SessionId
    ) -> None:
        """A soft delete (a SessionDeleted event): ADK no longer sees it; the log,
        `history` and `sessiontrail show --deleted` still do. With
        `delete="purge"`, a purge: nothing of it stays but the purge record.
        A session that is not there is no error, as in ADK's services."""
        await self._trail.run(self._remove, app_name, user_id, session_id.strip())

    def _remove(
        self, trail: SessionTrail, app_name: str, user_id: str, session_id: str
    ) -> None:
        found = trail.adk.session(app_name, user_id, session_id)
        if found is None:
            return
        key = found[0]
        if self._delete == "soft":
            trail.sessions.delete(key, user_id=user_id, actor=self._actor)
            return
        with contextlib.suppress(SessionNotFound):
            trail.sessions.purge(key, user_id=user_id, actor=self._actor)

    @validated
    async def get_user_state(
        self, *, app_name: SessionId, user_id: UserId
    ) -> dict[str, Any]:
        """The user's "user:" keys in the app, without the prefix."""
        return await self._trail.run(
            lambda trail: trail.adk.user_state(app_name, user_id)
        )

    @validated
    async def append_event(self, session: AdkSession, event: Event) -> Event:
        """Store the event (its temp: keys trimmed) as one message of the session,
        and its usage metadata, if any, as a token-usage record in the same save,
        merging with other writers; SessionNotFoundError if it is not stored.

        As in ADK's services: appends to one session are stored in the order they
        were called (see adk_order.py), and `session` gets the event and its state
        delta only once it is stored (not for a refused append, nor for an event
        delivered again); its temp: keys are applied to `session` at once.
        Another event under a stored event's id is InvalidInput naming
        `event.id`, nothing written, as ADK's database service refuses it."""
        if event.partial:
            return event
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        async with self._in_order.held((session.app_name, session.user_id, session.id)):
            try:
                stored = await self._trail.run(self._append, session, event)
            except SessionNotFound:  # deleted after the append found it
                raise SessionNotFoundError(f"Session {session.id} not found.") from None
        if stored:
            self._commit_event_to_session(session, event)
            session.last_update_time = event.timestamp
        return event

    # -- in the trail's threads ------------------------------------------------

    def _create(
        self,
        trail: SessionTrail,
        app_name: str,
        user_id: str,
        session_id: str,
        state: dict[str, Any],
    ) -> AdkSession:
        marker: dict[str, JsonValue] = {
            "app": app_name,
            "session": session_id,
            "state": state,
        }

        def start(generation: int) -> Session:
            return Session(
                session_id=generation_id(app_name, user_id, session_id, generation),
                user_id=user_id,
                title=session_id,
                metadata={ADK: marker},
                actor=self._actor,
            )

        new = start(1)  # checks the ids before anything is looked up
        taken = AlreadyExistsError(f"Session with id {session_id} already exists.")
        if trail.adk.session(app_name, user_id, session_id) is not None:
            raise taken
        for generation in range(1, GENERATIONS + 1):
            new = new if generation == 1 else start(generation)
            try:
                trail.sessions.create(new)  # atomic: no check-then-save window
                break
            except ConcurrencyConflict:  # deleted, erased, another user's or taken
                trail.adk.catch_up()  # a create that won just now included
                if trail.adk.session(app_name, user_id, session_id) is not None:
                    raise taken from None
        else:
            raise InvalidInput(
                f"session_id: {session_id!r} was created {GENERATIONS} times; "
                "choose another id"
            )
        created = self._get(trail, app_name, user_id, session_id, None)
        assert created is not None, "a saved session is readable (inline)"
        return created

    def _get(
        self,
        trail: SessionTrail,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None,
    ) -> AdkSession | None:
        recent = None if config is None else config.num_recent_events
        found = trail.adk.session_and_messages(  # one read: state and events agree
            app_name, user_id, session_id, last_n=recent
        )
        if found is None:
            return None
        events = [stored_event(message) for message in found.messages]
        if config is not None and config.after_timestamp is not None:
            after = config.after_timestamp
            events = [event for event in events if event.timestamp >= after]
        return AdkSession(
            id=session_id,
            app_name=app_name,
            user_id=user_id,
            state=found.state,
            events=events,
            last_update_time=found.updated_at,
        )

    def _append(self, trail: SessionTrail, session: AdkSession, event: Event) -> bool:
        """Store the event; False if it was stored already (delivered again).
        Another event stored under its id (this caller's or another writer's,
        a moment earlier included) is InvalidInput and nothing is written, as
        ADK's database service refuses it (its primary key)."""
        recorded: dict[str, JsonValue] = {
            "event": event.model_dump(mode="json", exclude_none=True),
            "state_delta": _json(
                dict(event.actions.state_delta) if event.actions else {},
                "state_delta",
            ),
            "timestamp": event.timestamp,
        }
        for _ in attempts():  # again only if its id's holder was removed meanwhile
            found = trail.adk.session(session.app_name, session.user_id, session.id)
            stored = (
                None
                if found is None
                else trail.sessions.try_load(found[0], user_id=session.user_id)
            )
            if not _is_adk(stored):
                raise SessionNotFoundError(f"Session {session.id} not found.")
            if event.id and stored.held_ids([event.id]):
                if _same_as_stored(trail, stored, event.id, recorded, session.id):
                    return False  # a re-delivered event is stored once
                continue
            stored.append_message(
                **message_fields(event), metadata={ADK: recorded}, actor=self._actor
            )
            usage = usage_record(event)
            if usage is not None:  # saved with its event: both are stored, or neither
                stored.record_token_usage(usage, actor=self._actor)
            if event.id not in trail.sessions.save(stored).skipped:
                return True
            # another writer stored the id first: the merge skipped the event
            # and its usage record, so nothing of this call was written
            if _same_as_stored(trail, stored, event.id, recorded, session.id):
                return False
        raise gave_up(f"append_event {event.id!r}")


def _same_as_stored(
    trail: SessionTrail,
    stored: Session,
    event_id: str,
    recorded: dict[str, JsonValue],
    adk_id: str,
) -> bool:
    """Whether the event stored under `event_id` equals the one recorded
    (re-delivered: held once, as ADK's in-memory service holds it); another
    one is InvalidInput naming `event.id`. False if none is stored now
    (taken out meanwhile): the append is tried again."""
    message = trail.transcript_pages.message(
        stored.session_id, event_id, user_id=stored.user_id
    )
    if message is None:
        return False
    held = message.metadata.get(ADK)
    if isinstance(held, dict) and held.get("event") == recorded["event"]:
        return True
    raise InvalidInput(
        f"event.id: {event_id!r} is the id of another event of session "
        f"{adk_id!r}; nothing was written"
    )


def _is_adk(session: Session | None) -> TypeGuard[Session]:
    """Whether `session` is a live ADK session (an erased one no longer says so)."""
    return session is not None and isinstance(session.metadata.get(ADK), dict)


def _json(value: dict[str, Any], name: str) -> dict[str, Any]:
    """`value` as JSON data; InvalidInput naming `name` if it is not JSON."""
    try:
        decoded: dict[str, Any] = json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{name}: not JSON: {error}") from None
    return decoded
