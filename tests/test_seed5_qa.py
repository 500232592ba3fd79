"""Seed 5, sentence by sentence: `trail.qa` — Q&A entries, graph context, traces."""

from __future__ import annotations

import pytest

import sessiontrail
from sessiontrail import InvalidInput, SessionNotFound, SessionQAUpdate, SessionTrail
from sessiontrail.domain.qa import qa_stream_id
from sessiontrail.domain.qa_values import GraphElementIds, SessionTraceStep


def ask(trail: SessionTrail, count: int, session_id: str = "s", **kw) -> list[str]:
    return [
        trail.qa.create_qa_entry(session_id, f"q{n}", f"a{n}", **kw)
        for n in range(count)
    ]


def questions(entries) -> list[str]:
    return [entry.question for entry in entries]


def test_create_returns_the_id_generated_or_given(trail: SessionTrail):
    generated = trail.qa.create_qa_entry("s", "q", "a")
    given = trail.qa.create_qa_entry("s", "q2", "a2", qa_id="mine")
    assert generated and given == "mine"
    entry = trail.qa.get_all_qa_entries("s")[0]
    assert (entry.id, entry.session_id, entry.user_id) == (generated, "s", "default")
    assert entry.created_at is not None
    with pytest.raises(InvalidInput, match="qa_id"):
        trail.qa.create_qa_entry("s", "again", "a", qa_id="mine")


def test_entries_keep_every_field_given(trail: SessionTrail):
    graph = GraphElementIds(node_ids=["n1"], edge_ids=["e1"])
    trail.qa.create_qa_entry(
        "s",
        "q",
        "a",
        context="ctx",
        used_graph_element_ids=graph,
        memify_metadata={"k": [1, 2]},
    )
    entry = trail.qa.get_all_qa_entries("s")[0]
    assert (entry.context, entry.used_graph_element_ids) == ("ctx", graph)
    assert entry.memify_metadata == {"k": [1, 2]}
    assert (entry.feedback_text, entry.feedback_score) == (None, None)


def test_all_entries_are_oldest_first(trail: SessionTrail):
    ask(trail, 4)
    assert questions(trail.qa.get_all_qa_entries("s")) == ["q0", "q1", "q2", "q3"]


@pytest.mark.parametrize(
    ("last_n", "expected"),
    [
        (0, []),
        (1, ["q2"]),
        (2, ["q1", "q2"]),
        (3, ["q0", "q1", "q2"]),
        (10, ["q0", "q1", "q2"]),
    ],
)
def test_latest_gives_the_trailing_n_oldest_first(
    trail: SessionTrail, last_n: int, expected: list[str]
):
    ask(trail, 3)
    assert questions(trail.qa.get_latest_qa_entries("s", last_n=last_n)) == expected


def test_latest_rejects_a_negative_count(trail: SessionTrail):
    with pytest.raises(InvalidInput, match="last_n"):
        trail.qa.get_latest_qa_entries("s", last_n=-1)


def test_last_qa_id_is_the_newest_or_none(trail: SessionTrail):
    assert trail.qa.get_last_qa_id("s") is None
    ids = ask(trail, 3)
    assert trail.qa.get_last_qa_id("s") == ids[-1]


def test_updates_are_three_state(trail: SessionTrail):
    (qa_id,) = ask(trail, 1, context="ctx")
    assert trail.qa.update_qa_entry(
        "s", qa_id, SessionQAUpdate(feedback_text="good", feedback_score=4)
    )
    entry = trail.qa.get_all_qa_entries("s")[0]
    assert (entry.feedback_text, entry.feedback_score, entry.context) == (
        "good",
        4,
        "ctx",  # left out: unchanged
    )
    assert trail.qa.update_qa_entry("s", qa_id, SessionQAUpdate(context=None))
    entry = trail.qa.get_all_qa_entries("s")[0]
    assert (entry.context, entry.feedback_text) == (None, "good")  # cleared / kept
    assert trail.qa.update_qa_entry("s", qa_id, SessionQAUpdate(answer=None))
    assert trail.qa.get_all_qa_entries("s")[0].answer == ""


