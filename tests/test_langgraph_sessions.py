"""A LangGraph thread as a sessiontrail session, on every backend: its
conversation is the session's transcript, its owner is the config's user (others
see nothing), delete_thread is a soft delete, erasure empties its checkpoints and
the log still verifies; bad input is refused with nothing written."""

from __future__ import annotations

import copy
import itertools
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Command
from support.langgraph import approval_graph, chat_graph, checkpoint, config

import sessiontrail
from sessiontrail import ConcurrencyConflict, InvalidInput, SessionTrail
from sessiontrail.domain.session import Session
from sessiontrail.domain.thread_ids import thread_of, thread_session_id
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.integrations.langgraph_log import ThreadLog

ANN = {"configurable": {"thread_id": "t1", "user_id": "ann"}}
BOB = {"configurable": {"thread_id": "t1", "user_id": "bob"}}
SESSION = "langgraph/t1"


@pytest.fixture
def saver(trail: SessionTrail) -> TrailSaver:
    return TrailSaver(trail)


def say(graph: Any, text: str, run: dict[str, Any] = ANN) -> None:
    graph.invoke({"messages": [HumanMessage(text, id=f"h-{text}")]}, run)


def transcript(trail: SessionTrail, session_id: str = SESSION) -> list[Any]:
    session = trail.sessions.load(session_id)
    assert session is not None
    return [
        (m.role, m.content, m.tool_calls and m.tool_calls[0].name, m.tool_call_id)
        for m in session.messages
    ]


# -- the session a thread is -----------------------------------------------------------


