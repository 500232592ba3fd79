"""LangGraph threads written before values were deflated (v1 checkpoint and
pending-write events) still read, project and resume; values are deflated only
when that makes them smaller."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from support.langgraph import chat_graph

import sessiontrail
from sessiontrail import Session, SessionTrail
from sessiontrail.domain.threads import COMPRESS_FROM, Serialized
from sessiontrail.integrations.langgraph import TrailSaver

FIXTURE = Path(__file__).parent / "fixtures" / "langgraph-v1-log.db"
"""Written by sessiontrail at commit a2b6aaa (CheckpointSaved and WritesSaved v1)
with tests/support/langgraph.py's chat graph: thread "legacy" of user "ann", two
turns (a weather question with its tool call, then "thanks": 6 messages, 8
checkpoints); its read models were dropped, so opening it builds them from the v1
events."""
CONFIG: Any = {"configurable": {"thread_id": "legacy", "user_id": "ann"}}


@pytest.fixture
def v1_trail(tmp_path: Path) -> Iterator[SessionTrail]:
    copy = tmp_path / "v1.db"
    shutil.copy(FIXTURE, copy)
    with sessiontrail.connect(f"sqlite:///{copy}") as trail:
        yield trail


def stored_values(trail: SessionTrail) -> list[dict[str, Any]]:
    """Every checkpoint value of the legacy thread, as its events now read."""
    return [
        value
        for entry in trail.sessions.history("langgraph/legacy")
        if entry.event == "CheckpointSaved"
        for value in entry.payload["values"]
    ]


def test_v1_checkpoints_read_back_as_they_were_written(v1_trail: SessionTrail):
    graph = chat_graph(TrailSaver(v1_trail))
    messages = graph.get_state(CONFIG).values["messages"]
    assert [m.content for m in messages] == [
        "what is the weather in Paris?",
        "",
        "18C, sunny",
        "answer 3",
        "thanks",
        "answer 5",
    ]
    assert len(list(graph.get_state_history(CONFIG))) == 8
    assert Session.CheckpointSaved.class_version == 2
    assert {value["compressed"] for value in stored_values(v1_trail)} == {False}


def test_a_v1_thread_resumes_with_deflated_values(v1_trail: SessionTrail):
    graph = chat_graph(TrailSaver(v1_trail))
    graph.invoke({"messages": [HumanMessage("and tomorrow's weather?")]}, CONFIG)
    messages = graph.get_state(CONFIG).values["messages"]
    assert [m.content for m in messages[6:]] == [
        "and tomorrow's weather?",
        "",
        "18C, sunny",
        "answer 9",
    ]
    assert len(list(graph.get_state_history(CONFIG))) == 13
    assert {value["compressed"] for value in stored_values(v1_trail)} == {
        False,
        True,
    }


def test_a_large_repetitive_value_is_deflated_and_reads_back_exactly():
    data = b"reply " * COMPRESS_FROM
    packed = Serialized.pack(("msgpack", data))
    assert packed.compressed
    assert len("".join(packed.data)) < len(data) / 4
    assert packed.unpack() == ("msgpack", data)


def test_a_value_deflating_cannot_shrink_is_stored_as_it_is():
    data = os.urandom(4 * COMPRESS_FROM)
    packed = Serialized.pack(("bytes", data))
    assert not packed.compressed
    assert packed.unpack() == ("bytes", data)


def test_a_small_value_is_not_deflated():
    data = b"a" * (COMPRESS_FROM - 1)
    packed = Serialized.pack(("msgpack", data))
    assert not packed.compressed
    assert packed.unpack() == ("msgpack", data)
