"""TrailSaver beside LangGraph's SqliteSaver, call for call, in one run.

    .venv/bin/python bench/langgraph_saver.py [--threads 10] [--turns 20]
        [--projections inline|worker] [--json-out F]

A scripted chat graph (no model: each turn a user message, an assistant tool call,
the tool's answer, the assistant's reply) runs `--turns` turns on each of
`--threads` threads against a recording saver; every `put` and `put_writes` it
made is then replayed, in order, into SqliteSaver (a file, WAL, as
`SqliteSaver.from_conn_string` opens it) and into TrailSaver (sessiontrail on a
SQLite file of its own, threads owned by a user so their content is sealed),
call by call, interleaved, so both see the same load; after each `put` the
thread's latest checkpoint is read back with `get_tuple`, as LangGraph does at
the start of each step. Read models inline (the default: each write brings them
up to date), or `--projections worker`: left to a worker, which this run does
not start, so the saver's reads bring its own read model up to date and
`get_tuple` pays for applying the checkpoints put since. Reported:
median ms per `put`, per `get_tuple` of the latest checkpoint, per
`put_writes` and per step's own pair (a `put` and the `get_tuple` after it: a
cost moved from one to the other shows there), and each ratio (ours/theirs),
in wall-clock time and in CPU time (the process's own work, without waiting for
the disk or for other processes: on a busy machine the wall-clock ratio moves
with the disk, the CPU one much less). Targets: `get_tuple` <= 1.5x, `put` <=
2x. Both commit every call with one fsync (FULL synchronous). Also reported:
sessiontrail's own smallest write (one message appended and saved) on
the same log, the floor under every `put`, and a put's checkpoint event alone: a
third saver, on a log of its own in worker mode with no mirrored messages, so
that its put stores the event (sealed, hash-chained, durable) and nothing else.
Last, the same workload run live on both savers, turn by turn: median ms per
whole turn, LangGraph's background puts overlapping the next step's writes.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from literals import projection_mode

import sessiontrail
from sessiontrail.integrations.langgraph import TrailSaver

TARGETS = {"put": 2.0, "get_tuple": 1.5}
Call = tuple[str, tuple[Any, ...]]


class Recorder(InMemorySaver):
    """An in-memory saver that also keeps every write call, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def put(self, config: Any, checkpoint: Any, metadata: Any, versions: Any) -> Any:
        self.calls.append(("put", (config, checkpoint, metadata, versions)))
        return super().put(config, checkpoint, metadata, versions)

    def put_writes(
        self, config: Any, writes: Any, task_id: str, task_path: str = ""
    ) -> None:
        self.calls.append(("put_writes", (config, writes, task_id, task_path)))
        super().put_writes(config, writes, task_id, task_path)


