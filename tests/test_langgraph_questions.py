"""A LangGraph interrupt shows as its thread's pending question, on every backend:
the question the node asks while the run waits, answered when the run goes on;
LangGraph itself sees the same state as without it."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt
from support.langgraph import approval_graph, subgraph_graph
from typing_extensions import TypedDict

from sessiontrail import Session, SessionTrail
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.integrations.langgraph_questions import QUESTION_CHARS

THREAD = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
SESSION = "langgraph/t1"


class Asked(TypedDict):
    answer: str


def asking(saver: TrailSaver, value: Any) -> CompiledStateGraph:
    """One node that asks `value` and keeps the answer."""

    def ask(state: Asked) -> dict[str, Any]:
        return {"answer": str(interrupt(value))}

    builder = StateGraph(Asked)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=saver)


def session(trail: SessionTrail, session_id: str = SESSION) -> Session:
    found = trail.sessions.load(session_id, user_id="ann")
    assert found is not None
    return found


def test_an_interrupt_is_the_threads_question_until_the_run_resumes(
    trail: SessionTrail,
) -> None:
    graph = approval_graph(TrailSaver(trail))
    paused = graph.invoke({"log": ["in"]}, THREAD)

    question = session(trail).pending_question
    assert question is not None
    assert (question.question, question.tool_call_id, question.source) == (
        "approve n=1?",
        paused["__interrupt__"][0].id,
        "langgraph",
    )
    assert graph.get_state(THREAD).next == ("approve",)  # LangGraph's own view

    graph.invoke(Command(resume="yes"), THREAD)

    assert session(trail).pending_question is None
    events = [entry.event for entry in trail.sessions.history(SESSION)]
    assert events.count("QuestionPending") == events.count("QuestionResolved") == 1


def test_a_mapping_with_a_question_and_options_shows_them(trail: SessionTrail) -> None:
    value = {"question": "Ship it?", "options": ["yes", "no", 3, ""], "draft": "v2"}
    asking(TrailSaver(trail), value).invoke({"answer": ""}, THREAD)

    question = session(trail).pending_question
    assert question is not None
    assert (question.question, list(question.options)) == ("Ship it?", ["yes", "no"])


def test_any_other_value_is_shown_as_json_and_a_long_one_is_cut(
    trail: SessionTrail,
) -> None:
    graph = asking(TrailSaver(trail), {"review": "x" * (2 * QUESTION_CHARS)})
    paused = graph.invoke({"answer": ""}, THREAD)

    question = session(trail).pending_question
    assert question is not None
    assert question.question.startswith('{"review": "xxx')
    assert len(question.question) == QUESTION_CHARS and question.question[-1] == "…"
    stored = paused["__interrupt__"][0].value  # the interrupt itself is whole
    assert stored == {"review": "x" * (2 * QUESTION_CHARS)}
    assert graph.invoke(Command(resume="fine"), THREAD) == {"answer": "fine"}


def test_a_subgraphs_interrupt_is_asked_on_the_thread_and_answered_with_it(
    trail: SessionTrail,
) -> None:
    graph = subgraph_graph(TrailSaver(trail))
    graph.invoke({"log": ["in"]}, THREAD)
    root = session(trail).pending_question
    assert root is not None and root.question == "inner?"

    graph.invoke(Command(resume="ok"), THREAD)

    listed = trail.sessions.list_paginated(user_id="ann")
    assert len(listed) == 2  # the thread and its subgraph's namespace
    assert [session(trail, s.session_id).pending_question for s in listed] == [
        None,
        None,
    ]


def test_a_question_the_app_asked_itself_is_left_to_the_app(
    trail: SessionTrail,
) -> None:
    graph = approval_graph(TrailSaver(trail))
    graph.invoke({"log": ["in"]}, THREAD)
    own = session(trail)
    own.set_pending_question(
        {"tool_call_id": "c1", "tool_name": "ask_user", "question": "Which file?"}
    )
    trail.sessions.save(own)

    graph.invoke(Command(resume="yes"), THREAD)

    question = session(trail).pending_question
    assert question is not None and question.question == "Which file?"
