"""The transcript a LangGraph conversation is mirrored into: whatever the session
held before, after a checkpoint it equals the conversation's messages converted
one by one, even when a message changed but kept its id (LangGraph's
`add_messages` replaces a message by id). Pure: no database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from sessiontrail.domain.session import Session
from sessiontrail.integrations.langgraph_messages import mirror

CALL = {"name": "weather", "args": {"city": "Paris"}, "id": "c1"}


def conversation() -> list[Any]:
    return [
        SystemMessage("be brief", id="s"),
        HumanMessage("weather?", id="h1", name="ann"),
        AIMessage("", tool_calls=[CALL], id="a1"),
        ToolMessage("18C", tool_call_id="c1", id="t1"),
        AIMessage("sunny", id="a2"),
    ]


def transcript(values: list[Any], before: list[Any] | None = None) -> list[Any]:
    """The transcript after mirroring `values` (into a session that mirrored
    `before` first, if given), each message without its time."""
    session = Session(session_id="s", model="m")
    if before is not None:
        mirror(session, before, "runtime")
    mirror(session, values, "runtime")
    return [m.model_dump(exclude={"created_at"}) for m in session.messages]


def replaced(position: int, message: BaseMessage) -> Callable[[list[Any]], None]:
    def change(values: list[Any]) -> None:
        values[position] = message

    return change


CHANGES: dict[str, Callable[[list[Any]], None]] = {
    "content": replaced(4, AIMessage("rainy", id="a2")),
    "name": replaced(1, HumanMessage("weather?", id="h1", name="bob")),
    "type": replaced(0, HumanMessage("be brief", id="s")),
    "content blocks": replaced(
        4, AIMessage([{"type": "text", "text": "sunny"}], id="a2")
    ),
    "tool call arguments": replaced(
        2, AIMessage("", tool_calls=[{**CALL, "args": {"city": "Rome"}}], id="a1")
    ),
    "tool call arguments not JSON": replaced(
        2, AIMessage("", tool_calls=[{**CALL, "args": {"days": (1, 2)}}], id="a1")
    ),
    "tool call name": replaced(
        2, AIMessage("", tool_calls=[{**CALL, "name": "forecast"}], id="a1")
    ),
    "tool calls removed": replaced(2, AIMessage("", id="a1")),
    "tool result failed": replaced(
        3, ToolMessage("18C", tool_call_id="c1", id="t1", status="error")
    ),
    "tool call id": replaced(3, ToolMessage("18C", tool_call_id="c9", id="t1")),
    "an id seen twice": replaced(3, HumanMessage("weather?", id="h1", name="ann")),
    "not a message": replaced(1, {"role": "user", "content": "weather?"}),
    "grown": lambda values: values.append(HumanMessage("thanks", id="h2")),
    "shortened": lambda values: values.pop(),
}


@pytest.mark.parametrize("name", CHANGES)
def test_the_transcript_is_the_conversation_after_a_change(name: str) -> None:
    changed = conversation()
    CHANGES[name](changed)

    assert transcript(changed, before=conversation()) == transcript(changed)


def test_an_unchanged_conversation_records_nothing() -> None:
    session = Session(session_id="s", model="m")
    mirror(session, conversation(), "runtime")
    version = len(session.pending_events)

    mirror(session, conversation(), "runtime")

    assert len(session.pending_events) == version
