"""Poison input, both layers: numbers past what a 64-bit integer or a finite double
holds are refused wherever they enter, with nothing written; and an event already
stored that a read model cannot hold (planted in the log past the checks, as an
older version let it through) is skipped and counted by that read model alone,
while every reader, writer, rebuild, verify, export and erasure goes on working."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import BaseAggregate
from fastapi.testclient import TestClient
from support.cli import invoke
from support.http import bearer, write_tokens
from support.poison import HUGE, plant, plant_in_session, plant_usage
from support.read_models import READ_MODELS, each

import sessiontrail
from sessiontrail import (
    ChecksumMismatch,
    InvalidInput,
    Session,
    SessionTrail,
    StorageUnavailable,
    aio,
)
from sessiontrail.domain.limits import MAX_INTEGER, MIN_INTEGER
from sessiontrail.domain.qa import QASession, qa_stream_id
from sessiontrail.integrations.adk import TrailSessionService, trail_session_id
from sessiontrail.projections.usage import UsageProjection
from sessiontrail.server.app import create_app
from sessiontrail.server.auth import Tokens

Write = Callable[[SessionTrail, Any], object]


def started(
    trail: SessionTrail, session_id: str = "chat", user: str = "bob"
) -> Session:
    session = trail.sessions.load_or_create(session_id, user_id=user)
    session.append_message(role="user", content="hello")
    trail.sessions.save(session)
    return session


def stored(trail: SessionTrail) -> Session:
    session = trail.sessions.load("chat")
    assert session is not None
    return session


def _usage(trail: SessionTrail, value: Any) -> None:
    session = stored(trail)
    session.record_token_usage({"t": value})
    trail.sessions.save(session)


def _message(trail: SessionTrail, **fields: Any) -> None:
    session = stored(trail)
    session.append_message(**fields)
    trail.sessions.save(session)


def _metadata_edit(trail: SessionTrail, value: Any) -> None:
    session = stored(trail)
    session.update_metadata({"n": value})
    trail.sessions.save(session)


def _adk_state(trail: SessionTrail, value: Any) -> None:
    async def create() -> None:
        async with await aio.connect(trail.url) as opened:
            await TrailSessionService(opened).create_session(
                app_name="app", user_id="bob", state={"n": value}
            )

    asyncio.run(create())


ENTRIES: dict[str, tuple[str, Write]] = {
    "usage record": ("record.t", _usage),
    "usage through the repository": (
        "record.t",
        lambda t, v: t.sessions.append_token_usage("chat", {"t": v}, user_id="bob"),
    ),
    "new session metadata": (
        "metadata.n",
        lambda t, v: t.sessions.save(Session(session_id="new", metadata={"n": v})),
    ),
    "metadata edit": ("changes.n", _metadata_edit),
    "message metadata": (
        "message.metadata.n",
        lambda t, v: _message(t, role="user", metadata={"n": v}),
    ),
    "content part": (
        "message.content_parts.0.n",
        lambda t, v: _message(t, role="user", content_parts=[{"type": "x", "n": v}]),
    ),
    "tool arguments": (
        "message.tool_calls.0.arguments.n",
        lambda t, v: _message(
            t,
            role="assistant",
            tool_calls=[{"id": "c1", "name": "f", "arguments": {"n": v}}],
        ),
    ),
    "Q&A metadata": (
        "entry.memify_metadata.n",
        lambda t, v: t.qa.create_qa_entry("chat", "q", "a", memify_metadata={"n": v}),
    ),
    "trace parameters": (
        "step.method_params.n",
        lambda t, v: t.qa.append_agent_trace_step(
            None, "chat", {"trace_id": "t1", "method_params": {"n": v}}
        ),
    ),
    "trace return value": (
        "step.method_return_value",
        lambda t, v: t.qa.append_agent_trace_step(
            None, "chat", {"trace_id": "t1", "method_return_value": v}
        ),
    ),
    "ADK state": ("metadata.adk.state.n", _adk_state),
}


def refused(trail: SessionTrail, field: str, write: Callable[[], object]) -> str:
    """`write` raises InvalidInput naming `field`; the log holds nothing new."""
    head = trail.store.head()
    with pytest.raises(InvalidInput) as caught:
        write()
    assert re.match(rf"{re.escape(field)}\b", str(caught.value)), str(caught.value)
    assert trail.store.head() == head, "a refused write wrote something"
    return str(caught.value)


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_huge_integer_is_refused_wherever_numbers_enter(
    trail: SessionTrail, entry: str
) -> None:
    field, write = ENTRIES[entry]
    if entry not in ("new session metadata", "ADK state"):
        started(trail)  # the session written to exists: only the number is refused
    message = refused(trail, field, lambda: write(trail, HUGE))
    assert "64 bits" in message


@pytest.mark.parametrize("value", [MAX_INTEGER + 1, MIN_INTEGER - 1])
def test_each_integer_just_past_the_limits_is_refused(value: int) -> None:
    with sessiontrail.connect("memory://") as trail:
        started(trail)
        refused(trail, "record.t", lambda: _usage(trail, value))


def test_a_huge_integer_given_as_text_is_refused(trail: SessionTrail) -> None:
    session_id = started(trail).session_id
    text = '{"t": 1' + "0" * 309 + "}"
    refused(
        trail, "record.t", lambda: trail.sessions.append_token_usage(session_id, text)
    )


def test_numbers_at_the_limits_are_kept_exactly(trail: SessionTrail) -> None:
    record = {"max": MAX_INTEGER, "min": MIN_INTEGER, "big": 1.7976931348623157e308}
    session = started(trail)
    session.record_token_usage(record)
    trail.sessions.save(session)
    with sessiontrail.connect(trail.url) as fresh:
        assert fresh.sessions.load("chat").token_usage == [record]
        assert fresh.usage.records("chat")[0].record == record
        assert fresh.usage.session_totals("chat")["big"] == 1.7976931348623157e308


# -- the HTTP API ----------------------------------------------------------------


@pytest.fixture
def client(trail: SessionTrail, tmp_path: Path) -> Iterator[TestClient]:
    tokens = Tokens.load(write_tokens(tmp_path / "tokens.json"))
    with TestClient(create_app(trail, tokens)) as opened:
        yield opened


def post_json(client: TestClient, path: str, text: str, user: str) -> Any:
    """POST a body given as JSON text (Python's json would not write NaN strictly)."""
    return client.post(
        path,
        content=text,
        headers={**bearer(user), "Content-Type": "application/json"},
    )


def test_a_310_digit_integer_over_http_is_422_naming_the_field(
    client: TestClient, trail: SessionTrail
) -> None:
    made = client.post("/v1/sessions", json={"session_id": "c"}, headers=bearer("bob"))
    assert made.status_code == 201
    head = trail.store.head()
    response = post_json(
        client, "/v1/sessions/c/usage", '{"t": 1' + "0" * 309 + "}", "bob"
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("record.t: ")
    assert trail.store.head() == head
    assert client.get("/v1/sessions", headers=bearer("ann")).status_code == 200
    assert client.get("/v1/sessions/c/usage", headers=bearer("bob")).status_code == 200


# -- an event already stored ---------------------------------------------------


@pytest.fixture
def poisoned(trail: SessionTrail) -> SessionTrail:
    """alice's and bob's sessions; bob's holds a usage record no total can hold."""
    started(trail, "alice-chat", "alice")
    started(trail, "bob-chat", "bob")
    plant_usage(trail, "bob-chat", {"t": HUGE})
    return trail


def skipped(trail: SessionTrail) -> dict[str, int]:
    return {status.name: status.skipped for status in trail.projections.status()}


@pytest.mark.expect_read_model_warnings
def test_a_poison_event_is_skipped_and_counted_by_its_read_model_alone(
    poisoned: SessionTrail,
) -> None:
    poisoned.projections.catch_up()
    assert skipped(poisoned) == {**each(0), "usage": 1}
    assert all(status.lag == 0 for status in poisoned.projections.status())


@pytest.mark.expect_read_model_warnings
def test_other_users_list_read_and_write_after_a_poison_event(
    poisoned: SessionTrail,
) -> None:
    assert [s.session_id for s in poisoned.sessions.list(user_id="alice").items] == [
        "alice-chat"
    ]
    session = poisoned.sessions.load("alice-chat", user_id="alice")
    session.append_message(role="assistant", content="still here")
    poisoned.sessions.save(session)
    page = poisoned.sessions.messages("alice-chat", last_n=1, user_id="alice")
    assert [m.content for m in page.items] == ["still here"]


@pytest.mark.expect_read_model_warnings
def test_the_poisoned_session_still_loads_and_replays(poisoned: SessionTrail) -> None:
    with sessiontrail.connect(poisoned.url) as fresh:  # nothing cached
        assert fresh.sessions.load("bob-chat").token_usage == [{"t": HUGE}]
        assert [e.event for e in fresh.sessions.history("bob-chat")][-1] == (
            "TokenUsageRecorded"
        )
        assert fresh.sessions.at("bob-chat", version=2).token_usage == []
        assert fresh.usage.records("bob-chat", user_id="bob") == []  # skipped there


@pytest.mark.expect_read_model_warnings
def test_a_trail_opens_on_a_log_holding_a_poison_event(poisoned: SessionTrail) -> None:
    with sessiontrail.connect(poisoned.url) as reopened:  # catches up as it opens
        assert len(reopened.sessions.list().items) == 2
        assert skipped(reopened)["usage"] == 1


@pytest.mark.expect_read_model_warnings
def test_a_worker_skips_a_poison_event(poisoned: SessionTrail) -> None:
    with sessiontrail.connect(poisoned.url, projections="worker") as worker:
        assert worker.projections.catch_up() == worker.store.head()
        assert skipped(worker)["usage"] == 1


@pytest.mark.expect_read_model_warnings
def test_the_inline_catch_up_skips_a_poison_event_its_own_write_stored(
    trail: SessionTrail,
) -> None:
    """The fast path applies a write's own events without reading them back."""
    session = started(trail)
    BaseAggregate.trigger_event(  # past the checks, as an older version let it in
        session, Session.TokenUsageRecorded, record={"t": HUGE}, model="", actor="x"
    )
    position = trail.store.record(session)
    assert position is not None
    reached = trail.projections.catch_up(position)
    assert {(s.position, s.lag) for s in trail.projections.status()} == {(reached, 0)}
    assert skipped(trail)["usage"] == 1


@pytest.mark.expect_read_model_warnings
def test_rebuilding_usage_skips_a_poison_event(poisoned: SessionTrail) -> None:
    poisoned.sessions.append_token_usage("bob-chat", {"t": 2})
    status = poisoned.projections.rebuild("usage")
    assert (status.skipped, status.lag) == (1, 0)
    assert poisoned.usage.session_totals("bob-chat") == {"records": 1, "t": 2}


def test_verify_export_and_erasure_work_with_a_poison_event(
    poisoned: SessionTrail,
) -> None:
    assert poisoned.verify().ok  # a real event, in its chain
    out = io.StringIO()
    assert poisoned.exporter.write(out, format="json") == 5
    assert json.loads(out.getvalue())["events"][-1]["payload"]["record"]["t"] == HUGE
    report = poisoned.erase_user("bob")
    assert report.read_models == list(READ_MODELS)
    assert len(poisoned.sessions.list().items) == 2  # every read model rewritten


@pytest.mark.expect_read_model_warnings
def test_the_cli_works_on_a_log_holding_a_poison_event(
    poisoned: SessionTrail, tmp_path: Path
) -> None:
    db = ("--db", poisoned.url)
    export = tmp_path / "out.jsonl"
    for command in (
        ["ls"],
        ["verify"],
        ["export", "--all", "-o", str(export)],
        ["projections", "rebuild", "usage"],
        ["erase-user", "bob", "--yes"],
    ):
        result = invoke(*db, *command)
        assert result.exit_code == 0, (command, result.stdout + result.stderr)


def test_importing_a_poison_event_elsewhere_is_refused(
    poisoned: SessionTrail, tmp_path: Path
) -> None:
    export = tmp_path / "out.jsonl"
    with export.open("w") as out:
        poisoned.exporter.write(out)
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'other.db'}") as other:
        message = refused(
            other,
            "line 5: payload.record.t",
            lambda: other.importer.import_file(export),
        )
        assert "64 bits" in message


@pytest.mark.expect_read_model_warnings
def test_the_http_api_serves_everyone_after_a_poison_event(
    poisoned: SessionTrail, client: TestClient
) -> None:
    for user, session_id in (("ann", "a1"), ("bob", "b1")):
        made = client.post(
            "/v1/sessions", json={"session_id": session_id}, headers=bearer(user)
        )
        assert made.status_code == 201, made.text
    plant_usage(poisoned, "b1", {"t": HUGE})
    assert client.get("/v1/sessions", headers=bearer("ann")).status_code == 200
    assert client.get("/v1/sessions/b1/usage", headers=bearer("bob")).json() == {
        "records": [],
        "totals": {},
    }
    events = client.get("/v1/events", headers=bearer("bob")).json()["items"]
    assert events[-1]["event"] == "TokenUsageRecorded"
    said = client.post(
        "/v1/sessions/a1/messages",
        json={"role": "user", "content": "hi"},
        headers=bearer("ann"),
    )
    assert said.status_code == 201, said.text


@pytest.mark.expect_read_model_warnings
def test_the_adk_read_model_skips_a_poison_event(trail: SessionTrail) -> None:
    async def create() -> None:
        async with await aio.connect(trail.url) as opened:
            await TrailSessionService(opened).create_session(
                app_name="app", user_id="bob", session_id="s", state={"k": 1}
            )

    asyncio.run(create())
    recorded = {"timestamp": HUGE, "state_delta": {"k": 2}}
    plant_in_session(
        trail,
        trail_session_id("app", "bob", "s"),
        Session.MessageAppended,
        message={"role": "user", "content": "x", "metadata": {"adk": recorded}},
    )
    _, state, _ = trail.adk.session("app", "bob", "s")
    assert state == {"k": 1}  # the event that would have set 2 is skipped
    assert skipped(trail)["adk"] == 1


OUTAGES = [
    StorageUnavailable("the database went away"),
    sqlite3.OperationalError("disk I/O error"),
    psycopg.OperationalError("server closed the connection unexpectedly"),
]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda exc: type(exc).__name__)
def test_an_outage_in_a_handler_is_retried_not_skipped(
    url: str, outage: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sessiontrail.connect(url, projections="worker") as worker:
        started(worker)
        reached = worker.projections.catch_up()
        worker.sessions.append_token_usage("chat", {"t": 1})

        def failing(self: UsageProjection, event: Any, cur: Any, position: int) -> None:
            raise outage

        with monkeypatch.context() as patch:
            patch.setattr(UsageProjection, "apply", failing)
            with pytest.raises(StorageUnavailable):
                worker.projections.catch_up()
        usage = next(s for s in worker.projections.status() if s.name == "usage")
        assert (usage.position, usage.skipped) == (reached, 0)
        worker.projections.catch_up()
        assert worker.usage.session_totals("chat") == {"records": 1, "t": 1}


def test_a_stored_event_that_does_not_apply_is_named_for_its_stream_alone(
    trail: SessionTrail,
) -> None:
    """An update of a Q&A entry its stream never had (an import does not replay)."""
    for user in ("alice", "bob"):
        trail.qa.create_qa_entry("chat", "q", "a", user_id=user, qa_id="e1")
    stream = qa_stream_id("bob", "chat")
    plant(
        trail,
        stream,
        QASession.QAEntryUpdated,
        owner="bob",
        qa_id="nope",
        changes={"answer": "x"},
    )
    with pytest.raises(ChecksumMismatch) as caught:
        trail.qa.create_qa_entry("chat", "q2", "a2", user_id="bob")
    assert (caught.value.stream, caught.value.version) == (str(stream), 3)
    assert "QAEntryUpdated does not apply to its stream: KeyError" in str(caught.value)
    trail.qa.create_qa_entry("chat", "q2", "a2", user_id="alice")
    assert len(trail.qa.get_all_qa_entries("chat", user_id="alice")) == 2
