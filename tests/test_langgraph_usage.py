"""A LangGraph conversation's token usage in the usage ledger, on every backend:
each model reply's `usage_metadata` is one record, counted once however often
time travel puts the reply back in the transcript; a thread that never time
travelled never reads its ledger to tell."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import MessagesState
from langgraph.graph.state import CompiledStateGraph
from support.langgraph import one_node_graph

from sessiontrail import Session, SessionTrail
from sessiontrail.infrastructure.event_store import SNAPSHOT_INTERVAL
from sessiontrail.integrations.langgraph import TrailSaver

THREAD = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
SESSION = "langgraph/t1"


def chat(saver: TrailSaver) -> CompiledStateGraph:
    """A model node that answers every message, its reply costing 10 + 2n tokens."""
    replies = count(1)

    def model(state: MessagesState) -> dict[str, Any]:
        n = next(replies)
        usage = {"input_tokens": 10, "output_tokens": 2 * n, "total_tokens": 10 + 2 * n}
        reply = AIMessage(
            content=f"reply {n}",
            id=f"reply-{n}",
            usage_metadata=usage,
            response_metadata={"model_name": "gpt-test"},
        )
        return {"messages": [reply]}

    return one_node_graph(saver, model)


def say(graph: CompiledStateGraph, text: str, config: Any = None) -> None:
    graph.invoke({"messages": [HumanMessage(text)]}, config or THREAD)


def assert_stored_without_usage(trail: SessionTrail, reply_id: str) -> None:
    """The reply is the transcript's last message, and the ledger holds nothing."""
    transcript = trail.sessions.load(SESSION, user_id="ann")
    assert transcript is not None
    assert [m.id for m in transcript.messages][-1] == reply_id
    assert trail.usage.records(SESSION) == []


def branched(saver: TrailSaver) -> tuple[CompiledStateGraph, Any]:
    """Two turns, then a branch from the first (reply-2 cut from the
    transcript): the graph and the first branch's latest config."""
    graph = chat(saver)
    say(graph, "hi")
    say(graph, "again")
    latest = graph.get_state(THREAD).config
    first_turn = next(
        s
        for s in graph.get_state_history(THREAD)
        if [m.content for m in s.values["messages"]] == ["hi", "reply 1"]
    )
    say(graph, "other way", first_turn.config)
    return graph, latest


def test_each_model_reply_is_one_usage_record_of_its_model(trail: SessionTrail) -> None:
    graph = chat(TrailSaver(trail))
    say(graph, "hi")
    say(graph, "again")

    records = trail.usage.records(SESSION, user_id="ann")
    assert [(r.model, r.record["message_id"]) for r in records] == [
        ("gpt-test", "reply-1"),
        ("gpt-test", "reply-2"),
    ]
    totals = trail.usage.session_totals(SESSION)
    assert (totals["records"], totals["total_tokens"]) == (2, 26)


def test_a_reply_time_travel_puts_back_is_not_counted_again(
    trail: SessionTrail,
) -> None:
    graph, latest = branched(TrailSaver(trail))
    graph.update_state(latest, {"messages": []})  # back to the first branch

    transcript = trail.sessions.load(SESSION, user_id="ann")
    assert transcript is not None
    assert [m.id for m in transcript.messages][-1] == "reply-2"  # put back
    ids = [r.record["message_id"] for r in trail.usage.records(SESSION)]
    assert ids == ["reply-1", "reply-2", "reply-3"]


def test_a_message_without_usage_records_none(trail: SessionTrail) -> None:
    def model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(content="free", id="free-1")]}

    say(one_node_graph(TrailSaver(trail), model), "hi")

    assert trail.usage.records(SESSION) == []