def chat(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    """Each turn: a tool call, the tool's answer, then a reply."""

    def assistant(state: MessagesState) -> dict[str, Any]:
        number = len(state["messages"])
        if isinstance(state["messages"][-1], HumanMessage):
            call = {
                "name": "lookup",
                "args": {"q": f"turn {number}"},
                "id": f"c{number}",
            }
            return {"messages": [AIMessage("", tool_calls=[call], id=f"a{number}")]}
        return {"messages": [AIMessage(f"reply {number} " * 20, id=f"a{number}")]}

    def tool(state: MessagesState) -> dict[str, Any]:
        asked = state["messages"][-1]
        assert isinstance(asked, AIMessage)  # route sends only tool calls here
        call = asked.tool_calls[0]
        found = ToolMessage(
            "result " * 40, tool_call_id=call["id"], id=f"t{call['id']}"
        )
        return {"messages": [found]}

    def route(state: MessagesState) -> str:
        return "tool" if getattr(state["messages"][-1], "tool_calls", None) else END

    builder = StateGraph(MessagesState)
    builder.add_node("assistant", assistant)
    builder.add_node("tool", tool)
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", route, ["tool", END])
    builder.add_edge("tool", "assistant")
    return builder.compile(checkpointer=checkpointer)


def record(threads: int, turns: int) -> list[Call]:
    """The saver calls of the whole workload, threads interleaved by turn."""
    recorder = Recorder()
    graph = chat(recorder)
    for turn in range(turns):
        for thread in range(threads):
            config = {"configurable": {"thread_id": f"t{thread}", "user_id": "ann"}}
            text = f"question {turn} " * 10
            graph.invoke({"messages": [HumanMessage(text, id=f"h{turn}")]}, config)
    return recorder.calls


Medians = dict[str, dict[str, tuple[float, float]]]
"""Per saver, per call kind: median (wall ms, CPU ms)."""


def replay(
    savers: dict[str, BaseCheckpointSaver[Any]], calls: Sequence[Call]
) -> Medians:
    """Median wall and CPU ms of each call kind per saver, replaying `calls` into
    every saver call by call (which goes first alternates), so a change in the
    machine's load falls on all of them alike. CPU time leaves out waiting for
    the disk and for other processes: what a call costs on an idle machine,
    and steady while the machine is busy."""
    times: dict[str, dict[str, list[tuple[float, float]]]] = {
        name: {"put": [], "get_tuple": [], "put_writes": []} for name in savers
    }

    def timed(name: str, kind: str, call: Callable[[], Any]) -> Any:
        began, cpu = time.perf_counter(), time.process_time()
        result = call()
        spent = (time.perf_counter() - began, time.process_time() - cpu)
        times[name][kind].append(spent)
        return result

    order = list(savers)
    for number, (kind, args) in enumerate(calls):
        turn = number % len(order)
        for name in order[turn:] + order[:turn]:
            saver = savers[name]
            if kind == "put":
                stored = timed(name, "put", partial(saver.put, *args))
                latest: RunnableConfig = {
                    "configurable": {
                        "thread_id": stored["configurable"]["thread_id"],
                        "user_id": "ann",
                    }
                }
                found = timed(name, "get_tuple", partial(saver.get_tuple, latest))
                assert found is not None
            else:
                timed(name, "put_writes", partial(saver.put_writes, *args))
    for kinds in times.values():  # a step's own calls: its put, then its read
        kinds["put + get_tuple"] = [
            (put[0] + read[0], put[1] + read[1])
            for put, read in zip(kinds["put"], kinds["get_tuple"], strict=True)
        ]
    return {
        name: {
            kind: (
                1000 * statistics.median(wall for wall, _ in spent),
                1000 * statistics.median(cpu for _, cpu in spent),
            )
            for kind, spent in kinds.items()
        }
        for name, kinds in times.items()
    }


def append_ms(
    trail: sessiontrail.SessionTrail, appends: int = 500
) -> tuple[float, float]:
    """Median (wall ms, CPU ms) of sessiontrail's own smallest write on the same
    log: one short message appended to a user's session and saved (what every
    `put` builds on)."""
    session = trail.sessions.load_or_create("floor", user_id="ann")
    spent = []
    for _ in range(appends):
        began, cpu = time.perf_counter(), time.process_time()
        session.append_message(role="user", content="hello")
        trail.sessions.save(session)
        spent.append((time.perf_counter() - began, time.process_time() - cpu))
    return (
        1000 * statistics.median(wall for wall, _ in spent),
        1000 * statistics.median(cpu for _, cpu in spent),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--projections", choices=("inline", "worker"), default="inline")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    mode = projection_mode(options.projections)
    calls = record(options.threads, options.turns)
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        connection = sqlite3.connect(folder / "lg.db", check_same_thread=False)
        with (
            sessiontrail.connect(
                f"sqlite:///{folder / 'trail.db'}", projections=mode
            ) as trail,
            sessiontrail.connect(
                f"sqlite:///{folder / 'events.db'}", projections="worker"
            ) as events_only,
        ):
            medians = replay(
                {
                    "theirs": SqliteSaver(connection),
                    "ours": TrailSaver(trail),
                    "event alone": TrailSaver(events_only, messages_channel=None),
                },
                calls,
            )
            floor = append_ms(trail)
        connection.close()
    puts = sum(1 for kind, _ in calls if kind == "put")
    print(
        f"{options.threads} threads x {options.turns} turns: {puts} puts, "
        f"{len(calls) - puts} put_writes (median ms per call), read models "
        f"{options.projections}"
    )
    ratios = {}
    for column, label in ((0, "wall clock"), (1, "CPU time")):
        theirs = {kind: pair[column] for kind, pair in medians["theirs"].items()}
        ours = {kind: pair[column] for kind, pair in medians["ours"].items()}
        ratios[label] = {kind: ours[kind] / theirs[kind] for kind in theirs}
        print(
            f"{label + ':':<16} {'SqliteSaver':>12} {'TrailSaver':>12} {'ratio':>8}"
            "  target"
        )
        for kind in theirs:
            ratio, target = ratios[label][kind], TARGETS.get(kind)
            verdict = (
                ""
                if target is None
                else f"<= {target}x {'met' if ratio <= target else 'NOT met'}"
            )
            print(
                f"{kind:<16} {theirs[kind]:>12.3f} {ours[kind]:>12.3f} "
                f"{ratio:>7.2f}x  {verdict}"
            )
    print("sessiontrail's own message append on this log:")
    for column, label in ((0, "wall clock"), (1, "CPU time")):
        theirs_put = medians["theirs"]["put"][column]
        print(
            f"{label + ':':<14} {floor[column]:.3f} ms "
            f"({floor[column] / theirs_put:.2f}x a SqliteSaver put)"
        )
    print(
        "a put's checkpoint event alone (its own log, worker mode, no read model "
        "and no mirrored message: sealed, chained, durable):"
    )
    for column, label in ((0, "wall clock"), (1, "CPU time")):
        alone, theirs_put = (
            medians[name]["put"][column] for name in ("event alone", "theirs")
        )
        print(
            f"{label + ':':<14} {alone:.3f} ms ({alone / theirs_put:.2f}x a "
            "SqliteSaver put)"
        )
    turns = live_turns(options.threads, options.turns, mode)
    print(
        "the graph run live (LangGraph's background puts overlapping the next "
        "step's writes), median ms per turn:"
    )
    print(
        f"{'wall clock:':<14} SqliteSaver {turns['theirs']:.3f}  TrailSaver "
        f"{turns['ours']:.3f}  ratio {turns['ours'] / turns['theirs']:.2f}x"
    )
    if options.json_out:
        options.json_out.write_text(
            json.dumps(
                {
                    "medians": medians,
                    "ratios": ratios,
                    "append_ms": floor,
                    "turn_ms": turns,
                }
            )
        )


def live_turns(
    threads: int, turns: int, projections: sessiontrail.Mode
) -> dict[str, float]:
    """Median wall ms of one whole turn of the graph run live on each saver,
    the savers interleaved turn by turn on fresh files. Unlike the replay, this
    includes how the saver copes with LangGraph writing a thread from two
    threads at once (a step's checkpoint put in the background while the next
    step records its pending writes)."""
    timings: dict[str, list[float]] = {"theirs": [], "ours": []}
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        connection = sqlite3.connect(folder / "lg.db", check_same_thread=False)
        with sessiontrail.connect(
            f"sqlite:///{folder / 'trail.db'}", projections=projections
        ) as trail:
            graphs = {
                "theirs": chat(SqliteSaver(connection)),
                "ours": chat(TrailSaver(trail)),
            }
            for turn in range(turns):
                for thread in range(threads):
                    config = {
                        "configurable": {"thread_id": f"t{thread}", "user_id": "ann"}
                    }
                    said = {"messages": [HumanMessage(f"q {turn}", id=f"h{turn}")]}
                    for name, graph in graphs.items():
                        started = time.perf_counter()
                        graph.invoke(said, config)
                        timings[name].append((time.perf_counter() - started) * 1e3)
        connection.close()
    return {name: statistics.median(times) for name, times in timings.items()}


if __name__ == "__main__":
    main()
