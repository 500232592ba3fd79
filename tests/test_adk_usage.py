"""Token usage of ADK model responses: `append_event` records an event's usage
metadata in the usage ledger, in the same save as the event, on every backend;
ADK's own reads stay as ADK's DatabaseSessionService gives them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import (
    BaseSessionService,
    GetSessionConfig,
)
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.genai import types
from test_adk import APP, event

import sessiontrail
from sessiontrail import InvalidInput, Session, SessionTrail
from sessiontrail.integrations.adk import TrailSessionService, trail_session_id

MODEL = "gemini-2.5-flash"
KEY = trail_session_id(APP, "ann", "s")


def answer(text: str, prompt: int, candidates: int, **fields: Any) -> Event:
    """A model's reply as ADK's LLM flow yields it: text, usage and model version."""
    reply = event("agent", text)
    reply.usage_metadata = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=prompt,
        candidates_token_count=candidates,
        total_token_count=prompt + candidates,
        prompt_tokens_details=[
            types.ModalityTokenCount(
                modality=types.MediaModality.TEXT, token_count=prompt
            )
        ],
    )
    for name, value in fields.items():
        setattr(reply, name, value)
    return reply


def adk_database(tmp_path: Path) -> DatabaseSessionService:
    """ADK's own SQLAlchemy service on a SQLite file: the service users replace."""
    return DatabaseSessionService(f"sqlite+aiosqlite:///{tmp_path / 'adk.db'}")


def test_usage_of_model_responses_is_in_the_ledger(trail: SessionTrail) -> None:
    service = TrailSessionService(trail)
    first = answer("hi", 10, 5, model_version=MODEL)
    second = answer("bye", 7, 3)  # no model version: the session's model counts

    async def scenario() -> None:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        for stored in (event("user", "hello"), first, second):
            await service.append_event(session, stored)

    asyncio.run(scenario())
    records = trail.usage.records(KEY, user_id="ann")
    assert [(r.model, r.record) for r in records] == [
        (
            MODEL,
            {
                "prompt_token_count": 10,
                "candidates_token_count": 5,
                "total_token_count": 15,
                "prompt_tokens_details": [{"modality": "TEXT", "token_count": 10}],
                "message_id": first.id,
                "model": MODEL,
            },
        ),
        (
            "",
            {
                "prompt_token_count": 7,
                "candidates_token_count": 3,
                "total_token_count": 10,
                "prompt_tokens_details": [{"modality": "TEXT", "token_count": 7}],
                "message_id": second.id,
            },
        ),
    ]
    assert trail.usage.session_totals(KEY) == {
        "candidates_token_count": 8,
        "prompt_token_count": 17,
        "records": 2,
        "total_token_count": 25,
    }
    assert trail.usage.model_totals(user_id="ann")[MODEL]["total_token_count"] == 15