def test_an_update_event_carries_only_what_changed(trail: SessionTrail):
    (qa_id,) = ask(trail, 1)
    trail.qa.update_qa_entry(
        "s", qa_id, SessionQAUpdate(question="q0", feedback_score=2)
    )
    trail.qa.update_qa_entry("s", qa_id, SessionQAUpdate(feedback_score=2))
    updates = [h for h in trail.qa.history("s") if h.event == "QAEntryUpdated"]
    assert [u.payload["changes"] for u in updates] == [{"feedback_score": 2}]


@pytest.mark.parametrize("score", [0, 6, -1])
def test_scores_outside_one_to_five_are_rejected_and_nothing_written(
    trail: SessionTrail, score: int
):
    (qa_id,) = ask(trail, 1)
    before = len(trail.qa.history("s"))
    with pytest.raises(InvalidInput, match="feedback_score"):
        trail.qa.update_qa_entry("s", qa_id, SessionQAUpdate(feedback_score=score))
    assert len(trail.qa.history("s")) == before
    assert trail.qa.get_all_qa_entries("s")[0].feedback_score is None


@pytest.mark.parametrize("score", [1, 5])
def test_scores_one_and_five_are_accepted(trail: SessionTrail, score: int):
    (qa_id,) = ask(trail, 1)
    assert trail.qa.update_qa_entry("s", qa_id, SessionQAUpdate(feedback_score=score))
    assert trail.qa.get_all_qa_entries("s")[0].feedback_score == score


def test_unknown_entries_are_false_and_write_nothing(trail: SessionTrail):
    ask(trail, 1)
    before = len(trail.qa.history("s"))
    assert not trail.qa.update_qa_entry("s", "nope", SessionQAUpdate(answer="x"))
    assert not trail.qa.delete_qa_entry("s", "nope")
    assert not trail.qa.update_qa_entry("other", "nope", SessionQAUpdate(answer="x"))
    assert len(trail.qa.history("s")) == before
    with pytest.raises(SessionNotFound):
        trail.qa.history("other")  # nothing was written there either


def test_delete_entry_removes_only_that_entry(trail: SessionTrail):
    ids = ask(trail, 3)
    assert trail.qa.delete_qa_entry("s", ids[1])
    assert questions(trail.qa.get_all_qa_entries("s")) == ["q0", "q2"]
    assert not trail.qa.delete_qa_entry("s", ids[1])


def test_delete_session_empties_it_and_says_whether_it_existed(trail: SessionTrail):
    assert not trail.qa.delete_session("s")
    ask(trail, 2)
    trail.qa.set_graph_context("s", "graph")
    trail.qa.append_agent_trace_step(None, "s", SessionTraceStep(trace_id="t"))
    assert trail.qa.delete_session("s")
    assert trail.qa.get_all_qa_entries("s") == []
    assert trail.qa.get_graph_context("s") is None
    assert trail.qa.get_agent_trace_steps(None, "s") == []
    assert not trail.qa.delete_session("s")
    trail.qa.set_graph_context("only-context", "g")
    assert trail.qa.delete_session("only-context")


def test_graph_context_is_set_overwritten_and_read(trail: SessionTrail):
    assert trail.qa.get_graph_context("s") is None
    trail.qa.set_graph_context("s", "first")
    trail.qa.set_graph_context("s", "second")
    assert trail.qa.get_graph_context("s") == "second"


@pytest.mark.parametrize("context", ["a\x00b", "", "line\nbreak \u00e9 \U0001f600"])
def test_graph_context_round_trips_any_text_on_every_backend(
    trail: SessionTrail, context: str
):
    trail.qa.set_graph_context("s", context)
    assert trail.qa.get_graph_context("s") == context


