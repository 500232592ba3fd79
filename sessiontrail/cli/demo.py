"""The README's main job: an agent runtime and a person's UI write one chat at once.

Two trails on one database stand for two processes. The runtime records a tool-using
turn, a pending question and token usage while the UI, working from a copy loaded
before any of that, renames and pins the chat. Neither waits for nor overwrites the
other: both only append events, and every save merges with what the other stored.
The runtime also keeps its trace steps and the turn's Q&A entry (the Q&A and
trace store) beside the chat, in the Q&A stream of (alice, the chat).
"""

from __future__ import annotations

import threading

from rich.console import Console

from ..domain.qa_values import SessionTraceStep
from ..domain.session import Session
from ..trail import SessionTrail, connect
from .render import timeline_table, transcript_table

DEMO_ID = "demo-trip"
DEMO_USER = "alice"


def _runtime_turn(trail: SessionTrail, ready: threading.Barrier) -> None:
    """What an agent runtime does during one turn, saving as it goes."""
    repo = trail.sessions
    session = repo.load(DEMO_ID, user_id=DEMO_USER)
    assert session is not None
    ready.wait()
    session.append_message(
        role="assistant",
        content="Let me check the weather first.",
        tool_calls=[
            {"id": "call-1", "name": "weather", "arguments": {"city": "Lisbon"}}
        ],
    )
    repo.save(session)
    trail.qa.append_agent_trace_step(
        DEMO_USER,
        DEMO_ID,
        SessionTraceStep(
            trace_id="turn-1",
            origin_function="weather",
            status="ok",
            method_params={"city": "Lisbon"},
            method_return_value="22°C, sunny",
        ),
    )
    session.append_message(
        role="tool", content="22°C, sunny", tool_call_id="call-1", tool_success=True
    )
    session.append_message(
        role="assistant", content="Sunny and 22°C: a walking tour of Alfama fits well."
    )
    session.set_pending_question(
        {
            "tool_call_id": "call-2",
            "tool_name": "ask_user",
            "question": "Morning or afternoon tour?",
            "options": ["morning", "afternoon"],
        }
    )
    repo.save(session)  # the runtime's copy never saw the rename; it is not undone
    repo.append_token_usage(
        DEMO_ID, {"model": "gpt-4o", "input_tokens": 812, "output_tokens": 64}
    )
    trail.qa.create_qa_entry(
        DEMO_ID,
        "What is the weather in Lisbon on Saturday?",
        "Sunny and 22°C.",
        user_id=DEMO_USER,
        context="weather(city=Lisbon) -> 22°C, sunny",
    )


def _ui_edits(trail: SessionTrail, ready: threading.Barrier) -> None:
    """What a person does in the chat UI meanwhile, from the copy they opened."""
    repo = trail.sessions
    session = repo.load(DEMO_ID, user_id=DEMO_USER)
    assert session is not None
    ready.wait()
    session.edit_title("Lisbon weekend", actor="alice@web")
    session.set_pinned(True, actor="alice@web")
    repo.save(session)


def _record(runtime: SessionTrail, ui: SessionTrail) -> None:
    session = runtime.sessions.load_or_create(
        DEMO_ID, model="gpt-4o", user_id=DEMO_USER
    )
    session.append_message(role="system", content="You are a helpful travel agent.")
    session.append_message(role="user", content="Plan a day in Lisbon for Saturday.")
    runtime.sessions.save(session)
    ready = threading.Barrier(2)
    workers = [
        threading.Thread(target=_runtime_turn, args=(runtime, ready)),
        threading.Thread(target=_ui_edits, args=(ui, ready)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _show(console: Console, trail: SessionTrail) -> Session:
    session = trail.sessions.load_merged(DEMO_ID, user_id=DEMO_USER)
    assert session is not None
    console.print(
        transcript_table(session.messages, title=f"{DEMO_ID}: {session.title}")
    )
    question = session.pending_question
    console.print(
        f"pinned: {session.pinned} · title v{session.title_version} · "
        f"metadata v{session.metadata_version} · version {session.version} · "
        f"waiting for: {question.question if question else '-'}"
    )
    console.print(timeline_table(trail.sessions.history(DEMO_ID, user_id=DEMO_USER)))
    entries = trail.qa.get_all_qa_entries(DEMO_ID, user_id=DEMO_USER)
    steps = trail.qa.get_agent_trace_steps(DEMO_USER, DEMO_ID)
    for entry in entries:
        console.print(f"Q&A: {entry.question} → {entry.answer}")
    for step in steps:
        console.print(
            f"trace {step.trace_id}: {step.origin_function} {step.status} "
            f"→ {step.method_return_value}"
        )
    return session


def run_demo(url: str | None, console: Console) -> Session:
    """Record the demo session once (re-runs show the stored one) and print it."""
    with connect(url) as runtime, connect(runtime.url) as ui:
        if runtime.sessions.exists(DEMO_ID):
            console.print(f"[dim]{DEMO_ID} is already recorded in {runtime.url}[/]")
        else:
            _record(runtime, ui)
            console.print(f"recorded {DEMO_ID} in {runtime.url}")
        return _show(console, runtime)
