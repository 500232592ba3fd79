"""Real compiled StateGraphs (pure-Python nodes, no model, no network) on TrailSaver
and AsyncTrailSaver, on every backend: interrupts and resume, state history,
time travel and forks through LangGraph's own API, a failing node's pending
writes, concurrent runs, subgraphs; and the same run on LangGraph's SqliteSaver
giving the same state and the same history."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot
from support.langgraph import (
    Flaky,
    Flow,
    approval_graph,
    reference_saver,
    subgraph_graph,
)

from sessiontrail import SessionTrail, aio
from sessiontrail.integrations.langgraph import AsyncTrailSaver, TrailSaver

THREAD = {"configurable": {"thread_id": "t1", "user_id": "ann"}}


@pytest.fixture
def saver(trail: SessionTrail) -> TrailSaver:
    return TrailSaver(trail)


def history(graph: CompiledStateGraph, config: dict[str, Any]) -> list[StateSnapshot]:
    return list(graph.get_state_history(config))


def checkpoint_id(snapshot: StateSnapshot) -> str:
    return str(snapshot.config["configurable"]["checkpoint_id"])


def at_step(graph: CompiledStateGraph, step: int) -> dict[str, Any]:
    """The config of the thread's first checkpoint at `step`."""
    [found] = [s for s in history(graph, THREAD) if s.metadata["step"] == step][-1:]
    return found.config


def run_to_the_end(graph: CompiledStateGraph) -> dict[str, Any]:
    """Start the approval flow, answer its question: the final state."""
    graph.invoke({"log": ["in"]}, THREAD)
    return dict(graph.invoke(Command(resume="yes"), THREAD))


# -- interrupts, history, time travel ------------------------------------------------


def test_a_run_pauses_at_an_interrupt_and_resumes_to_the_end(saver: TrailSaver) -> None:
    graph = approval_graph(saver)
    paused = graph.invoke({"log": ["in"]}, THREAD)
    assert paused["__interrupt__"][0].value == "approve n=1?"
    assert graph.get_state(THREAD).next == ("approve",)
    done = graph.invoke(Command(resume="yes"), THREAD)
    assert done == {"log": ["in", "step1", "approve:yes", "step2"], "n": 10}
    assert graph.get_state(THREAD).next == ()


def test_state_history_is_every_step_newest_first(saver: TrailSaver) -> None:
    graph = approval_graph(saver)
    run_to_the_end(graph)
    found = history(graph, THREAD)
    assert [(s.metadata["step"], s.metadata["source"], s.next) for s in found] == [
        (3, "loop", ()),
        (2, "loop", ("step2",)),
        (1, "loop", ("approve",)),
        (0, "loop", ("step1",)),
        (-1, "input", ("__start__",)),
    ]
    parents = [s.parent_config for s in found]
    assert parents[:-1] == [s.config for s in found[1:]] and parents[-1] is None


def test_update_state_on_an_old_checkpoint_forks_and_leads(saver: TrailSaver) -> None:
    graph = approval_graph(saver)
    run_to_the_end(graph)
    old = at_step(graph, 1)
    forked = graph.update_state(old, {"n": 100}, as_node="step1")
    assert graph.get_state(THREAD).config == forked  # the fork is the head now
    asked = graph.invoke(None, forked)
    assert asked["__interrupt__"][0].value == "approve n=100?"
    done = graph.invoke(Command(resume="no"), THREAD)
    assert done["n"] == 1000 and done["log"][-2:] == ["approve:no", "step2"]
    steps = [s.metadata["step"] for s in history(graph, THREAD)]
    assert steps.count(1) == 1 and steps.count(2) == 2  # both branches kept


def test_invoking_a_past_checkpoint_runs_the_steps_after_it_again(
    saver: TrailSaver,
) -> None:
    graph = approval_graph(saver)
    run_to_the_end(graph)
    before = len(history(graph, THREAD))
    replayed = graph.invoke(None, at_step(graph, 0))
    assert replayed["__interrupt__"][0].value == "approve n=1?"
    done = graph.invoke(Command(resume="later"), THREAD)
    assert done["log"] == ["in", "step1", "approve:later", "step2"]
    sources = [s.metadata["source"] for s in history(graph, THREAD)]
    assert len(sources) == before + 4 and sources.count("fork") == 1


def test_a_failed_steps_finished_tasks_are_not_run_again(saver: TrailSaver) -> None:
    flaky = Flaky()
    graph = flaky.graph(saver)
    with pytest.raises(ValueError, match="boom"):
        graph.invoke({"log": ["in"]}, THREAD)
    stored = saver.get_tuple(THREAD)
    assert stored is not None
    assert sorted(channel for _, channel, _ in stored.pending_writes) == [
        "__error__",
        "log",
    ]
    assert graph.get_state(THREAD).next == ("flaky",)
    flaky.fixed = True
    done = graph.invoke(None, THREAD)
    assert done["log"] == ["in", "flaky", "ok"]
    assert flaky.calls == {"ok": 1, "flaky": 2}


