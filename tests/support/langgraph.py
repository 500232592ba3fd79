"""LangGraph savers to compare, checkpoints and configs to feed them, and small
graphs of pure-Python nodes (no model, no network) to run on them."""

from __future__ import annotations

import operator
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt
from psycopg.rows import dict_row
from typing_extensions import TypedDict

import sessiontrail
from sessiontrail.integrations.langgraph import TrailSaver
from support.deadlines import wait_until
from support.postgres import PostgresServer


def url_of(backend: str, tmp_path: Path, server: PostgresServer | None) -> str:
    """A fresh database of a sessiontrail backend."""
    if backend == "memory":
        return f"memory://{uuid.uuid4().hex}"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'trail.db'}"
    assert server is not None
    return server.url(server.new_schema())


@contextmanager
def reference_saver(
    name: str, tmp_path: Path, server: PostgresServer | None
) -> Iterator[BaseCheckpointSaver[Any]]:
    """LangGraph's own SqliteSaver (on a file) or PostgresSaver (own schema)."""
    if name == "SqliteSaver":
        connection = sqlite3.connect(tmp_path / "lg.db", check_same_thread=False)
        try:
            yield SqliteSaver(connection)
        finally:
            connection.close()
        return
    assert server is not None
    schema = server.new_schema()
    with psycopg.connect(
        server.dsn(),
        autocommit=True,
        prepare_threshold=0,
        row_factory=dict_row,
        options=f"-c search_path={schema}",
    ) as connection:
        saver = PostgresSaver(connection)
        saver.setup()
        yield saver


@contextmanager
def saver_named(
    name: str, tmp_path: Path, server: PostgresServer | None
) -> Iterator[BaseCheckpointSaver[Any]]:
    """A saver by name: `trail-<backend>` or one of LangGraph's own."""
    if name.startswith("trail-"):
        url = url_of(name.removeprefix("trail-"), tmp_path, server)
        with sessiontrail.connect(url) as trail:
            yield TrailSaver(trail)
    else:
        with reference_saver(name, tmp_path, server) as saver:
            yield saver


def checkpoint(
    values: dict[str, Any] | None = None,
    versions: dict[str, Any] | None = None,
) -> Checkpoint:
    """A checkpoint as langgraph 1.x writes one, with a fresh (increasing) id."""
    values = values or {}
    return {
        "v": 4,
        "id": str(uuid6(clock_seq=-1)),
        "ts": datetime.now(UTC).isoformat(),
        "channel_values": values,
        "channel_versions": versions
        if versions is not None
        else dict.fromkeys(values, 1),
        "versions_seen": {},
        "updated_channels": None,
    }