def test_usage_is_recorded_in_the_same_save_as_its_event(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One write of the stream holds the event's message and its usage record."""
    service = TrailSessionService(trail)
    session = asyncio.run(
        service.create_session(app_name=APP, user_id="ann", session_id="s")
    )
    recorder = trail.store.recorder
    insert = recorder.insert_events
    written: list[list[str]] = []

    def counted(events: Any, **kwargs: Any) -> Any:
        written.append([stored.topic.rsplit(".", 1)[-1] for stored in events])
        return insert(events, **kwargs)

    monkeypatch.setattr(recorder, "insert_events", counted)
    asyncio.run(service.append_event(session, answer("hi", 10, 5)))
    assert written == [["MessageAppended", "TokenUsageRecorded"]]


def test_partial_and_redelivered_events_record_usage_once(trail: SessionTrail) -> None:
    """A partial (streaming) event is not stored and records nothing; the final
    event records its usage once, however often it is delivered."""
    service = TrailSessionService(trail)
    final = answer("the whole answer", 12, 8)
    partial = answer("the whole", 12, 4, partial=True)

    async def scenario() -> None:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        await service.append_event(session, partial)
        await service.append_event(session, final)
        await service.append_event(session, final)

    asyncio.run(scenario())
    records = trail.usage.records(KEY)
    assert [r.record["message_id"] for r in records] == [final.id]
    assert trail.usage.session_totals(KEY)["total_token_count"] == 20


async def adk_reads(service: BaseSessionService) -> dict[str, Any]:
    """What ADK reads back after a conversation whose model replies carry usage."""
    session = await service.create_session(
        app_name=APP, user_id="ann", session_id="s", state={"k": 1, "user:u": 1}
    )
    replies = [
        event("user", "hello"),
        answer("hi", 10, 5, model_version=MODEL),
        answer("partial", 3, 1, partial=True),
        answer("bye", 7, 3, model_version=MODEL),
    ]
    for number, reply in enumerate(replies):
        reply.timestamp = 1_700_000_000.25 + number
        reply.id = f"e{number}"
        await service.append_event(session, reply)
    read = await service.get_session(app_name=APP, user_id="ann", session_id="s")
    recent = await service.get_session(
        app_name=APP,
        user_id="ann",
        session_id="s",
        config=GetSessionConfig(num_recent_events=1),
    )
    listed = await service.list_sessions(app_name=APP, user_id="ann")
    assert read is not None and recent is not None
    return {
        "events": [e.model_dump(mode="json") for e in read.events],
        "recent": [e.model_dump(mode="json") for e in recent.events],
        "state": read.state,
        "updated": (read.last_update_time, session.last_update_time),
        "listed": [(s.id, s.state, s.last_update_time) for s in listed.sessions],
    }


def test_adk_reads_with_usage_are_as_in_database_session_service(
    url: str, tmp_path: Path
) -> None:
    """Usage records are no ADK events and do not move the update time."""
    expected = asyncio.run(adk_reads(adk_database(tmp_path)))

    async def ours() -> dict[str, Any]:
        async with TrailSessionService(url) as service:
            return await adk_reads(service)

    assert asyncio.run(ours()) == expected
    assert len(expected["events"]) == 3  # the partial reply is not stored
    with sessiontrail.connect(url) as trail:
        assert trail.usage.session_totals(KEY)["records"] == 2


def test_erasure_keeps_only_the_counts_of_adk_usage_records(url: str) -> None:
    """As any usage record: counts and model stay, the rest (the event id) goes."""
    reply = answer("hi", 10, 5, model_version=MODEL)
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as trail:
        service = TrailSessionService(trail)

        async def scenario() -> None:
            session = await service.create_session(
                app_name=APP, user_id="ann", session_id="s"
            )
            await service.append_event(session, reply)

        asyncio.run(scenario())
        assert trail.usage.records(KEY)[0].record["message_id"] == reply.id
        totals = trail.usage.session_totals(KEY)
        trail.erase_user("ann")
        [record] = trail.usage.records(KEY)
        assert record.model == MODEL
        assert record.record == {
            "prompt_token_count": 10,
            "candidates_token_count": 5,
            "total_token_count": 15,
            "model": MODEL,
        }
        assert trail.usage.session_totals(KEY) == totals


def test_usage_past_the_limits_refuses_the_event_whole(trail: SessionTrail) -> None:
    """A usage record holds nothing its event's message does not, so it is past
    sessiontrail's limits only when the event is: the event is refused, naming
    the field, and neither it nor its usage is stored."""
    service = TrailSessionService(trail)
    huge = answer("hi", 2**64, 5)

    async def scenario() -> None:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        with pytest.raises(InvalidInput, match=r"usage_metadata\.prompt_token_count"):
            await service.append_event(session, huge)

    asyncio.run(scenario())
    assert trail.usage.records(KEY) == []
    assert trail.sessions.load(KEY, user_id="ann").messages == []


@pytest.mark.parametrize("same_event", [True, False])
def test_an_event_two_runners_store_at_once_counts_its_usage_once(
    trail: SessionTrail,
    other_trail: SessionTrail,
    monkeypatch: pytest.MonkeyPatch,
    same_event: bool,
) -> None:
    """Another process stores the event between this one's check that it is new
    and its save: the merge skips the event's message as a re-delivery, and its
    usage with it. Two different events both count."""
    ours, theirs = TrailSessionService(trail), TrailSessionService(other_trail)
    reply, other = answer("hi", 10, 5), answer("ho", 7, 3)
    session = asyncio.run(
        ours.create_session(app_name=APP, user_id="ann", session_id="s")
    )
    delivered = reply if same_event else other
    save = trail.sessions.save

    def stored_meanwhile(stored: Session) -> Any:
        monkeypatch.setattr(trail.sessions, "save", save)
        copy = session.model_copy(deep=True)
        asyncio.run(theirs.append_event(copy, delivered.model_copy(deep=True)))
        return save(stored)

    monkeypatch.setattr(trail.sessions, "save", stored_meanwhile)
    asyncio.run(ours.append_event(session, reply))

    messages = trail.sessions.load(KEY, user_id="ann").messages
    records = trail.usage.records(KEY)
    expected = [reply.id] if same_event else [other.id, reply.id]
    assert [message.id for message in messages] == expected
    assert [record.record["message_id"] for record in records] == expected


@pytest.mark.parametrize("model_version", ["gemini\x00flash", "g" * 300])
def test_a_model_version_no_model_is_named_by_counts_under_the_sessions_model(
    trail: SessionTrail, model_version: str
) -> None:
    """The ledger counts a record under its model: one no session could name
    (a NUL, which PostgreSQL's text cannot hold, or past the length of a model
    name) is left out of the record, which counts under the session's model;
    the event is stored whole, as ADK's own services store it."""
    service = TrailSessionService(trail)
    reply = answer("hi", 10, 5, model_version=model_version)

    async def scenario() -> None:
        session = await service.create_session(
            app_name=APP, user_id="ann", session_id="s"
        )
        await service.append_event(session, reply)

    asyncio.run(scenario())
    [record] = trail.usage.records(KEY)
    assert (record.model, record.record["message_id"]) == ("", reply.id)
    assert "model" not in record.record
    assert trail.usage.model_totals()[""]["total_token_count"] == 15
    [stored] = trail.sessions.load(KEY, user_id="ann").messages
    assert stored.metadata["adk"]["event"]["model_version"] == model_version
