"""A LangGraph saver's held sessions (the thread's session as its last write
stored it) under what a production app does to a thread: parallel tasks writing
at once, an erasure or a purge in this process or another. Nothing is lost, and
nothing erased or purged is kept or stored again."""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.messages import HumanMessage
from support.langgraph import checkpoint, config

from sessiontrail import SessionTrail
from sessiontrail.integrations.langgraph import TrailSaver

SESSION = "langgraph/t1"
TASKS = 4
WRITES_PER_TASK = 5


def put(saver: TrailSaver, said: list[str], **configurable: Any) -> str:
    """Put a checkpoint whose conversation is `said`; its id."""
    messages = [HumanMessage(text, id=f"h-{text}") for text in said]
    saved = checkpoint({"messages": messages})
    saver.put(config("t1", **configurable), saved, {"step": 0}, {"messages": 1})
    return saved["id"]


def held_contents(saver: TrailSaver) -> list[str]:
    """What the saver's memory holds of the thread's transcript, in its held
    session (put back, so the saver goes on as before)."""
    recorded = saver._recorded
    held = recorded.take(SESSION)
    if held is None:
        return []
    recorded.hold(held, recorded.epoch())
    return [str(message.content) for message in held.messages]


def test_parallel_tasks_writing_to_one_thread_lose_no_write(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    only = put(saver, ["start"])
    target = config("t1", checkpoint_id=only)
    failures: list[BaseException] = []

    def task(number: int) -> None:
        try:
            for step in range(WRITES_PER_TASK):
                saver.put_writes(target, [("c", step)], f"task-{number}-{step}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=task, args=(n,)) for n in range(TASKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    found = TrailSaver(trail).get_tuple(target)
    assert found is not None
    assert sorted(found.pending_writes or []) == sorted(
        (f"task-{n}-{step}", "c", step)
        for n in range(TASKS)
        for step in range(WRITES_PER_TASK)
    )


def test_a_put_after_another_process_erased_the_user_keeps_their_words_erased(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    saver = TrailSaver(trail)
    put(saver, ["my secret"], user_id="ann")
    other_trail.erase_user("ann")

    put(saver, ["my secret", "next"], user_id="ann")

    session = other_trail.sessions.load(SESSION)
    assert session is not None
    assert [message.content for message in session.messages] == ["[erased]", "next"]


def test_an_erasure_leaves_no_held_copy_of_the_users_words(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    put(saver, ["my secret"], user_id="ann")
    assert held_contents(saver) == ["my secret"]  # held: the memory is in use

    trail.erase_user("ann")

    assert "my secret" not in held_contents(saver)


def test_a_purge_leaves_no_held_copy_of_the_threads_words(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    put(saver, ["my secret"])
    assert held_contents(saver) == ["my secret"]

    trail.sessions.purge(SESSION, actor="someone")

    assert "my secret" not in held_contents(saver)


def mirrored_contents(saver: TrailSaver) -> list[str]:
    """What the saver's memory keeps of the conversation it last mirrored."""
    recorded = saver._recorded
    return [str(content) for _, content in recorded._transcripts.get(SESSION) or ()]


def test_a_put_under_way_during_an_erasure_keeps_none_of_the_users_words(
    trail: SessionTrail, monkeypatch: Any
) -> None:
    saver = TrailSaver(trail)
    put(saver, ["hello"], user_id="ann")
    append = trail.sessions.append_unmoved

    def stored_then_erased(session: Any) -> bool:
        appended = append(session)
        trail.erase_user("ann")  # after the put's append, before it keeps anything
        return appended

    monkeypatch.setattr(trail.sessions, "append_unmoved", stored_then_erased)
    put(saver, ["hello", "my secret"], user_id="ann")

    assert "my secret" not in held_contents(saver)
    assert "my secret" not in mirrored_contents(saver)


def test_a_put_under_way_during_a_purge_keeps_none_of_the_threads_words(
    trail: SessionTrail, monkeypatch: Any
) -> None:
    saver = TrailSaver(trail)
    put(saver, ["hello"])
    append = trail.sessions.append_unmoved

    def stored_then_purged(session: Any) -> bool:
        appended = append(session)
        trail.sessions.purge(SESSION, actor="someone")
        return appended

    monkeypatch.setattr(trail.sessions, "append_unmoved", stored_then_purged)
    put(saver, ["hello", "my secret"])

    assert "my secret" not in held_contents(saver)
    assert "my secret" not in mirrored_contents(saver)
