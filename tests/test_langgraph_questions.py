"""A LangGraph interrupt shows as its thread's pending question, on every backend:
the question the node asks while the run waits, answered when the run goes on;
LangGraph itself sees the same state as without it."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability, Interrupt, Send, interrupt
from support.langgraph import approval_graph, checkpoint, config, subgraph_graph
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


def test_a_resume_answers_the_question_even_if_the_resumed_step_fails(
    trail: SessionTrail,
) -> None:
    def ask(state: Asked) -> dict[str, Any]:
        answer = interrupt("go?")
        raise RuntimeError(f"failed after {answer}")

    builder = StateGraph(Asked)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=TrailSaver(trail))
    graph.invoke({"answer": ""}, THREAD)
    assert session(trail).pending_question is not None

    with pytest.raises(RuntimeError, match="failed after yes"):
        graph.invoke(Command(resume="yes"), THREAD)

    assert session(trail).pending_question is None  # answered; no checkpoint since


def test_forking_from_an_earlier_checkpoint_answers_the_question(
    trail: SessionTrail,
) -> None:
    graph = approval_graph(TrailSaver(trail))
    graph.invoke({"log": ["in"]}, THREAD)
    first = list(graph.get_state_history(THREAD))[-1]  # the input checkpoint

    graph.update_state(first.config, {"n": 5})

    assert session(trail).pending_question is None


@dataclass
class Unprintable:
    """A value LangGraph's serializer stores (a dataclass) that cannot be shown."""

    draft: str

    def __str__(self) -> str:
        raise RuntimeError("no text for this one")

    __repr__ = __str__


def test_a_value_that_cannot_be_shown_still_asks_and_fails_no_write(
    trail: SessionTrail,
) -> None:
    """LangGraph's own savers store the interrupt; the question names its type."""
    graph = asking(TrailSaver(trail), {"draft": Unprintable("v2")})
    paused = graph.invoke({"answer": ""}, THREAD)

    question = session(trail).pending_question
    assert question is not None and question.question == "(dict)"
    assert question.tool_call_id == paused["__interrupt__"][0].id


class Fanned(TypedDict, total=False):
    items: list[str]
    answers: Annotated[list[str], operator.add]


def fanned_out(saver: TrailSaver) -> CompiledStateGraph:
    """One task per item, run in one step (LangGraph's Send), each asking."""

    def fan(state: Fanned) -> list[Send]:
        return [Send("ask", {"items": [item]}) for item in state["items"]]

    def ask(state: Fanned) -> dict[str, Any]:
        item = state["items"][0]
        return {"answers": [f"{item}={interrupt(f'{item}?')}"]}

    builder = StateGraph(Fanned)
    builder.add_node("ask", ask)
    builder.add_conditional_edges(START, fan, ["ask"])
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=saver)


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_the_interrupts_still_waiting_are_asked_one_after_another(
    trail: SessionTrail, durability: Durability
) -> None:
    """Tasks of one step ask; each resume by the shown question's id leaves
    one of those still waiting shown (LangGraph runs them again: they ask
    again, as before), until none waits."""
    graph = fanned_out(TrailSaver(trail))
    paused = graph.invoke({"items": ["a", "b", "c"]}, THREAD, durability=durability)
    given = []
    for answer in ("1", "2", "3"):
        waiting = {each.id: each.value for each in paused["__interrupt__"]}
        question = session(trail).pending_question
        assert question is not None, f"nothing asked; waiting: {waiting}"
        assert waiting[question.tool_call_id] == question.question
        given.append(f"{question.question.rstrip('?')}={answer}")
        resume = Command(resume={question.tool_call_id: answer})
        paused = graph.invoke(resume, THREAD, durability=durability)

    assert "__interrupt__" not in paused
    assert sorted(paused["answers"]) == sorted(given)
    assert session(trail).pending_question is None


def test_a_task_asking_again_after_another_tasks_resume_is_asked(
    trail: SessionTrail,
) -> None:
    """The saver's view of the run above, in one order LangGraph may store it:
    task b's resume (b asked last: its question is shown), then task a's
    interrupt again, the same as before."""
    saver = TrailSaver(trail)
    waits_at = saver.put(config("t1", user_id="ann"), checkpoint(), {}, {})
    for task, value in (("task-a", "A?"), ("task-b", "B?")):
        saver.put_writes(waits_at, [("__interrupt__", [ask(task, value)])], task)
    saver.put_writes(waits_at, [("__resume__", ["x"]), ("b", "x")], "task-b")
    saver.put_writes(waits_at, [("__interrupt__", [ask("task-a", "A?")])], "task-a")

    question = session(trail).pending_question
    assert question is not None
    assert (question.tool_call_id, question.question) == (ask("task-a", "A?").id, "A?")


def test_a_tasks_resume_does_not_answer_another_tasks_question(
    trail: SessionTrail,
) -> None:
    """The order LangGraph's background writes may take after a resume by id
    of task a's interrupt: task b asks again, then task a's resume is stored."""
    saver = TrailSaver(trail)
    waits_at = saver.put(config("t1", user_id="ann"), checkpoint(), {}, {})
    for task, value in (("task-a", "A?"), ("task-b", "B?")):
        saver.put_writes(waits_at, [("__interrupt__", [ask(task, value)])], task)
    saver.put_writes(waits_at, [("__interrupt__", [ask("task-b", "B?")])], "task-b")
    saver.put_writes(waits_at, [("__resume__", ["x"]), ("a", "x")], "task-a")

    question = session(trail).pending_question
    assert question is not None and question.question == "B?"


@pytest.mark.parametrize("interrupt_id", ["", "x" * 5000])
def test_a_tasks_resume_answers_its_question_whatever_its_interrupts_id(
    trail: SessionTrail, interrupt_id: str
) -> None:
    """An id the question cannot keep as it is (empty, too long) still matches
    the resume of the task that asked."""
    saver = TrailSaver(trail)
    waits_at = saver.put(config("t1", user_id="ann"), checkpoint(), {}, {})
    asked = Interrupt(value="go?", id=interrupt_id)
    saver.put_writes(waits_at, [("__interrupt__", [asked])], "task-a")
    assert session(trail).pending_question is not None

    saver.put_writes(waits_at, [("__resume__", ["yes"])], "task-a")

    assert session(trail).pending_question is None


def ask(task: str, value: str) -> Interrupt:
    """The interrupt a task of the root graph raises (its id from its namespace)."""
    return Interrupt.from_ns(value=value, ns=f"node:{task}")