# -- concurrency --------------------------------------------------------------------


def test_threads_run_at_once_without_mixing(saver: TrailSaver) -> None:
    graph = approval_graph(saver)

    def run(number: int) -> dict[str, Any]:
        config = {"configurable": {"thread_id": f"t{number}"}}
        graph.invoke({"log": [f"in{number}"]}, config)
        return dict(graph.invoke(Command(resume=str(number)), config))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(8)))
    for number, result in enumerate(results):
        assert result["log"] == [f"in{number}", "step1", f"approve:{number}", "step2"]


def test_two_runs_on_one_thread_keep_both_branches(saver: TrailSaver) -> None:
    both_inside = threading.Barrier(2, timeout=30)

    def slow(state: Flow) -> dict[str, Any]:
        if state["log"][-1] in ("A", "B"):
            both_inside.wait()  # each run has stored its input checkpoint
        return {"log": [f"slow-{state['log'][-1]}"]}

    builder = StateGraph(Flow)
    builder.add_node("slow", slow)
    builder.add_edge(START, "slow")
    builder.add_edge("slow", END)
    graph = builder.compile(checkpointer=saver)
    graph.invoke({"log": ["seed"]}, THREAD)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda name: graph.invoke({"log": [name]}, THREAD), "AB"))
    found = history(graph, THREAD)
    assert len(found) == 3 * 3  # nothing lost: the three puts of each run
    ends = {s.values["log"][-1] for s in found if s.values["log"]}
    assert {"slow-A", "slow-B"} <= ends
    assert checkpoint_id(found[0]) == max(checkpoint_id(s) for s in found)


# -- subgraphs and async --------------------------------------------------------------


def test_a_subgraph_interrupt_resumes_inside_the_subgraph(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = subgraph_graph(saver)
    graph.invoke({"log": ["in"]}, THREAD)
    namespaces = {
        found.config["configurable"]["checkpoint_ns"]
        for found in saver.list({"configurable": {"thread_id": "t1"}})
    }
    assert "" in namespaces and any(ns.startswith("sub:") for ns in namespaces)
    done = graph.invoke(Command(resume="ok"), THREAD)
    assert done["log"] == ["in", "in", "inner:ok"]  # the subgraph's log is added


def test_the_async_saver_runs_a_graph(url: str) -> None:
    async def scenario() -> tuple[dict[str, Any], list[int]]:
        async with await aio.connect(url) as trail:
            graph = approval_graph(AsyncTrailSaver(trail))
            await graph.ainvoke({"log": ["in"]}, THREAD)
            done = await graph.ainvoke(Command(resume="yes"), THREAD)
            steps = [
                snapshot.metadata["step"]
                async for snapshot in graph.aget_state_history(THREAD)
            ]
            return dict(done), steps

    done, steps = asyncio.run(scenario())
    assert done == {"log": ["in", "step1", "approve:yes", "step2"], "n": 10}
    assert steps == [3, 2, 1, 0, -1]


# -- the same run on SqliteSaver ------------------------------------------------------


def scenario(saver: BaseCheckpointSaver[Any]) -> tuple[Any, list[tuple[Any, ...]]]:
    """Run, resume, fork from an old step, replay another: the final state and
    the history's shape (ids replaced by their place in the history)."""
    graph = approval_graph(saver)
    run_to_the_end(graph)
    graph.invoke(None, graph.update_state(at_step(graph, 1), {"n": 7}, "step1"))
    graph.invoke(Command(resume="again"), THREAD)
    graph.invoke(None, at_step(graph, 0))
    graph.invoke(Command(resume="last"), THREAD)
    found = history(graph, THREAD)
    place = {checkpoint_id(s): number for number, s in enumerate(found)}
    shape = [
        (
            s.metadata["step"],
            s.metadata["source"],
            s.next,
            s.values,
            s.parent_config and place[s.parent_config["configurable"]["checkpoint_id"]],
            [
                (task.name, task.interrupts and task.interrupts[0].value)
                for task in s.tasks
            ],
        )
        for s in found
    ]
    return graph.get_state(THREAD).values, shape


def test_sqlite_saver_and_trail_saver_agree_on_state_and_history(
    saver: TrailSaver, tmp_path: Path
) -> None:
    with reference_saver("SqliteSaver", tmp_path, None) as reference:
        expected = scenario(reference)
    assert scenario(saver) == expected
    assert len(expected[1]) == 12  # the scenario did branch