def test_a_thread_is_a_session_owned_by_the_configs_user(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    say(chat_graph(saver), "hi")
    session = trail.sessions.load(SESSION, user_id="ann")
    assert session is not None and session.title == "t1"
    [summary] = trail.sessions.list(user_id="ann").items
    assert summary.session_id == SESSION
    assert trail.sessions.list(user_id="bob").items == []


def test_thread_ids_map_to_distinct_session_ids() -> None:
    pairs = [("a/b", ""), ("a", "b"), ("a%2Fb", ""), ("x", "node:1|inner:2")]
    ids = [thread_session_id(thread, ns) for thread, ns in pairs]
    assert len(set(ids)) == len(ids)
    assert [thread_of(session_id) for session_id in ids] == pairs
    assert thread_of("chat-42") is None


def test_the_conversation_is_the_sessions_transcript(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = chat_graph(saver)
    say(graph, "hi")
    say(graph, "weather?")
    assert transcript(trail) == [
        ("user", "hi", None, None),
        ("assistant", "answer 1", None, None),
        ("user", "weather?", None, None),
        ("assistant", "", "weather", None),
        ("tool", "18C, sunny", None, "c3"),
        ("assistant", "answer 5", None, None),
    ]
    session = trail.sessions.load(SESSION)
    assert session is not None and session.messages[0].id == "h-hi"


def test_each_step_appends_only_the_new_messages(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = chat_graph(saver)
    say(graph, "hi")
    say(graph, "again")
    appended = [
        entry.payload["message"]["id"]
        for entry in trail.sessions.history(SESSION)
        if entry.event == "MessageAppended"
    ]
    assert appended == ["h-hi", "a1", "h-again", "a3"]


def test_removed_messages_leave_the_transcript(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = chat_graph(saver)
    say(graph, "hi")
    say(graph, "forget")
    assert [text for _, text, _, _ in transcript(trail)] == ["forget", "forgotten"]
    events = [entry.event for entry in trail.sessions.history(SESSION)]
    assert "TranscriptTruncated" in events  # history keeps what was removed


def test_a_fork_makes_the_transcript_the_forks_conversation(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = chat_graph(saver)
    say(graph, "hi")
    first_turn = graph.get_state(ANN).config
    say(graph, "more")
    graph.invoke({"messages": [HumanMessage("other", id="h-other")]}, first_turn)
    assert [text for _, text, _, _ in transcript(trail)] == [
        "hi",
        "answer 1",
        "other",
        "answer 3",
    ]


def test_writes_that_change_nothing_record_no_event(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    saved = checkpoint()
    saver.put(config("t1"), saved, {"step": 0}, {})
    target = config("t1", checkpoint_id=saved["id"])
    for _ in range(3):
        saver.put_writes(target, [("a", 1), ("b", 2)], "task")
        saver.put_writes(target, [("__error__", "boom")], "task")
    events = [entry.event for entry in trail.sessions.history(SESSION)]
    assert events.count("WritesSaved") == 2


def test_checkpoints_stay_out_of_the_session_state(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    approval_graph(TrailSaver(trail, messages_channel=None)).invoke(
        {"log": ["in"]}, ANN
    )
    session = trail.sessions.load(SESSION)
    assert session is not None
    events = trail.sessions.history(SESSION)
    assert {entry.event for entry in events} == {
        "Started",
        "CheckpointSaved",
        "WritesSaved",
    }
    fresh = Session(session_id=SESSION, user_id="ann", title="t1")
    state = session.to_state().model_dump(exclude={"created_on", "modified_on"})
    assert state == fresh.to_state().model_dump(exclude={"created_on", "modified_on"})
    assert session.version == len(events)


def test_an_exported_thread_resumes_in_the_log_it_is_imported_into(
    saver: TrailSaver, trail: SessionTrail, tmp_path: Path
) -> None:
    say(chat_graph(saver), "weather?")
    exported = tmp_path / "thread.jsonl"
    with exported.open("w") as out:
        trail.exporter.write(out, [SESSION])
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'other.db'}") as other:
        other.importer.import_file(exported)
        graph = chat_graph(TrailSaver(other))
        say(graph, "more")  # the copied events carry the checkpoints along
        assert [text for _, text, _, _ in transcript(other)] == [
            "weather?",
            "",
            "18C, sunny",
            "answer 3",
            "more",
            "answer 5",
        ]
        assert other.verify().ok


# -- users -----------------------------------------------------------------------------


def test_another_users_thread_reads_as_missing(saver: TrailSaver) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["in"]}, ANN)
    assert saver.get_tuple(BOB) is None
    assert list(saver.list(BOB)) == []
    assert graph.get_state(BOB).values == {}
    assert saver.get_tuple({"configurable": {"thread_id": "t1"}}) is not None


def test_writing_into_another_users_thread_is_refused(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["in"]}, ANN)
    before = len(trail.sessions.history(SESSION))
    with pytest.raises(ConcurrencyConflict, match="already in use"):
        saver.put(
            {**BOB, "configurable": {**BOB["configurable"], "checkpoint_ns": ""}},
            checkpoint(),
            {},
            {},
        )
    assert len(trail.sessions.history(SESSION)) == before


# -- delete_thread ---------------------------------------------------------------------


def test_delete_thread_is_a_soft_delete(saver: TrailSaver, trail: SessionTrail) -> None:
    approval_graph(saver).invoke({"log": ["in"]}, ANN)
    saver.delete_thread("t1")
    assert saver.get_tuple(ANN) is None
    assert trail.sessions.load(SESSION) is None
    assert trail.sessions.history(SESSION)[-1].event == "SessionDeleted"


def test_restoring_a_deleted_thread_brings_its_checkpoints_back(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = approval_graph(saver)
    graph.invoke({"log": ["in"]}, ANN)
    saver.delete_thread("t1")
    assert trail.sessions.restore(SESSION)
    assert graph.invoke(Command(resume="yes"), ANN)["n"] == 10


def test_a_thread_id_used_again_after_delete_starts_afresh(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = chat_graph(saver)
    say(graph, "old")
    saver.delete_thread("t1")
    say(graph, "new")
    assert [text for _, text, _, _ in transcript(trail)] == ["new", "answer 1"]
    assert [s.metadata["step"] for s in graph.get_state_history(ANN)] == [1, 0, -1]


def test_writers_reopening_a_deleted_thread_at_once_keep_every_checkpoint(
    saver: TrailSaver, other_trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes' savers (one saver's own writes to a thread wait for each
    other)."""
    saver.put(config("t1"), checkpoint(), {"step": 0}, {})
    saver.delete_thread("t1")
    both_reopened = threading.Barrier(2, timeout=30)
    reopened = ThreadLog._reopened

    def in_step(log: ThreadLog, trail: SessionTrail, target: Any) -> Any:
        head = reopened(log, trail, target)
        both_reopened.wait()  # each found it deleted: one will merge onto the other
        return head

    monkeypatch.setattr(ThreadLog, "_reopened", in_step)
    fresh = [checkpoint(), checkpoint()]
    writers = [saver, TrailSaver(other_trail)]
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda writer, new: writer.put(config("t1"), new, {"step": 0}, {}),
                writers,
                fresh,
            )
        )
    found = {item.checkpoint["id"] for item in saver.list(config("t1"))}
    assert found == {new["id"] for new in fresh}


def test_a_writer_reopening_a_deleted_thread_after_another_keeps_its_messages(
    saver: TrailSaver,
    trail: SessionTrail,
    other_trail: SessionTrail,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = [HumanMessage("old", id="h-1")]
    saver.put(config("t1"), checkpoint({"messages": said}), {"step": 0}, {})
    saver.delete_thread("t1")
    reopened = ThreadLog._reopened
    again = [HumanMessage("new", id="h-1")]  # LangGraph ids repeat from run to run

    def other_writer_first(log: ThreadLog, trail: SessionTrail, target: Any) -> Any:
        head = reopened(log, trail, target)
        if head is not None and not again_stored.is_set():
            again_stored.set()  # this writer found it deleted; the other reopens it
            with ThreadPoolExecutor(1) as other:
                other.submit(
                    TrailSaver(other_trail).put,
                    config("t1"),
                    checkpoint({"messages": again}),
                    {},
                    {},
                ).result()
        return head

    again_stored = threading.Event()
    monkeypatch.setattr(ThreadLog, "_reopened", other_writer_first)
    saver.put(config("t1"), checkpoint(), {"step": 0}, {})
    assert [text for _, text, _, _ in transcript(trail)] == ["new"]


# -- erasure ---------------------------------------------------------------------------


def test_an_erased_users_checkpoints_read_as_empty_and_the_log_verifies(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    graph = chat_graph(saver)
    say(graph, "my secret")
    shape = [
        (s.metadata["step"], s.metadata["source"]) for s in graph.get_state_history(ANN)
    ]
    trail.erase_user("ann")
    found = saver.get_tuple(ANN)
    assert found is not None
    assert found.checkpoint["channel_values"] == {}
    assert found.pending_writes == []
    assert [
        (s.metadata["step"], s.metadata["source"]) for s in graph.get_state_history(ANN)
    ] == shape
    assert {text for _, text, _, _ in transcript(trail)} == {"[erased]"}
    assert trail.verify().ok


def test_a_checkpoint_saved_again_after_erasure_reads_its_new_values(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    saved = checkpoint({"notes": ["secret"]}, versions={"notes": "0001.5"})
    saver.put(config("t1", user_id="ann"), saved, {"step": 0}, {"notes": "0001.5"})
    trail.erase_user("ann")
    saved["channel_values"] = {"notes": ["written again"]}
    saver.put(config("t1", user_id="ann"), saved, {"step": 0}, {"notes": "0001.5"})
    found = saver.get_tuple(config("t1"))
    assert found is not None
    assert found.checkpoint["channel_values"] == {"notes": ["written again"]}


def test_the_apps_metadata_is_erased_and_langgraphs_kept(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    run = {**ANN, "metadata": {"topic": "my secret"}}
    approval_graph(saver).invoke({"log": ["in"]}, run)
    assert saver.get_tuple(ANN).metadata["topic"] == "my secret"  # type: ignore[union-attr]
    trail.erase_user("ann")
    metadata = saver.get_tuple(ANN).metadata  # type: ignore[union-attr]
    assert set(metadata) == {"source", "step", "parents"}


# -- reads -----------------------------------------------------------------------------


def test_worker_mode_reads_its_own_writes(url: str) -> None:
    with sessiontrail.connect(url, projections="worker") as trail:
        graph = approval_graph(TrailSaver(trail))
        graph.invoke({"log": ["in"]}, ANN)
        assert graph.invoke(Command(resume="yes"), ANN)["n"] == 10
        assert len(list(graph.get_state_history(ANN))) == 5
        lagging = {s.name for s in trail.projections.status() if s.lag > 0}
        assert "langgraph" not in lagging and "sessions" in lagging


def test_reading_a_checkpoint_costs_the_same_however_long_the_thread(
    tmp_path: Path,
) -> None:
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'log.db'}") as trail:
        saver = TrailSaver(trail)
        graph = approval_graph(saver)
        connection = trail.read_models._connection  # type: ignore[attr-defined]

        def work(turns: int) -> int:
            """SQLite's virtual-machine steps to read a thread's latest checkpoint
            (rows scanned show up here; timings would be noise)."""
            thread = {"configurable": {"thread_id": f"long-{turns}"}}
            for turn in range(turns):
                graph.invoke({"log": [str(turn)]}, thread)
                graph.invoke(Command(resume="y"), thread)
            steps = itertools.count()
            connection.set_progress_handler(lambda: next(steps) and 0, 1)
            try:
                assert saver.get_tuple(thread) is not None
            finally:
                connection.set_progress_handler(None, 1)
            return next(steps)

        assert work(12) == work(1)


def test_values_never_use_pickle_unless_configured(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    value = [Fraction(1, 3)]  # what msgpack cannot write and pickle can
    with pytest.raises(InvalidInput, match=r"channel_values\.third"):
        saver.put(config("t1"), checkpoint({"third": value}), {}, {"third": 1})
    assert trail.sessions.load(SESSION) is None
    pickling = TrailSaver(trail, serde=JsonPlusSerializer(pickle_fallback=True))
    pickling.put(config("t1"), checkpoint({"third": value}), {}, {"third": 1})
    found = pickling.get_tuple(config("t1"))
    assert found is not None and found.checkpoint["channel_values"]["third"] == value
    [saved] = [
        e for e in trail.sessions.history(SESSION) if e.event == "CheckpointSaved"
    ]
    assert saved.payload["values"][0]["type"] == "pickle"


class Counting(JsonPlusSerializer):
    """LangGraph's serializer, counting what it writes."""

    written = 0

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        self.written += 1
        return super().dumps_typed(obj)


def test_a_copy_of_the_saver_writes_with_its_own_serializer(saver: TrailSaver) -> None:
    clone = copy.copy(saver)  # what LangGraph's with_allowlist makes
    clone.serde = Counting()
    clone.put(config("t1"), checkpoint({"n": [1]}), {}, {"n": 1})
    assert clone.serde.written == 2  # the checkpoint and its one value
    assert not isinstance(saver.serde, Counting)


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "field"),
    [
        ({}, "configurable"),
        ({"configurable": {}}, "thread_id"),
        ({"configurable": {"thread_id": "t", "user_id": 7}}, "user_id"),
        ({"configurable": {"thread_id": "x" * 300}}, "thread_id"),
        ({"configurable": {"thread_id": "line\nbreak"}}, "thread_id"),
    ],
)
def test_a_config_that_names_no_thread_is_refused(
    saver: TrailSaver, trail: SessionTrail, run: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput, match=field):
        saver.put(run, checkpoint(), {}, {})
    assert trail.sessions.list().items == []


def test_metadata_that_is_not_json_is_refused(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    with pytest.raises(InvalidInput, match="metadata"):
        saver.put(config("t1"), checkpoint(), {"when": object()}, {})  # type: ignore[typeddict-unknown-key]
    assert trail.sessions.list().items == []


@pytest.mark.parametrize(
    ("run", "saved", "field"),
    [
        (config("t1"), checkpoint() | {"id": "line\nbreak"}, "checkpoint.id"),
        (config("t1", checkpoint_id="x" * 300), checkpoint(), "config.checkpoint_id"),
    ],
)
def test_a_checkpoint_id_the_log_cannot_keep_is_refused_naming_it(
    saver: TrailSaver,
    trail: SessionTrail,
    run: dict[str, Any],
    saved: Checkpoint,
    field: str,
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(field)):
        saver.put(run, saved, {}, {})
    assert trail.sessions.list().items == []


def test_put_writes_needs_a_checkpoint_id(
    saver: TrailSaver, trail: SessionTrail
) -> None:
    with pytest.raises(InvalidInput, match="checkpoint_id"):
        saver.put_writes(config("t1"), [("a", 1)], "task")
    assert trail.sessions.list().items == []


@pytest.mark.parametrize("limit", [-1, "3", True])
def test_a_bad_limit_is_refused(saver: TrailSaver, limit: Any) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        list(saver.list(None, limit=limit))


@pytest.mark.parametrize("current", ["v2", "", object(), True, 1.5])
def test_next_version_refuses_what_is_not_a_version(
    saver: TrailSaver, current: Any
) -> None:
    with pytest.raises(InvalidInput, match="current"):
        saver.get_next_version(current, None)


def test_bad_options_are_refused_when_the_saver_is_made(trail: SessionTrail) -> None:
    with pytest.raises(InvalidInput, match="user_key"):
        TrailSaver(trail, user_key="")
    with pytest.raises(InvalidInput, match="messages_channel"):
        TrailSaver(trail, messages_channel="")
    with pytest.raises(InvalidInput, match="actor"):
        TrailSaver(trail, actor="")
    with pytest.raises(InvalidInput, match="serde"):
        TrailSaver(trail, serde=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trail must be"):
        TrailSaver(42)  # type: ignore[arg-type]