def test_trace_steps_are_oldest_first_with_last_n(trail: SessionTrail):
    for number in range(4):
        step = SessionTraceStep(
            trace_id=f"t{number}",
            origin_function="search",
            status="ok" if number else "error",
            memory_query="q",
            memory_context="c",
            method_params={"k": number},
            method_return_value=[number],
            error_message="" if number else "boom",
            session_feedback="",
        )
        assert trail.qa.append_agent_trace_step("u", "s", step) == f"t{number}"
    steps = trail.qa.get_agent_trace_steps("u", "s")
    assert [s.trace_id for s in steps] == ["t0", "t1", "t2", "t3"]
    assert steps[0].error_message == "boom" and steps[3].method_params == {"k": 3}
    tail = trail.qa.get_agent_trace_steps("u", "s", last_n=2)
    assert [s.trace_id for s in tail] == ["t2", "t3"]
    assert trail.qa.get_agent_trace_steps("u", "s", last_n=0) == []
    with pytest.raises(InvalidInput, match="trace_id"):
        trail.qa.append_agent_trace_step("u", "s", SessionTraceStep(trace_id=""))


def test_prune_empties_everything_and_the_store_keeps_working(trail: SessionTrail):
    ask(trail, 2, user_id="alice")
    ask(trail, 1, session_id="t", user_id="bob")
    trail.qa.set_graph_context("s", "g")
    trail.qa.prune()
    for user, session in (("alice", "s"), ("bob", "t"), (None, "s")):
        assert trail.qa.get_all_qa_entries(session, user_id=user) == []
    assert trail.qa.get_graph_context("s") is None
    ask(trail, 1, user_id="alice")
    assert questions(trail.qa.get_all_qa_entries("s", user_id="alice")) == ["q0"]
    trail.qa.prune()
    trail.qa.prune()  # nothing left: writes nothing


def test_prune_covers_streams_a_lagging_worker_has_not_reached(url: str):
    """Worker mode: the read model knows one stream; two more are only in the log
    when prune runs. Once the worker applies what prune wrote, all are empty."""
    with sessiontrail.connect(url, projections="worker") as trail:
        ask(trail, 1, user_id="alice")
        trail.projections.catch_up()  # the worker reaches alice's stream
        ask(trail, 2, session_id="t", user_id="bob")
        trail.qa.set_graph_context("g", "graph", user_id="carol")
        trail.qa.prune()
        trail.projections.catch_up()
        for user, session in (("alice", "s"), ("bob", "t"), ("carol", "g")):
            assert trail.qa.get_all_qa_entries(session, user_id=user) == []
            assert trail.qa.get_graph_context(session, user_id=user) is None
            assert trail.qa.history(session, user_id=user)[-1].event == (
                "QASessionCleared"
            )


def test_a_session_export_holds_qa_a_lagging_worker_has_not_reached(url: str):
    with sessiontrail.connect(url, projections="worker") as trail:
        trail.sessions.save(trail.sessions.load_or_create("s", user_id="alice"))
        ask(trail, 1, user_id="alice")
        exported = list(trail.exporter.events(["s"]))
    assert [(e.stream, e.event) for e in exported][-2:] == [
        ("qa", "QASession.QASessionStarted"),
        ("qa", "QASession.QAEntryAdded"),
    ]


def test_users_and_sessions_are_isolated(trail: SessionTrail):
    ask(trail, 2, session_id="s", user_id="alice")
    trail.qa.create_qa_entry("s", "bob's", "x", user_id="bob")
    trail.qa.create_qa_entry("t", "other session", "x", user_id="alice")
    trail.qa.set_graph_context("s", "alice graph", user_id="alice")
    trail.qa.append_agent_trace_step("alice", "s", SessionTraceStep(trace_id="a"))

    assert questions(trail.qa.get_all_qa_entries("s", user_id="alice")) == ["q0", "q1"]
    assert questions(trail.qa.get_all_qa_entries("s", user_id="bob")) == ["bob's"]
    assert questions(trail.qa.get_all_qa_entries("t", user_id="alice")) == [
        "other session"
    ]
    assert trail.qa.get_all_qa_entries("s") == []  # the "default" user
    assert trail.qa.get_graph_context("s", user_id="bob") is None
    assert trail.qa.get_agent_trace_steps("bob", "s") == []
    alice_first = trail.qa.get_all_qa_entries("s", user_id="alice")[0].id
    assert not trail.qa.delete_qa_entry("s", alice_first, user_id="bob")
    assert trail.qa.delete_session("s", user_id="bob")
    assert len(trail.qa.get_all_qa_entries("s", user_id="alice")) == 2


