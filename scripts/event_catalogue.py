"""Generate the event catalogue from the code: docs/events.md and one JSON Schema per
event in docs/schema/. `tests/test_event_catalogue.py` fails when they are stale.

    .venv/bin/python scripts/event_catalogue.py

Every event class (a pydantic model nested in its aggregate) is listed with its
topic, class_version, the fields users' content is sealed in, and each field's type;
the example payload of each is a real event, recorded by a scenario that runs
every command once on an in-memory log at a frozen time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic
from freezegun import freeze_time

import sessiontrail
from sessiontrail import Session, SessionQAUpdate
from sessiontrail.domain.event_model import ENVELOPE_FIELDS, EventModel
from sessiontrail.domain.qa_values import SessionTraceStep
from sessiontrail.domain.threads import ChannelValue, Serialized, TaskWrite

DOCS = Path(__file__).resolve().parent.parent / "docs"
DIGEST = re.compile(r'"[0-9a-f]{64}"')
"""Hash-chain digests cover encrypted bytes (new nonces each run): shown as a
placeholder so the page is the same every time it is generated."""
KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # fixed: stable examples


def event_classes() -> list[type[EventModel]]:
    """Every concrete event class, by topic."""
    found: dict[str, type[EventModel]] = {}
    pending = list(EventModel.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__name__ != "Event" and "." in cls.__qualname__:
            found[topic(cls)] = cls
    return [found[name] for name in sorted(found)]


def topic(cls: type) -> str:
    """The topic stored with each event of `cls` (what an operator finds in a row)."""
    return get_topic(cls)


def scenario() -> dict[str, dict[str, Any]]:
    """Run every command once; the first payload of each event type, by topic."""
    with (
        freeze_time("2026-01-02T03:04:05Z"),
        sessiontrail.connect("memory://catalogue", key=KEY) as trail,
    ):
        session = Session(
            session_id="chat-42", model="gpt-4o", user_id="ann", title="Trip"
        )
        session.append_message(role="user", content="Plan a trip to Rome", id="m1")
        session.append_message(role="assistant", content="When?", id="m2")
        session.truncate(1)
        session.edit_title("Rome in May")
        session.set_pinned(True)
        session.update_metadata({"lang": "en"})
        session.set_model("gpt-4.1")
        session.set_pending_question(
            {"tool_call_id": "c1", "tool_name": "ask", "question": "Which dates?"}
        )
        session.resolve_question()
        trail.sessions.save(session)
        stale = trail.sessions.load_merged("chat-42")
        assert stale is not None
        session.edit_title("Rome, May 2026")
        trail.sessions.save(session)
        stale.edit_title("Rome trip")  # made on a copy from before that rename
        trail.sessions.save(stale)  # dropped: EditDropped
        trail.sessions.append_token_usage(
            "chat-42", {"model": "gpt-4.1", "input_tokens": 812, "output_tokens": 64}
        )
        trail.sessions.fork("chat-42", at_version=2, new_id="chat-42-b")
        trail.sessions.delete("chat-42")
        trail.sessions.restore("chat-42")
        langgraph_thread(trail)
        qa = trail.qa
        qa.create_qa_entry(
            "chat-42", "Best month?", "May.", user_id="ann", qa_id="qa-1"
        )
        qa.update_qa_entry(
            "chat-42", "qa-1", SessionQAUpdate(feedback_score=5), user_id="ann"
        )
        qa.set_graph_context("chat-42", "Rome -> May", user_id="ann")
        step = SessionTraceStep(trace_id="t1", origin_function="search", status="ok")
        qa.append_agent_trace_step("ann", "chat-42", step)
        qa.delete_qa_entry("chat-42", "qa-1", user_id="ann")
        qa.delete_session("chat-42", user_id="ann")
        trail.checkpoint()
        trail.erase_user("nobody")
        trail.retention.set(30, user_id="ann", actor="dpo@example.com")
        old = Session(session_id="chat-7", model="gpt-4o", user_id="ann")
        old.append_message(role="user", content="Forget this chat", id="m1")
        trail.sessions.save(old)
        trail.sessions.purge("chat-7", actor="dpo", reason="user request")
        examples: dict[str, dict[str, Any]] = {}
        for event in trail.store.every_event():
            examples.setdefault(topic(type(event)), event.json_payload())
    return examples


def langgraph_thread(trail: sessiontrail.SessionTrail) -> None:
    """What the LangGraph saver records for a thread: a checkpoint, a task's
    pending writes, and a fresh start (values as its serializer's bytes)."""
    thread = Session(session_id="langgraph/t1", user_id="ann", title="t1")
    checkpoint_id = "1f0c2a8e-3b1d-6c4e-8000-2d8b1e0c4a93"
    thread.save_checkpoint(
        checkpoint_id,
        parent_checkpoint_id=None,
        checkpoint=Serialized.pack(("msgpack", b"\x81\xa1v\x04")),
        channel_versions={"messages": "00000000000000000000000000000001.0.5"},
        values=[
            ChannelValue.pack(
                ("msgpack", b"\x91\xa2hi"),
                channel="messages",
                version="00000000000000000000000000000001.0.5",
            )
        ],
        metadata={"source": "input", "step": -1, "parents": {}},
        app_metadata={"user_id": "ann"},
    )
    thread.save_writes(
        checkpoint_id,
        "5b3f1e7a-0c4d-4e2a-9f61-7d2c8e1b4a05",
        [TaskWrite.pack(("msgpack", b"\xa2ok"), idx=0, channel="messages")],
        task_path="~__pregel_pull, assistant",
    )
    thread.clear_checkpoints()
    trail.sessions.save(thread)


def type_name(annotation: Any) -> str:
    """A field's type as a reader writes it: `str | None`, `list[Message]`."""
    text = (
        getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    )
    text = text or str(annotation)
    text = re.sub(r"\b(typing|pydantic|collections\.abc|datetime|uuid)\.", "", text)
    return re.sub(r"\b(?:[a-z_]+\.)+([A-Z]\w*)", r"\1", text).replace(
        "NoneType", "None"
    )


def page(classes: list[type[EventModel]], examples: dict[str, Any]) -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from the code by `scripts/event_catalogue.py`; do not edit by hand",
        "(`tests/test_event_catalogue.py` fails when this page or `docs/schema/` is",
        "stale). Every event also carries the envelope: `originator_id` (the stream's",
        "UUID), `originator_version`, `timestamp` and `actor`. Fields listed as",
        "*personal* are sealed with their user's key in storage and read `[erased]`",
        "after `erase_user`. Each event's JSON Schema is in `docs/schema/`; the",
        "examples are real events from one run of every command (hash-chain digests",
        "shown as placeholders).",
        "",
    ]
    for cls in classes:
        name = topic(cls)
        lines += [f"## {cls.__qualname__}", ""]
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc and not doc[0].startswith(("A base", "Base")):
            lines += [doc[0], ""]
        personal = sorted(
            (f"{path}." if path else "") + field
            for path, spec in cls.personal.items()
            for field in (
                spec if isinstance(spec, tuple) else ("* (all but token counts)",)
            )
        )
        lines += [f"- topic: `{name}`", f"- class_version: {cls.class_version}"]
        if personal:
            lines.append(f"- personal: {', '.join(f'`{field}`' for field in personal)}")
        lines += ["", "| field | type |", "|---|---|"]
        fields = [
            (field, type_name(info.annotation))
            for field, info in cls.model_fields.items()
            if field not in ENVELOPE_FIELDS
        ]
        lines += [f"| `{field}` | `{kind}` |" for field, kind in fields] or [
            "| — | — |"
        ]
        example = examples.get(name)
        if example is not None:
            text = json.dumps(example, indent=2, sort_keys=True)
            text = DIGEST.sub('"<sha-256, hex>"', text)  # they hash ciphertext
            lines += ["", "```json", text, "```"]
        lines.append("")
    return "\n".join(lines)


def schemas(classes: list[type[EventModel]]) -> dict[str, str]:
    """File name -> JSON Schema text, one per event class."""
    return {
        f"{cls.__qualname__}.json": json.dumps(
            cls.model_json_schema(), indent=2, sort_keys=True
        )
        + "\n"
        for cls in classes
    }


def generate() -> dict[Path, str]:
    """Every file the catalogue consists of, with its content."""
    classes = event_classes()
    files = {DOCS / "events.md": page(classes, scenario())}
    for name, text in schemas(classes).items():
        files[DOCS / "schema" / name] = text
    return files


if __name__ == "__main__":
    (DOCS / "schema").mkdir(exist_ok=True)
    for stale in (DOCS / "schema").glob("*.json"):
        stale.unlink()
    for path, text in generate().items():
        path.write_text(text)
    print(f"wrote docs/events.md and {len(event_classes())} schemas in docs/schema/")
