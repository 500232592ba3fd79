"""A message the transcript cannot hold never stops a LangGraph thread, on every
backend: LangGraph's own savers store it, so the checkpoint is stored with it
(state, resume and history hold it), the transcript leaves it out with one
warning naming it, and the steps after it append only their new messages."""

from __future__ import annotations

import asyncio
import operator
from itertools import count
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import MessagesState
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt
from support.langgraph import checkpoint, config, one_node_graph
from typing_extensions import TypedDict

from sessiontrail import SessionTrail, aio
from sessiontrail.integrations.langgraph import AsyncTrailSaver, TrailSaver

THREAD = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
SESSION = "langgraph/t1"
DEEP: Any = []
for _ in range(40):
    DEEP = [DEEP]
REFUSED: dict[str, BaseMessage] = {
    "an id over 256 characters": HumanMessage("hi", id="x" * 300),
    "an id with a control character": HumanMessage("hi", id="a\0b"),
    "a text over 1,000,000 characters": HumanMessage("y" * 1_000_001, id="big"),
    "a lone surrogate": HumanMessage("hi \ud800", id="odd"),
    "arguments nested past 32 levels": AIMessage(
        "", id="deep", tool_calls=[{"name": "t", "args": {"a": DEEP}, "id": "c"}]
    ),
}


def replying(saver: Any, *, ask: bool = False, tag: str = "r") -> CompiledStateGraph:
    """A model node answering every message (after asking a person, if `ask`);
    its replies' ids are `tag` and a number."""
    replies = count(1)

    def model(state: MessagesState) -> dict[str, Any]:
        answer = interrupt("go on?") if ask else "yes"
        n = next(replies)
        return {"messages": [AIMessage(f"{answer} {n}", id=f"{tag}{n}")]}

    return one_node_graph(saver, model)


def warnings_about(caplog: pytest.LogCaptureFixture, message: BaseMessage) -> int:
    """How many warnings name the message (its id, shortened as the log does)."""
    shown = repr(message.id if len(message.id or "") <= 80 else f"{message.id[:80]}...")
    return sum(
        1
        for record in caplog.records
        if record.levelname == "WARNING" and shown in record.getMessage()
    )