@pytest.fixture
def ledger_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sessions whose usage records, or messages the transcript lost, were
    read, in order (either is a read of the log when the session was loaded)."""
    read: list[str] = []
    records, lost = Session.token_usage, Session.lost_ids

    def counted(self: Session) -> list[dict[str, Any]]:
        read.append(self.session_id)
        return records.fget(self)  # type: ignore[no-any-return, misc]

    def lost_read(self: Session) -> set[str]:
        read.append(self.session_id)
        return lost(self)

    monkeypatch.setattr(Session, "token_usage", property(counted))
    monkeypatch.setattr(Session, "lost_ids", lost_read)
    return read


def test_a_thread_whose_transcript_never_lost_a_message_reads_no_usage_records(
    trail: SessionTrail, ledger_reads: list[str]
) -> None:
    graph = chat(TrailSaver(trail))
    for turn in range(6):
        say(graph, f"turn {turn}")

    assert ledger_reads == []
    assert len(trail.usage.records(SESSION)) == 6


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("usage", [[10, 2], "lots"], ids=["list", "text"])
def test_usage_metadata_not_an_object_records_nothing_and_the_put_stores(
    trail: SessionTrail, usage: Any
) -> None:
    """An app may set `usage_metadata` to anything after building the message
    (LangChain checks it only when the message is built); LangGraph's own savers
    store such a reply, so this one does too, with no usage record."""

    def model(state: MessagesState) -> dict[str, Any]:
        reply = AIMessage(content="odd", id="odd-1")
        reply.usage_metadata = usage
        return {"messages": [reply]}

    say(one_node_graph(TrailSaver(trail), model), "hi")

    assert_stored_without_usage(trail, "odd-1")


def test_a_copied_thread_counts_no_reply_it_was_copied_with_after_time_travel(
    trail: SessionTrail,
) -> None:
    """A copy (LangGraph's `copy_thread`) holds the source's replies and none of
    its usage records: those replies were counted in the source. Cut by time
    travel in the copy and put back, they are still the source's model calls."""
    saver = TrailSaver(trail)
    graph = chat(saver)
    say(graph, "hi")
    say(graph, "again")
    saver.copy_thread("t1", "t2")
    copy = {"configurable": {"thread_id": "t2", "user_id": "ann"}}
    latest = graph.get_state(copy).config
    first_turn = next(
        s
        for s in graph.get_state_history(copy)
        if [m.content for m in s.values["messages"]] == ["hi", "reply 1"]
    )
    graph.update_state(first_turn.config, {"messages": []})  # reply-2 cut
    graph.update_state(latest, {"messages": []})  # and put back

    transcript = trail.sessions.load("langgraph/t2", user_id="ann")
    assert transcript is not None
    assert [m.id for m in transcript.messages][-1] == "reply-2"
    assert trail.usage.records("langgraph/t2") == []


def test_a_reply_put_back_by_another_process_is_not_counted_again(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    """The other process holds nothing of the thread and loads it from a
    snapshot: it reads from the log which messages the transcript lost."""
    graph, latest = branched(TrailSaver(trail))
    stream = trail.store.ids.stream(SESSION)
    while trail.store.stream_version(stream) <= SNAPSHOT_INTERVAL:
        say(graph, "more")  # a snapshot of the thread, which holds no transcript
    replies = len(trail.usage.records(SESSION))
    chat(TrailSaver(other_trail)).update_state(latest, {"messages": []})

    transcript = other_trail.sessions.load(SESSION, user_id="ann")
    assert transcript is not None
    assert [m.id for m in transcript.messages][-1] == "reply-2"
    assert len(trail.usage.records(SESSION)) == replies


@pytest.mark.xfail(
    strict=True,
    reason="a copy does not know which replies its source lost before the copy "
    "was made: one its checkpoints put back is counted again in the copy",
)
def test_a_copied_thread_counts_no_reply_its_source_had_lost(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    graph = chat(saver)
    say(graph, "hi")
    say(graph, "again")
    first_turn = next(
        s
        for s in graph.get_state_history(THREAD)
        if [m.content for m in s.values["messages"]] == ["hi", "reply 1"]
    )
    say(graph, "other way", first_turn.config)  # reply-2 cut in the source
    saver.copy_thread("t1", "t2")
    copy = {"configurable": {"thread_id": "t2", "user_id": "ann"}}
    second_turn = next(
        s
        for s in graph.get_state_history(copy)
        if [m.content for m in s.values["messages"]][-1:] == ["reply 2"]
    )
    graph.update_state(second_turn.config, {"messages": []})  # reply-2 back

    transcript = trail.sessions.load("langgraph/t2", user_id="ann")
    assert transcript is not None
    assert [m.id for m in transcript.messages][-1] == "reply-2"
    assert trail.usage.records("langgraph/t2") == []


def nested(depth: int) -> dict[str, Any]:
    """A JSON object nested `depth` levels deep."""
    value: dict[str, Any] = {"tokens": 1}
    for _ in range(depth):
        value = {"detail": value}
    return value


@pytest.mark.parametrize(
    ("usage", "named"),
    [
        ({"cost": float("nan")}, "cost"),
        ({"input_tokens": 2**63}, "input_tokens"),
        ({"provider": nested(40)}, "nested deeper"),
    ],
    ids=["not-finite", "past-64-bits", "deep"],
)
def test_usage_the_ledger_cannot_hold_is_left_out_and_the_reply_stored(
    trail: SessionTrail,
    usage: dict[str, Any],
    named: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """LangGraph has stored the reply as a pending write when the checkpoint
    after it is put: refusing that put would refuse every resume of the thread.
    The reply is stored, its usage left out with a warning naming it."""

    def model(state: MessagesState) -> dict[str, Any]:
        counts = {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
        reply = AIMessage(content="odd", id="odd-1", usage_metadata=counts | usage)
        return {"messages": [reply]}

    say(one_node_graph(TrailSaver(trail), model), "hi")

    assert_stored_without_usage(trail, "odd-1")
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("'odd-1'" in line and named in line for line in warned), warned


@pytest.mark.parametrize("model_name", ["gpt\x00test", "g" * 300])
def test_a_model_name_no_model_is_named_by_counts_under_the_sessions_model(
    trail: SessionTrail, model_name: str
) -> None:
    """A reply naming a model no session could (a NUL, which PostgreSQL's text
    cannot hold, or past the length of a model name) is stored, as LangGraph's
    own savers store it; its usage counts under the session's model."""

    def model(state: MessagesState) -> dict[str, Any]:
        usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
        reply = AIMessage(
            content="reply",
            id="reply-1",
            usage_metadata=usage,
            response_metadata={"model_name": model_name},
        )
        return {"messages": [reply]}

    say(one_node_graph(TrailSaver(trail), model), "hi")

    [record] = trail.usage.records(SESSION, user_id="ann")
    assert (record.model, record.record["message_id"]) == ("", "reply-1")
    assert "model" not in record.record
    assert trail.usage.model_totals()[""]["total_tokens"] == 7
