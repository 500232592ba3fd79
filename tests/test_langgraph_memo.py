"""What a LangGraph saver remembers of its own writes (the messages it mirrored,
the pending writes it recorded) spares it reads and comparisons, and never hides
a change made since by another writer, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from support.langgraph import checkpoint, config

from sessiontrail import SessionTrail
from sessiontrail.integrations import langgraph_messages
from sessiontrail.integrations.langgraph import TrailSaver

SESSION = "langgraph/t1"


def put_messages(saver: TrailSaver, messages: list[Any]) -> str:
    """Put a checkpoint whose conversation is `messages` (these very objects)."""
    saved = checkpoint({"messages": messages}, {"messages": len(messages)})
    saver.put(config("t1"), saved, {"step": len(messages)}, {"messages": 1})
    return saved["id"]


def contents(trail: SessionTrail) -> list[str]:
    session = trail.sessions.load(SESSION)
    assert session is not None
    return [message.content for message in session.messages]


def test_a_transcript_the_app_changed_is_mirrored_again(trail: SessionTrail) -> None:
    saver = TrailSaver(trail)
    messages = [HumanMessage("hi", id="h1"), AIMessage("hello", id="a1")]
    put_messages(saver, messages)
    session = trail.sessions.load(SESSION)
    assert session is not None
    session.truncate(1)
    session.append_message(role="assistant", content="edited by the app")
    trail.sessions.save(session)

    put_messages(saver, [*messages, HumanMessage("bye", id="h2")])

    assert contents(trail) == ["hi", "hello", "bye"]


def test_a_message_given_new_content_in_place_is_mirrored_anew(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    messages = [HumanMessage("hi", id="h1"), AIMessage("hello", id="a1")]
    put_messages(saver, messages)
    messages[1].content = "hello again"

    put_messages(saver, messages)

    assert contents(trail) == ["hi", "hello again"]


def test_writes_sent_again_after_the_thread_restarted_are_kept(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    first = checkpoint()
    saver.put(config("t1"), first, {"step": 0}, {})
    target = config("t1", checkpoint_id=first["id"])
    saver.put_writes(target, [("a", 1)], "task")
    saver.delete_thread("t1")

    saver.put(config("t1"), first, {"step": 0}, {})
    saver.put_writes(target, [("a", 1)], "task")

    found = saver.get_tuple(target)
    assert found is not None
    assert found.pending_writes == [("task", "a", 1)]


def test_writes_another_saver_made_on_a_checkpoint_keep_their_slots(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saver = TrailSaver(trail)
    saved = checkpoint()
    saver.put(config("t1"), saved, {"step": 0}, {})
    target = config("t1", checkpoint_id=saved["id"])
    TrailSaver(other_trail).put_writes(target, [("a", 1)], "task")

    saver.put_writes(target, [("a", 2), ("b", 3)], "task")

    found = saver.get_tuple(target)
    assert found is not None
    assert found.pending_writes == [("task", "a", 1), ("task", "b", 3)]


def test_messages_mirrored_before_pending_writes_are_not_compared_again(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = TrailSaver(trail)
    messages = [HumanMessage("hi", id="h1"), AIMessage("hello", id="a1")]
    first = put_messages(saver, messages)
    saver.put_writes(config("t1", checkpoint_id=first), [("a", 1)], "task")
    compared: list[Any] = []
    unchanged = langgraph_messages._unchanged
    monkeypatch.setattr(
        langgraph_messages,
        "_unchanged",
        lambda stored, value: compared.append(value) or unchanged(stored, value),
    )

    put_messages(saver, [*messages, HumanMessage("bye", id="h2")])

    assert compared == []
    assert contents(trail) == ["hi", "hello", "bye"]
