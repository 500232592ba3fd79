"""Old events live forever: a log written by v1 is read, projected and replayed."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

import sessiontrail
from sessiontrail import Session, SessionTrail, VersionIncompatible
from sessiontrail.infrastructure.chain import frame, link

FIXTURE = Path(__file__).parent / "fixtures" / "v1-log.db"
"""Written by sessiontrail at commit 13317de, when TokenUsageRecorded was v1 (no
`model`): one session, a model switch, two usage records; no read models yet."""


@pytest.fixture
def v1_trail(tmp_path: Path):
    copy = tmp_path / "v1.db"
    shutil.copy(FIXTURE, copy)
    with sessiontrail.connect(f"sqlite:///{copy}") as trail:
        yield trail


def test_the_fixture_really_holds_v1_usage_events(v1_trail: SessionTrail):
    stored = v1_trail.store.recorder.select_notifications(start=1, limit=100)
    usage = [n for n in stored if n.topic.endswith("TokenUsageRecorded")]
    assert len(usage) == 2
    assert all("class_version" not in json.loads(n.state) for n in usage)
    assert all("model" not in json.loads(n.state) for n in usage)
    assert Session.TokenUsageRecorded.class_version == 2


def test_v1_events_load_upcast(v1_trail: SessionTrail):
    session = v1_trail.sessions.load("legacy-chat")
    assert session is not None
    assert [m.content for m in session.messages] == [
        "What did v1 store?",
        "Usage records without a model.",
    ]
    assert session.model == "gpt-4o-mini"
    history = v1_trail.sessions.history("legacy-chat")
    usage = [h.payload for h in history if h.event == "TokenUsageRecorded"]
    assert usage == [
        {
            "record": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
            "model": "",
        },
        {"record": {"input_tokens": 5, "output_tokens": 3, "cost": 0.25}, "model": ""},
    ]


def test_v1_events_are_projected_with_the_model_of_their_time(
    v1_trail: SessionTrail,
):
    assert [s.session_id for s in v1_trail.sessions.list().items] == ["legacy-chat"]
    assert v1_trail.usage.model_totals() == {
        "gpt-4o": {
            "completion_tokens": 7,
            "prompt_tokens": 12,
            "records": 1,
            "total_tokens": 19,
        },
        "gpt-4o-mini": {
            "cost": 0.25,
            "input_tokens": 5,
            "output_tokens": 3,
            "records": 1,
        },
    }
    assert len(v1_trail.audit.entries(session_id="legacy-chat").items) == 7


def test_v1_sessions_replay_version_by_version(v1_trail: SessionTrail):
    before_switch = v1_trail.sessions.at("legacy-chat", version=5)
    assert before_switch is not None
    assert (before_switch.model, len(before_switch.token_usage)) == ("gpt-4o", 1)


def test_new_writes_on_a_v1_log_are_v2(v1_trail: SessionTrail):
    v1_trail.sessions.append_token_usage("legacy-chat", {"total_tokens": 1})
    last = v1_trail.sessions.history("legacy-chat")[-1]
    assert last.payload["model"] == "gpt-4o-mini"
    assert v1_trail.usage.records("legacy-chat")[-1].model == "gpt-4o-mini"


def store_raw(
    trail: SessionTrail,
    stream: uuid.UUID,
    version: int,
    topic: str,
    state: dict[str, object],
) -> None:
    """Store a record as a newer sessiontrail would: framed, in its stream's chain."""
    body = bytes([0]) + json.dumps(state).encode()  # flags: neither packed nor sealed
    record = StoredEvent(stream, version, topic, frame(body))
    linked, _ = link(record, trail.store.chain_value(stream, version - 1))
    trail.store.recorder.insert_events([linked])


def test_an_event_newer_than_the_code_is_a_clear_error(
    trail: SessionTrail, other_trail: SessionTrail
):
    session = trail.sessions.load_or_create("chat")
    trail.sessions.save(session)
    store_raw(
        trail,
        session.id,
        2,
        get_topic(Session.TokenUsageRecorded),
        {
            "class_version": 3,
            "record": {},
            "model": "",
            "actor": "runtime",
            "timestamp": "2026-11-23T00:00:00+00:00",
        },
    )
    with pytest.raises(VersionIncompatible, match=r"TokenUsageRecorded v3 .* \(v2\)"):
        other_trail.sessions.try_load("chat")
    with pytest.raises(VersionIncompatible):
        other_trail.sessions.load("chat")


@pytest.mark.expect_read_model_warnings
def test_an_unknown_event_type_is_a_clear_error_naming_it(
    trail: SessionTrail, other_trail: SessionTrail
):
    session = trail.sessions.load_or_create("chat")
    trail.sessions.save(session)
    store_raw(trail, session.id, 2, "sessiontrail.domain.session:Session.Renamed", {})
    with pytest.raises(VersionIncompatible, match=r"Session\.Renamed"):
        other_trail.sessions.try_load("chat")
    with pytest.raises(VersionIncompatible, match=r"Session\.Renamed"):
        trail.sessions.history("chat")
    trail.projections.catch_up()
    assert {s.skipped for s in trail.projections.status()} == {1}  # in each
    assert [s.session_id for s in trail.sessions.list().items] == ["chat"]
