"""Long sessions: what is stored and loaded per session stays the same size however
long the session, whichever entry point writes it; the transcript is still whole."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from google.adk.events.event import Event
from google.genai import types
from support.http import bearer, write_tokens
from support.records import payload

import sessiontrail
from sessiontrail import InvalidInput, SessionTrail
from sessiontrail.domain.checkpoint import CheckpointRecord
from sessiontrail.domain.qa import qa_stream_id
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.chain import frame
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL
from sessiontrail.infrastructure.mapper import COMPRESSED
from sessiontrail.integrations.adk import TrailSessionService, trail_session_id
from sessiontrail.integrations.openai_agents import TrailSession
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

LENGTH = 250  # messages: two snapshot intervals and a half
TEXT = "x" * 400  # a whole-session snapshot would hold LENGTH * TEXT: 100 KB
SMALL = 2_000  # bytes: what one snapshot of decision state stays under


def texts(turn: int) -> list[str]:
    """The messages of one turn (50 per turn)."""
    return [f"{turn}-{n} {TEXT}" for n in range(50)]


def by_sessions(trail: SessionTrail, tmp_path: Path) -> str:
    for turn in range(LENGTH // 50):
        session = trail.sessions.load_or_create("long")
        for text in texts(turn):
            session.append_message(role="user", content=text)
        trail.sessions.save(session)
    return "long"


def by_transcripts(trail: SessionTrail, tmp_path: Path) -> str:
    whole: list[dict[str, str]] = []
    for turn in range(LENGTH // 50):
        whole += [{"role": "user", "content": text} for text in texts(turn)]
        trail.transcripts.save("long", whole)
    return "long"


def by_openai(trail: SessionTrail, tmp_path: Path) -> str:
    async def run() -> None:
        items = TrailSession("long", trail)
        for turn in range(LENGTH // 50):
            await items.add_items([{"role": "user", "content": t} for t in texts(turn)])

    asyncio.run(run())
    return "long"


def by_adk(trail: SessionTrail, tmp_path: Path) -> str:
    async def run() -> str:
        service = TrailSessionService(trail)
        session = await service.create_session(app_name="app", user_id="u", state={})
        for turn in range(LENGTH // 50):
            for text in texts(turn):
                content = types.Content(role="user", parts=[types.Part(text=text)])
                await service.append_event(
                    session, Event(invocation_id="i", author="user", content=content)
                )
        return trail_session_id("app", "u", session.id)

    return asyncio.run(run())


def by_http(trail: SessionTrail, tmp_path: Path) -> str:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as client:
        made = client.post(
            "/v1/sessions", json={"session_id": "long"}, headers=bearer("ann")
        )
        assert made.status_code == 201, made.text
        for turn in range(LENGTH // 50):
            for number, text in enumerate(texts(turn)):
                said = client.post(
                    "/v1/sessions/long/messages",
                    json={"role": "user", "content": text},
                    headers={**bearer("ann"), "Idempotency-Key": f"{turn}-{number}"},
                )
                assert said.status_code == 201, said.text
    return "long"


def by_import(trail: SessionTrail, tmp_path: Path) -> str:
    chat = tmp_path / "chat.json"
    messages = [text for turn in range(LENGTH // 50) for text in texts(turn)]
    chat.write_text(json.dumps([{"role": "user", "content": t} for t in messages]))
    trail.importer.import_file(chat, session_id="long")
    return "long"


ENTRY_POINTS: dict[str, Callable[[SessionTrail, Path], str]] = {
    "sessions.save": by_sessions,
    "transcripts.save": by_transcripts,
    "openai add_items": by_openai,
    "adk append_event": by_adk,
    "http append": by_http,
    "import": by_import,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_long_session_keeps_one_small_snapshot(
    trail: SessionTrail, url: str, tmp_path: Path, entry: str
) -> None:
    session_id = ENTRY_POINTS[entry](trail, tmp_path)
    stored = trail.store.snapshots.recorder.select_events(stream_id(session_id))
    assert stored, "a session of 250 messages has a snapshot"
    assert len(stored[-1].state) < SMALL, "a snapshot holds no messages"
    if not url.startswith("memory:"):  # memory:// keeps every (small) snapshot
        assert [record.originator_version for record in stored] == [
            stored[-1].originator_version
        ]
    loaded = trail.sessions.load(session_id)
    assert loaded is not None and len(loaded.messages) == LENGTH
    assert loaded.message_count == LENGTH


def test_a_loaded_session_reads_its_transcript_with_its_unsaved_events(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    session = trail.sessions.load_or_create("lazy")
    for number in range(150):  # a snapshot at 100: the load starts there
        session.append_message(role="user", content=f"m{number}", id=f"id-{number}")
    trail.sessions.save(session)
    loaded = other_trail.sessions.load("lazy")
    assert loaded is not None
    loaded.append_message(role="assistant", content="new", id="new")
    loaded.truncate(149)  # drops "new" and m149
    loaded.append_message(role="user", content="last")
    assert [m.content for m in loaded.messages[-2:]] == ["m148", "last"]
    assert loaded.message_count == len(loaded.messages) == 150
    assert loaded.held_ids(["id-0", "id-149", "new"]) == {"id-0"}


def test_a_duplicate_given_id_is_refused_without_the_transcript_loaded(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    session = trail.sessions.load_or_create("ids")
    for number in range(120):
        session.append_message(role="user", content=f"m{number}", id=f"id-{number}")
    trail.sessions.save(session)
    loaded = other_trail.sessions.load("ids")
    assert loaded is not None
    with pytest.raises(InvalidInput, match="already in the transcript"):
        loaded.append_message(role="user", content="again", id="id-3")


def test_at_and_replay_give_the_transcript_as_it_was(trail: SessionTrail) -> None:
    session = trail.sessions.load_or_create("then")
    for number in range(230):
        session.append_message(role="user", content=f"m{number}")
    trail.sessions.save(session)
    session.truncate(10)
    trail.sessions.save(session)
    then = trail.sessions.at("then", version=151)
    assert then is not None
    assert [m.content for m in then.messages] == [f"m{n}" for n in range(150)]
    assert then.message_count == 150
    *_, (_, last) = trail.sessions.replay("then")
    assert [m.content for m in last.messages] == [f"m{n}" for n in range(10)]


def test_copies_from_the_cache_read_their_transcripts_independently(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    session = trail.sessions.load_or_create("copies")
    for number in range(110):
        session.append_message(role="user", content=f"m{number}")
    trail.sessions.save(session)
    first = other_trail.sessions.load("copies")
    second = other_trail.sessions.load("copies")
    assert first is not None and second is not None
    first.append_message(role="user", content="only in the first")
    assert len(second.messages) == 110
    assert len(first.messages) == 111


def test_a_snapshot_of_the_whole_session_written_before_still_loads(
    tmp_path: Path,
) -> None:
    """Snapshots used to hold every message and usage record (class version 1):
    one is read as its message count, the transcript comes from the log."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("old")
        session.record_token_usage({"total_tokens": 5})
        for number in range(98):
            session.append_message(role="user", content=f"m{number}")
        trail.sessions.save(session)  # a snapshot at version 100
        held = [m.model_dump(mode="json") for m in session.messages]
        for number in range(98, 104):
            session.append_message(role="user", content=f"m{number}")
        trail.sessions.save(session)
    connection = sqlite3.connect(tmp_path / "old.db")
    with connection:
        [(state,)] = connection.execute(
            "SELECT state FROM stored_snapshots WHERE originator_version = 100"
        ).fetchall()
        old = payload(bytes(state))
        assert old.pop("class_version") == 2
        del old["state"]["message_count"]
        old["state"].update(messages=held, token_usage=[{"total_tokens": 5}])
        body = json.dumps(old).encode()
        connection.execute(
            "UPDATE stored_snapshots SET state = ? WHERE originator_version = 100",
            (frame(bytes([COMPRESSED]) + zlib.compress(body)),),
        )
    connection.close()
    with sessiontrail.connect(url, cache_size=0) as fresh:
        loaded = fresh.sessions.load("old")
        assert loaded is not None and loaded.message_count == 104
        assert [m.content for m in loaded.messages] == [f"m{n}" for n in range(104)]
        assert loaded.token_usage == [{"total_tokens": 5}]
        assert fresh.verify().ok


