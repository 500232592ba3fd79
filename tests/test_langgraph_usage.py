"""A LangGraph conversation's token usage in the usage ledger, on every backend:
each model reply's `usage_metadata` is one record, counted once however often
time travel puts the reply back in the transcript; a thread that never time
travelled never reads its ledger to tell."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

from sessiontrail import Session, SessionTrail
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

    builder = StateGraph(MessagesState)
    builder.add_node("model", model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=saver)


def say(graph: CompiledStateGraph, text: str, config: Any = None) -> None:
    graph.invoke({"messages": [HumanMessage(text)]}, config or THREAD)


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
    graph = chat(TrailSaver(trail))
    say(graph, "hi")
    say(graph, "again")
    latest = graph.get_state(THREAD).config
    first_turn = next(
        s
        for s in graph.get_state_history(THREAD)
        if [m.content for m in s.values["messages"]] == ["hi", "reply 1"]
    )
    say(graph, "other way", first_turn.config)  # a branch: reply-2 cut out
    graph.update_state(latest, {"messages": []})  # back to the first branch

    transcript = trail.sessions.load(SESSION, user_id="ann")
    assert transcript is not None
    assert [m.id for m in transcript.messages][-1] == "reply-2"  # put back
    ids = [r.record["message_id"] for r in trail.usage.records(SESSION)]
    assert ids == ["reply-1", "reply-2", "reply-3"]


def test_a_message_without_usage_records_none(trail: SessionTrail) -> None:
    def model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(content="free", id="free-1")]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    say(builder.compile(checkpointer=TrailSaver(trail)), "hi")

    assert trail.usage.records(SESSION) == []


@pytest.fixture
def ledger_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sessions whose usage records were read, in order."""
    read: list[str] = []
    records = Session.token_usage

    def counted(self: Session) -> list[dict[str, Any]]:
        read.append(self.session_id)
        return records.fget(self)  # type: ignore[no-any-return, misc]

    monkeypatch.setattr(Session, "token_usage", property(counted))
    return read


def test_a_thread_whose_transcript_never_lost_a_message_reads_no_usage_records(
    trail: SessionTrail, ledger_reads: list[str]
) -> None:
    graph = chat(TrailSaver(trail))
    for turn in range(6):
        say(graph, f"turn {turn}")

    assert ledger_reads == []
    assert len(trail.usage.records(SESSION)) == 6


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

    builder = StateGraph(MessagesState)
    builder.add_node("model", model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    say(builder.compile(checkpointer=TrailSaver(trail)), "hi")

    [record] = trail.usage.records(SESSION, user_id="ann")
    assert (record.model, record.record["message_id"]) == ("", "reply-1")
    assert "model" not in record.record
    assert trail.usage.model_totals()[""]["total_tokens"] == 7