def test_none_means_the_default_user(trail: SessionTrail):
    ask(trail, 1)
    assert len(trail.qa.get_all_qa_entries("s", user_id="default")) == 1


def test_qa_lives_beside_the_chat_session_not_in_it(trail: SessionTrail):
    chat = trail.sessions.load_or_create("s", user_id="alice")
    chat.append_message(role="user", content="hi")
    trail.sessions.save(chat)
    ask(trail, 1, user_id="alice")
    assert trail.qa.delete_session("s", user_id="alice")
    assert trail.sessions.load("s") is not None
    assert [h.event for h in trail.sessions.history("s")] == [
        "Started",
        "MessageAppended",
    ]


def test_history_shows_each_mutation_with_actor_and_time(trail: SessionTrail):
    (qa_id,) = ask(trail, 1)
    trail.qa.update_qa_entry(
        "s", qa_id, SessionQAUpdate(feedback_score=3), actor="alice"
    )
    trail.qa.set_graph_context("s", "g")
    trail.qa.delete_qa_entry("s", qa_id, actor="alice")
    trail.qa.delete_session("s", actor="ops")
    history = trail.qa.history("s")
    assert [(h.event, h.actor) for h in history] == [
        ("QASessionStarted", "system"),
        ("QAEntryAdded", "runtime"),
        ("QAEntryUpdated", "alice"),
        ("GraphContextSet", "runtime"),
        ("QAEntryDeleted", "alice"),
        ("QASessionCleared", "ops"),
    ]
    times = [h.timestamp for h in history]
    assert times == sorted(times)
    audit = trail.audit.entries(session_id="s").items
    assert [a.event for a in audit] == [h.event for h in history]
    assert {a.user_id for a in audit} == {"default"}


def test_a_rebuild_of_the_qa_read_model_equals_the_live_one(trail: SessionTrail):
    ids = ask(trail, 3, user_id="alice")
    trail.qa.update_qa_entry(
        "s", ids[0], SessionQAUpdate(feedback_score=5), user_id="alice"
    )
    trail.qa.delete_qa_entry("s", ids[1], user_id="alice")
    trail.qa.set_graph_context("s", "g", user_id="bob")
    trail.qa.append_agent_trace_step("bob", "s", SessionTraceStep(trace_id="t"))
    ask(trail, 1, session_id="gone")
    trail.qa.delete_session("gone")
    live = trail.projections.rows("qa")
    trail.projections.rebuild("qa")
    assert trail.projections.rows("qa") == live
    assert len(live["qa_entries"]) == 2


def test_long_qa_streams_load_from_snapshots(
    trail: SessionTrail, other_trail: SessionTrail
):
    for number in range(230):
        trail.qa.append_agent_trace_step(
            "u", "s", SessionTraceStep(trace_id=f"t{number}")
        )
    trail.qa.create_qa_entry("s", "q", "a", user_id="u")
    stream = qa_stream_id("u", "s")
    snapshots = list(trail.store.snapshots.get(stream))
    assert [s.originator_version for s in snapshots][-1] == 200  # the one kept
    loaded = other_trail.store.load_qa(stream)
    assert loaded.version == 232
    assert loaded.trace_steps == [
        SessionTraceStep(trace_id=f"t{n}") for n in range(230)
    ]
    assert [e.question for e in loaded.entries.values()] == ["q"]
    assert other_trail.qa.delete_session("s", user_id="u")