def test_a_truncation_merged_onto_a_newer_head_counts_what_it_removed(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    session = trail.sessions.load_or_create("cut")
    for number in range(5):
        session.append_message(role="user", content=f"m{number}")
    trail.sessions.save(session)
    third = session.messages[2].id
    mine = trail.sessions.load("cut")
    theirs = other_trail.sessions.load("cut")
    assert mine is not None and theirs is not None
    theirs.truncate(3)  # removes m3, m4
    other_trail.sessions.save(theirs)
    mine.truncate(2)  # named m2, m3, m4: only m2 is left to remove
    trail.sessions.save(mine)
    assert mine.message_count == 2
    fresh = other_trail.sessions.at("cut", version=mine.version)
    assert fresh is not None and fresh.message_count == 2
    last = trail.sessions.history("cut")[-1]
    assert last.event == "TranscriptTruncated"
    assert last.payload == {"removed_ids": [third], "message_count": 2}


def test_a_long_qa_session_keeps_one_snapshot(trail: SessionTrail, url: str) -> None:
    """Q&A entries stay in its snapshot (a load needs them), but only the newest
    snapshot is kept, so its storage grows with its entries, not their square."""
    if url.startswith("memory:"):
        pytest.skip("memory:// keeps every snapshot; it goes away with its process")
    for number in range(210):
        trail.qa.create_qa_entry("chat", f"q{number}", "a", user_id="ann")
    stored = trail.store.snapshots.recorder.select_events(qa_stream_id("ann", "chat"))
    assert [record.originator_version for record in stored] == [200]


def test_a_loaded_session_of_an_encrypted_log_reads_its_sealed_transcript(
    url: str,
) -> None:
    """With a key the transcript read model holds sealed rows: a loaded session
    opens them (and asks them about ids) like the transcript pages do."""
    key = sessiontrail.new_key()
    with sessiontrail.connect(url, key=key) as trail:
        session = trail.sessions.load_or_create("sealed", user_id="ann")
        for number in range(120):
            session.append_message(role="user", content=f"m{number}", id=f"id-{number}")
        trail.sessions.save(session)
    with sessiontrail.connect(url, key=key, cache_size=0) as fresh:
        loaded = fresh.sessions.load("sealed", user_id="ann")
        assert loaded is not None
        assert loaded.held_ids(["id-7", "id-999"]) == {"id-7"}
        assert [m.content for m in loaded.last_messages(2)] == ["m118", "m119"]
        assert [m.content for m in loaded.messages] == [f"m{n}" for n in range(120)]


def test_a_record_without_snapshots_passes_its_hundredth_version(
    trail: SessionTrail,
) -> None:
    """A checkpoint of a log with ~200,000 streams lists 100 pages of heads: the
    stream crosses the snapshot interval, and its kind keeps no snapshots."""
    record = CheckpointRecord.start(position=0)
    for page in range(SNAPSHOT_INTERVAL):
        record.list_heads([(uuid4(), page + 1, bytes(32))])
    trail.store.record_aggregate(record)  # no error after the commit

    assert trail.store.stream_version(record.id) == SNAPSHOT_INTERVAL + 1
