"""A LangGraph saver appends each write to the thread's session as its own last
write stored it, without loading it again; a change another writer made since
(a write, a delete, a purge) is found at the append, which then loads the
session afresh and does its write there, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from support.langgraph import checkpoint, config

from sessiontrail import SessionTrail
from sessiontrail.infrastructure.event_store import SessionStore
from sessiontrail.integrations.langgraph import TrailSaver

SESSION = "langgraph/t1"


@pytest.fixture
def session_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names each read of a whole session or of its stream's last record."""
    asked: list[str] = []
    for name in ("load", "stream_head"):
        original = getattr(SessionStore, name)

        def counted(
            store: SessionStore, *args: Any, _n: str = name, _o: Any = original
        ) -> Any:
            asked.append(_n)
            return _o(store, *args)

        monkeypatch.setattr(SessionStore, name, counted)
    return asked


def put(saver: TrailSaver, text: str) -> str:
    """Put a checkpoint whose conversation is one message."""
    saved = checkpoint({"messages": [HumanMessage(text, id=f"h-{text}")]})
    saver.put(config("t1"), saved, {"step": 0}, {"messages": 1})
    return saved["id"]


def ids(saver: TrailSaver) -> list[str]:
    return [found.checkpoint["id"] for found in saver.list(config("t1"))]


def test_a_put_after_the_savers_own_write_reads_no_session(
    trail: SessionTrail, session_reads: list[str]
) -> None:
    saver = TrailSaver(trail)
    first = put(saver, "one")
    session_reads.clear()

    second = put(saver, "two")

    assert session_reads == []
    assert ids(saver) == [second, first]


def test_a_put_after_another_process_wrote_keeps_both_writes(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saver, other = TrailSaver(trail), TrailSaver(other_trail)
    first = put(saver, "one")
    second = put(other, "two")

    third = put(saver, "three")

    assert ids(saver) == [third, second, first]


@pytest.mark.parametrize("ended", ["deleted", "purged"])
def test_a_put_after_another_process_ended_the_thread_starts_it_afresh(
    trail: SessionTrail, other_trail: SessionTrail, ended: str
) -> None:
    saver = TrailSaver(trail)
    put(saver, "old")
    if ended == "deleted":
        other_trail.sessions.delete(SESSION, actor="someone")
    else:
        other_trail.sessions.purge(SESSION, actor="someone")

    new = put(saver, "new")

    assert ids(saver) == [new]
    session = trail.sessions.load(SESSION)
    assert session is not None
    assert [message.content for message in session.messages] == ["new"]


def test_a_put_after_the_user_was_erased_keeps_the_erased_messages_erased(
    trail: SessionTrail,
) -> None:
    """After an erasure LangGraph reads the thread's checkpoint back empty, so
    its next step holds only what came since, and the transcript mirrors that:
    the erased message is not written again (the saver kept no copy of it)."""
    saver = TrailSaver(trail)
    said = [HumanMessage("my secret", id="h-1")]
    ann = config("t1", user_id="ann")
    saver.put(ann, checkpoint({"messages": said}), {"step": 0}, {"messages": 1})
    trail.erase_user("ann")
    found = saver.get_tuple(ann)
    assert found is not None
    assert found.checkpoint["channel_values"] == {}

    again = [HumanMessage("next", id="h-2")]
    saver.put(ann, checkpoint({"messages": again}), {"step": 1}, {"messages": 1})

    session = trail.sessions.load(SESSION)
    assert session is not None
    assert [message.content for message in session.messages] == ["next"]


def test_a_graph_run_loads_the_session_once_though_its_writes_overlap(
    trail: SessionTrail, session_reads: list[str]
) -> None:
    """LangGraph puts a step's checkpoint in the background while the next step
    records its pending writes on the same thread: each of the saver's writes
    waits for the other, so every one after the first appends to the session
    the one before stored (racing, one of them found its stream moved, loaded
    the whole session and did its work again, at most steps)."""
    builder = StateGraph(MessagesState)
    builder.add_node("model", _model)
    builder.add_node("tool", _tool)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", _route)
    builder.add_edge("tool", "model")
    graph = builder.compile(checkpointer=TrailSaver(trail))
    thread = {"configurable": {"thread_id": "t1"}}
    graph.invoke({"messages": [HumanMessage("q0", id="h0")]}, thread)
    session_reads.clear()
    for turn in range(1, 11):
        graph.invoke({"messages": [HumanMessage(f"q{turn}", id=f"h{turn}")]}, thread)
    assert "load" not in session_reads  # (a snapshot, every 100 events, reads a head)
    assert len(trail.sessions.load(SESSION).messages) == 4 * 11


def _model(state: MessagesState) -> dict[str, Any]:
    """Asks for a tool after a person's message, else answers."""
    n = len(state["messages"])
    if isinstance(state["messages"][-1], HumanMessage):
        call = {"name": "look", "args": {"n": n}, "id": f"c{n}"}
        return {"messages": [AIMessage("", id=f"a{n}", tool_calls=[call])]}
    return {"messages": [AIMessage(f"answer {n}", id=f"a{n}")]}


def _tool(state: MessagesState) -> dict[str, Any]:
    """Answers the model's tool call."""
    call = state["messages"][-1].tool_calls[0]  # type: ignore[attr-defined]
    n = len(state["messages"])
    return {
        "messages": [ToolMessage(f"found {n}", tool_call_id=call["id"], id=f"t{n}")]
    }


def _route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tool" if isinstance(last, AIMessage) and last.tool_calls else END