@pytest.mark.parametrize("case", REFUSED)
def test_a_run_with_a_message_the_transcript_cannot_hold_is_stored(
    trail: SessionTrail, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Side by side with LangGraph's SqliteSaver: the same state stored."""
    odd = REFUSED[case]
    graph = replying(TrailSaver(trail))
    state = graph.invoke({"messages": [odd]}, THREAD)
    assert [m.id for m in state["messages"]] == [odd.id, "r1"]
    with SqliteSaver.from_conn_string(":memory:") as theirs:
        beside = replying(theirs)
        beside.invoke({"messages": [odd]}, THREAD)
        assert graph.get_state(THREAD).values == beside.get_state(THREAD).values
    assert [m.id for m in trail.sessions.load(SESSION).messages] == ["r1"]
    assert warnings_about(caplog, odd) == 1


def test_a_resume_over_a_message_the_transcript_cannot_hold_goes_on(
    trail: SessionTrail,
) -> None:
    odd = REFUSED["an id over 256 characters"]
    graph = replying(TrailSaver(trail), ask=True)
    graph.invoke({"messages": [HumanMessage("start", id="h0"), odd]}, THREAD)
    assert graph.get_state(THREAD).next == ("model",)
    state = graph.invoke(Command(resume="sure"), THREAD)
    assert [m.id for m in state["messages"]] == ["h0", odd.id, "r1"]
    assert [m.id for m in trail.sessions.load(SESSION).messages] == ["h0", "r1"]


def test_each_step_after_a_refused_message_appends_only_its_new_ones(
    trail: SessionTrail, caplog: pytest.LogCaptureFixture
) -> None:
    """Twenty turns after the odd message: every message once in the transcript,
    none removed and appended again, one warning in the whole run."""
    odd = REFUSED["an id with a control character"]
    graph = replying(TrailSaver(trail))
    graph.invoke({"messages": [HumanMessage("first", id="h0"), odd]}, THREAD)
    for turn in range(1, 21):
        graph.invoke(
            {"messages": [HumanMessage(f"turn {turn}", id=f"h{turn}")]}, THREAD
        )
    events = [h.event for h in trail.sessions.history(SESSION)]
    assert "TranscriptTruncated" not in events
    assert events.count("MessageAppended") == 2 * 21
    assert len(trail.sessions.load(SESSION).messages) == 42
    assert warnings_about(caplog, odd) == 1


def test_a_new_saver_finds_the_refused_message_among_those_stored(
    trail: SessionTrail,
) -> None:
    """A saver (a new process) without the memory of the run before reads the
    conversation back with the odd message inside it, and leaves the
    transcript as it is: nothing removed, nothing appended twice."""
    odd = REFUSED["an id over 256 characters"]
    replying(TrailSaver(trail)).invoke(
        {"messages": [HumanMessage("first", id="h0"), odd]}, THREAD
    )
    replying(TrailSaver(trail), tag="again").invoke(
        {"messages": [HumanMessage("again", id="h1")]}, THREAD
    )
    events = [h.event for h in trail.sessions.history(SESSION)]
    assert "TranscriptTruncated" not in events
    ids = [m.id for m in trail.sessions.load(SESSION).messages]
    assert ids == ["h0", "r1", "h1", "again1"]


def test_the_async_saver_stores_a_run_with_a_refused_message(url: str) -> None:
    odd = REFUSED["a text over 1,000,000 characters"]

    async def scenario() -> tuple[list[str | None], list[str]]:
        async with await aio.connect(url) as trail:
            graph = replying(AsyncTrailSaver(trail))
            state = await graph.ainvoke({"messages": [odd]}, THREAD)
            session = await trail.sessions.load(SESSION)
            return [m.id for m in state["messages"]], [m.id for m in session.messages]

    assert asyncio.run(scenario()) == ([odd.id, "r1"], ["r1"])


class Listed(TypedDict):
    """A conversation kept as a plain list (no `add_messages`): two messages
    may share an id."""

    messages: Annotated[list[BaseMessage], operator.add]


def listing(saver: Any) -> CompiledStateGraph:
    """A model node answering every turn, its replies' ids `r` and the turn."""

    def model(state: Listed) -> dict[str, Any]:
        n = sum(isinstance(m, AIMessage) for m in state["messages"]) + 1
        return {"messages": [AIMessage(f"yes {n}", id=f"r{n}")]}

    return one_node_graph(saver, model, Listed)


def test_a_later_message_of_a_refused_messages_id_is_left_out_alike(
    trail: SessionTrail,
) -> None:
    """A refused message's id counts as seen in the list whether the saver
    remembers the conversation (one saver, one run) or reads it afresh (a new
    saver for the second turn): the same transcript either way, and the same
    state as on LangGraph's SqliteSaver."""
    odd = HumanMessage("y" * 1_000_001, id="same")
    later = HumanMessage("fits", id="same")
    remembering = listing(TrailSaver(trail))
    remembered = {"configurable": {"thread_id": "kept", "user_id": "ann"}}
    remembering.invoke({"messages": [odd]}, remembered)
    remembering.invoke({"messages": [later]}, remembered)
    afresh = {"configurable": {"thread_id": "anew", "user_id": "ann"}}
    listing(TrailSaver(trail)).invoke({"messages": [odd]}, afresh)
    listing(TrailSaver(trail)).invoke({"messages": [later]}, afresh)

    with SqliteSaver.from_conn_string(":memory:") as theirs:
        beside = listing(theirs)
        beside.invoke({"messages": [odd]}, afresh)
        beside.invoke({"messages": [later]}, afresh)
        expected = beside.get_state(afresh).values
    assert remembering.get_state(remembered).values == expected
    transcripts = [
        [m.id for m in trail.sessions.load(f"langgraph/{thread}").messages]
        for thread in ("kept", "anew")
    ]
    assert transcripts == [["r1", "r2"], ["r1", "r2"]]


def test_what_the_memory_says_after_a_changed_message_is_not_taken_on_trust(
    trail: SessionTrail,
) -> None:
    """The memory's word on a message holds only while every message before it
    is the one it remembers: here a refused message is replaced by a copy of a
    later one, so the tool result its id kept out is mirrored now, by the saver
    that remembers the step before as by a new saver."""
    refused = HumanMessage("hi \ud800", id="c")
    result = ToolMessage("18C", tool_call_id="call", id="c")
    reply = AIMessage("sunny", id="d")
    first = [refused, result, reply]
    second = [AIMessage("sunny", id="d"), result, reply]
    remembering = TrailSaver(trail)
    for thread, savers in (("kept", [remembering] * 2), ("anew", [None, None])):
        for messages, saver in zip((first, second), savers, strict=True):
            saved = checkpoint({"messages": messages})
            (saver or TrailSaver(trail)).put(
                config(thread, user_id="ann"), saved, {}, {"messages": 1}
            )
    transcripts = [
        [m.id for m in trail.sessions.load(f"langgraph/{thread}").messages]
        for thread in ("kept", "anew")
    ]
    assert transcripts == [["d", "c"], ["d", "c"]]
