"""`trail.sessions.fork` of a LangGraph thread's session, on every backend: the fork
is a new thread holding the source's checkpoints up to the fork point (ids,
parents, metadata, values, pending writes), a real compiled StateGraph resumes it,
and the source thread is unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from support.langgraph import (
    Flaky,
    approval_graph,
    checkpoint,
    config,
    subgraph_graph,
)

from sessiontrail import ConcurrencyConflict, SessionTrail
from sessiontrail.domain.thread_ids import thread_of, thread_session_id
from sessiontrail.integrations.langgraph import TrailSaver

SOURCE = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
FORK = {"configurable": {"thread_id": "t2", "user_id": "ann"}}


@pytest.fixture
def saver(trail: SessionTrail) -> TrailSaver:
    return TrailSaver(trail)


def shape(graph: CompiledStateGraph, config: dict[str, Any]) -> list[Any]:
    """A thread's history as LangGraph shows it, the thread id aside: each
    checkpoint's id, parent, metadata, values, next nodes and pending tasks."""
    return [
        (
            snapshot.config["configurable"]["checkpoint_id"],
            snapshot.parent_config
            and snapshot.parent_config["configurable"]["checkpoint_id"],
            snapshot.metadata,
            snapshot.values,
            snapshot.next,
            [(task.name, task.interrupts) for task in snapshot.tasks],
        )
        for snapshot in graph.get_state_history(config)
    ]


def version(trail: SessionTrail, thread_id: str = "t1") -> int:
    session = trail.sessions.load(f"langgraph/{thread_id}")
    assert session is not None
    return session.version


def paused_then_finished(trail: SessionTrail, graph: CompiledStateGraph) -> int:
    """Run the source to its question, then on to the end: the session's
    version while it was paused."""
    graph.invoke({"log": ["in"]}, SOURCE)
    paused_at = version(trail)
    graph.invoke(Command(resume="yes"), SOURCE)
    return paused_at


def test_a_forked_thread_holds_the_sources_history_up_to_the_fork(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["in"]}, SOURCE)
    then = shape(graph, SOURCE)
    paused_at = version(trail)
    graph.invoke(Command(resume="yes"), SOURCE)

    trail.sessions.fork("langgraph/t1", at_version=paused_at, new_id="langgraph/t2")

    assert shape(graph, FORK) == then


def test_a_forked_thread_resumes_from_the_fork_point(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    paused_at = paused_then_finished(trail, graph)

    trail.sessions.fork("langgraph/t1", at_version=paused_at, new_id="langgraph/t2")

    assert graph.get_state(FORK).next == ("approve",)
    done = graph.invoke(Command(resume="no"), FORK)
    assert done == {"log": ["in", "step1", "approve:no", "step2"], "n": 10}
    assert graph.get_state(SOURCE).values["log"][2] == "approve:yes"


def test_forking_and_running_the_fork_leave_the_source_thread_unchanged(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    paused_at = paused_then_finished(trail, graph)
    before = shape(graph, SOURCE)

    trail.sessions.fork("langgraph/t1", at_version=paused_at, new_id="langgraph/t2")
    graph.invoke(Command(resume="no"), FORK)

    assert shape(graph, SOURCE) == before


def test_a_forks_pending_writes_spare_the_tasks_that_finished(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    flaky = Flaky()
    graph = flaky.graph(saver)
    with pytest.raises(ValueError, match="boom"):
        graph.invoke({"log": ["in"]}, SOURCE)
    source = saver.get_tuple(SOURCE)

    trail.sessions.fork("langgraph/t1", new_id="langgraph/t2")

    forked = saver.get_tuple(FORK)
    assert source is not None and forked is not None
    assert forked.pending_writes == source.pending_writes
    flaky.fixed = True
    assert sorted(graph.invoke(None, FORK)["log"]) == ["flaky", "in", "ok"]
    assert flaky.calls == {"ok": 1, "flaky": 2}


def test_a_fork_carries_no_checkpoint_cleared_before_the_fork_point(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["old"]}, SOURCE)
    saver.delete_thread("t1")
    graph.invoke({"log": ["new"]}, SOURCE)  # the id used again: a fresh thread
    then = shape(graph, SOURCE)

    trail.sessions.fork("langgraph/t1", new_id="langgraph/t2")

    assert shape(graph, FORK) == then


def test_a_thread_forked_without_a_new_id_is_a_thread(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["in"]}, SOURCE)

    fork = trail.sessions.fork("langgraph/t1")

    thread = thread_of(fork.session_id)
    assert thread is not None and thread[0] != "t1"
    run = {"configurable": {"thread_id": thread[0], "user_id": "ann"}}
    assert graph.invoke(Command(resume="ok"), run)["log"][-2:] == [
        "approve:ok",
        "step2",
    ]


def test_a_thread_copied_with_copy_thread_resumes_inside_a_subgraph(
    saver: TrailSaver,
) -> None:
    graph = subgraph_graph(saver)
    graph.invoke({"log": ["in"]}, SOURCE)

    saver.copy_thread("t1", "t2")

    done = graph.invoke(Command(resume="ok"), FORK)
    assert done["log"] == ["in", "in", "inner:ok"]


def test_copy_thread_into_a_thread_in_use_is_refused_and_writes_nothing(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["in"]}, SOURCE)
    graph.invoke({"log": ["other"]}, FORK)
    before = trail.sessions.history("langgraph/t2")

    with pytest.raises(ConcurrencyConflict, match="target_thread_id"):
        saver.copy_thread("t1", "t2")

    assert trail.sessions.history("langgraph/t2") == before


def test_copy_thread_raced_by_a_writer_of_the_target_writes_none_of_it(
    saver: TrailSaver,
    trail: SessionTrail,
    other_trail: SessionTrail,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    subgraph_graph(saver).invoke({"log": ["in"]}, SOURCE)
    inner = trail.langgraph.namespaces("t1")[-1]
    raced = trail.store.ids.stream(thread_session_id("t2", inner))
    looked_up = trail.store.stream_version
    racer = checkpoint()

    def then_written_by_another_process(stream: Any) -> int:
        found = looked_up(stream)
        if stream == raced:
            other = TrailSaver(other_trail)
            other.put(config("t2", inner), racer, {"step": 0}, {})
        return found

    monkeypatch.setattr(trail.store, "stream_version", then_written_by_another_process)
    with pytest.raises(ConcurrencyConflict, match="target_thread_id"):
        saver.copy_thread("t1", "t2")

    assert saver.get_tuple(config("t2")) is None
    found = saver.get_tuple(config("t2", inner))
    assert found is not None and found.checkpoint["id"] == racer["id"]