def config(
    thread_id: str,
    checkpoint_ns: str = "",
    checkpoint_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A config naming a thread (and a checkpoint), with extra configurable keys."""
    configurable = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, **extra}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


# -- graphs ------------------------------------------------------------------------


class Flow(TypedDict):
    log: Annotated[list[str], operator.add]
    n: int


def one_node_graph(
    checkpointer: BaseCheckpointSaver[Any],
    model: Callable[[Any], dict[str, Any]],
    state: type[Any] = MessagesState,
) -> CompiledStateGraph:
    """start -> model -> end, on `state` (LangGraph's MessagesState unless
    another is given)."""
    builder = StateGraph(state)
    builder.add_node("model", model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer)


def approval_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph:
    """in -> step1 -> approve (asks, via interrupt) -> step2 -> end."""

    def step1(state: Flow) -> dict[str, Any]:
        return {"log": ["step1"], "n": state.get("n", 0) + 1}

    def approve(state: Flow) -> dict[str, Any]:
        answer = interrupt(f"approve n={state['n']}?")
        return {"log": [f"approve:{answer}"]}

    def step2(state: Flow) -> dict[str, Any]:
        return {"log": ["step2"], "n": state["n"] * 10}

    builder = StateGraph(Flow)
    builder.add_node("step1", step1)
    builder.add_node("approve", approve)
    builder.add_node("step2", step2)
    builder.add_edge(START, "step1")
    builder.add_edge("step1", "approve")
    builder.add_edge("approve", "step2")
    builder.add_edge("step2", END)
    return builder.compile(checkpointer=checkpointer)


def subgraph_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph:
    """in -> sub (a subgraph whose one node asks, via interrupt) -> end."""

    def ask(state: Flow) -> dict[str, Any]:
        return {"log": [f"inner:{interrupt('inner?')}"]}

    inner = StateGraph(Flow)
    inner.add_node("ask", ask)
    inner.add_edge(START, "ask")
    outer = StateGraph(Flow)
    outer.add_node("sub", inner.compile())
    outer.add_edge(START, "sub")
    return outer.compile(checkpointer=checkpointer)


class Flaky:
    """Two nodes in one step; `flaky` fails until `fixed`; counts the calls.

    LangGraph stores a finished task's writes from the task's thread after it
    returns, and drops them once the run has ended on another task's failure, so
    `flaky` fails only when `ok`'s writes are stored: the step a test expects,
    with one task done, whatever the threads' order."""

    def __init__(self) -> None:
        self.fixed = False
        self.calls = {"ok": 0, "flaky": 0}
        self._lock = threading.Lock()
        self._checkpointer: BaseCheckpointSaver[Any] | None = None

    def graph(self, checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph:
        self._checkpointer = checkpointer
        builder = StateGraph(Flow)
        builder.add_node("ok", self._ok)
        builder.add_node("flaky", self._flaky)
        builder.add_edge(START, "ok")
        builder.add_edge(START, "flaky")
        builder.add_edge("ok", END)
        builder.add_edge("flaky", END)
        return builder.compile(checkpointer=checkpointer)

    def _ok(self, state: Flow) -> dict[str, Any]:
        with self._lock:
            self.calls["ok"] += 1
        return {"log": ["ok"]}

    def _flaky(self, state: Flow, config: RunnableConfig) -> dict[str, Any]:
        with self._lock:
            self.calls["flaky"] += 1
        if not self.fixed:
            wait_until(lambda: self._ok_stored(config), "the ok task's writes")
            raise ValueError("boom")
        return {"log": ["flaky"]}

    def _ok_stored(self, config: RunnableConfig) -> bool:
        """Whether the run's thread holds `ok`'s writes as pending writes."""
        assert self._checkpointer is not None
        given = config["configurable"]
        thread = {key: given[key] for key in ("thread_id", "user_id") if key in given}
        stored = self._checkpointer.get_tuple({"configurable": thread})
        return stored is not None and any(
            (channel, value) == ("log", ["ok"])
            for _, channel, value in stored.pending_writes or ()
        )


def chat_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph:
    """A scripted assistant: answers each user message, calling a tool first
    when asked about the weather; "forget" removes the oldest exchange."""

    def assistant(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        number = len(state["messages"])
        if isinstance(last, HumanMessage) and "weather" in str(last.content):
            call = {"name": "weather", "args": {"city": "Paris"}, "id": f"c{number}"}
            return {"messages": [AIMessage("", tool_calls=[call], id=f"a{number}")]}
        if isinstance(last, HumanMessage) and last.content == "forget":
            old = state["messages"][:2]
            return {
                "messages": [RemoveMessage(id=str(m.id)) for m in old]
                + [AIMessage("forgotten", id=f"a{number}")]
            }
        return {"messages": [AIMessage(f"answer {number}", id=f"a{number}")]}

    def tools(state: MessagesState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]  # type: ignore[attr-defined]
        result = ToolMessage("18C, sunny", tool_call_id=call["id"], id=f"t{call['id']}")
        return {"messages": [result]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if getattr(last, "tool_calls", None) else END

    builder = StateGraph(MessagesState)
    builder.add_node("assistant", assistant)
    builder.add_node("tools", tools)
    builder.add_edge(START, "assistant")
    builder.add_conditional_edges("assistant", route, ["tools", END])
    builder.add_edge("tools", "assistant")
    return builder.compile(checkpointer=checkpointer)
