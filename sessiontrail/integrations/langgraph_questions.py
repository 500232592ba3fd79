"""A LangGraph interrupt as its session's pending question.

A node that calls `interrupt(value)` pauses the run until the app resumes it
with `Command(resume=...)`: a question put to a person. LangGraph hands the
saver the interrupt as a pending write on the `__interrupt__` channel; the
saver then also records it as the session's pending question, so `show`, the
HTTP API and the web viewer say the conversation waits for an answer, as they
do for any agent's question. What the question becomes:

- its text: the value when it is a string; a mapping's `question` when that
  is a string (its `options`, when a list of strings, are the choices);
  anything else as JSON. At most QUESTION_CHARS characters are kept, ending
  with "…" when cut, and at most OPTIONS choices of OPTION_CHARS each: a
  question is for showing, the interrupt itself is stored whole in the write;
- its id: the interrupt's id; its tool name: "interrupt"; its source:
  "langgraph"; its `checkpoint_id`: the checkpoint the run waits at (the one
  the interrupt is written on).

A resume (a `__resume__` write) answers it: `Command(resume=value)`'s own
write (of no task), or the write of the task that asked (a resume by interrupt
id writes none of its own, and the resumed task's write may be stored after
another task of the step asked again). So does any checkpoint put after the
one the run waits at: the run went on (resumed, given new input, or forked
from another checkpoint). LangGraph makes checkpoint ids in the order it makes
the checkpoints (UUID v6), and may hand the saver a step's writes before the
step's own checkpoint: that checkpoint, put late, is not after the question
and answers nothing.
The question never fails a write: LangGraph's own savers store any interrupt
the serializer can write, so a value that makes no question is shown as its
JSON (or its repr, or its type's name when even that fails), and a write of
several interrupts shows the last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.types import Interrupt

from ..domain.session import Session
from ..domain.values import PendingQuestion

INTERRUPT = "__interrupt__"
RESUME = "__resume__"
NO_TASK = "00000000-0000-0000-0000-000000000000"
"""The task id of writes of no task: those of the `Command` a run is given."""
SOURCE = "langgraph"
"""The `source` of a question this saver recorded (and answers)."""
QUESTION_CHARS = 10_000
OPTIONS = 50
OPTION_CHARS = 1_000


def asked(
    writes: Sequence[tuple[str, Any]], checkpoint_id: str
) -> PendingQuestion | None:
    """The question the last interrupt in a task's writes on a checkpoint puts;
    None if none."""
    interrupts = [
        each
        for channel, value in writes
        if channel == INTERRUPT
        for each in (value if isinstance(value, list | tuple) else (value,))
        if isinstance(each, Interrupt)
    ]
    if not interrupts:
        return None
    last = interrupts[-1]
    try:
        text, options = _shown(last.value)
    except Exception:  # a value whose str and repr raise: its type names it
        text, options = f"({type(last.value).__name__})", []
    return PendingQuestion(
        tool_call_id=_question_id(last),
        tool_name="interrupt",
        question=_cut(text, QUESTION_CHARS) or "(no question given)",
        options=[_cut(option, OPTION_CHARS) for option in options[:OPTIONS]],
        source=SOURCE,
        checkpoint_id=checkpoint_id,
    )


def resumes(writes: Sequence[tuple[str, Any]]) -> bool:
    """Whether a task's writes resume an interrupt."""
    return any(channel == RESUME for channel, _ in writes)


def interrupt_ids(value: Any) -> frozenset[str]:
    """The ids of the questions the interrupts in a value stored on the
    interrupt channel ask."""
    values = value if isinstance(value, list | tuple) else (value,)
    return frozenset(
        _question_id(each) for each in values if isinstance(each, Interrupt)
    )


def answered(session: Session, actor: str, put: str) -> None:
    """Mark the session's question answered if this saver asked it and the
    checkpoint being `put` comes after the one the question waits at."""
    question = session.pending_question
    if question is None or question.source != SOURCE:
        return
    waits_at = question.checkpoint_id
    if waits_at is None or put > waits_at:
        session.resolve_question(actor=actor)


def resumed(
    session: Session, actor: str, task_id: str, asked: frozenset[str] | None
) -> None:
    """Mark the session's question answered, if this saver asked it, on a
    resume written by `task_id`: the `Command`'s own resume answers it; a
    task's, only if the task asked it (`asked`: the ids of the interrupts the
    task's writes on the checkpoint hold; None if they cannot be read)."""
    question = session.pending_question
    if question is None or question.source != SOURCE:
        return
    if task_id == NO_TASK or asked is None or question.tool_call_id in asked:
        session.resolve_question(actor=actor)


def _question_id(asked: Interrupt) -> str:
    """The id of the question an interrupt asks: the interrupt's, as a
    question keeps an id."""
    return _cut(str(asked.id), OPTION_CHARS) or "interrupt"


def _shown(value: Any) -> tuple[str, list[str]]:
    """An interrupt value's text and choices."""
    if isinstance(value, str):
        return value, []
    if isinstance(value, Mapping) and isinstance(value.get("question"), str):
        options = value.get("options")
        choices = (
            [each for each in options if isinstance(each, str)]
            if isinstance(options, list)
            else []
        )
        return value["question"], [each for each in choices if each]
    try:
        return json.dumps(value, ensure_ascii=False, default=str), []
    except (TypeError, ValueError, RecursionError):  # keys not JSON's, a cycle
        return repr(value), []


def _cut(text: str, most: int) -> str:
    """`text` in at most `most` characters (ending "…" when cut), as valid
    UTF-8 (a lone surrogate becomes "?")."""
    if len(text) > most:
        text = text[: most - 1] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")
