"""LangGraph thread ids (and checkpoint namespaces) that differ only in Unicode
normalisation are two threads, as in LangGraph's own savers: side by side with
SqliteSaver on every backend. The thread -> session id rule is injective and
its own inverse's input (hypothesis); a thread stored under its old id goes on
there; ASCII and NFC threads cost no look-up."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from support.langgraph import chat_graph, checkpoint, config, reference_saver
from support.spelt import started_as_spelt

from sessiontrail import InvalidInput, SessionTrail
from sessiontrail.domain.session import stream_id
from sessiontrail.domain.thread_ids import (
    legacy_session_id,
    thread_of,
    thread_session_id,
)
from sessiontrail.domain.threads import Serialized
from sessiontrail.integrations.langgraph import TrailSaver
from sessiontrail.projections.langgraph_reads import Search

T = TypeVar("T")
NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")
NS_NFC, NS_NFD = f"{NFC}:1", f"{NFD}:1"
ANN = {"user_id": "ann"}


@pytest.fixture
def savers(
    trail: SessionTrail, tmp_path: Path
) -> Iterator[list[BaseCheckpointSaver[Any]]]:
    """LangGraph's SqliteSaver, then a TrailSaver on the backend under test."""
    with reference_saver("SqliteSaver", tmp_path, None) as reference:
        yield [reference, TrailSaver(trail)]


def same_on_both(
    savers: list[BaseCheckpointSaver[Any]],
    scenario: Callable[[BaseCheckpointSaver[Any]], T],
) -> T:
    """What `scenario` gives on SqliteSaver, asserted equal on TrailSaver."""
    reference, ours = (scenario(saver) for saver in savers)
    assert ours == reference
    return ours


def values(saver: BaseCheckpointSaver[Any], thread_id: str, ns: str = "") -> Any:
    found = saver.get_tuple(config(thread_id, ns))
    return None if found is None else found.checkpoint["channel_values"]


# -- side by side with SqliteSaver --------------------------------------------------


def test_nfc_and_nfd_thread_ids_keep_their_own_checkpoints(
    savers: list[BaseCheckpointSaver[Any]],
) -> None:
    def scenario(saver: BaseCheckpointSaver[Any]) -> Any:
        for thread_id, number in ((NFC, 1), (NFD, 2)):
            saved = checkpoint({"x": [number]})
            saver.put(config(thread_id, **ANN), saved, {"step": number}, {"x": 1})
        return [
            (values(saver, thread_id), len(list(saver.list(config(thread_id)))))
            for thread_id in (NFC, NFD)
        ]

    assert same_on_both(savers, scenario) == [({"x": [1]}, 1), ({"x": [2]}, 1)]


def test_listing_every_thread_names_each_as_it_was_written(
    savers: list[BaseCheckpointSaver[Any]],
) -> None:
    def scenario(saver: BaseCheckpointSaver[Any]) -> Any:
        for thread_id in (NFC, NFD):
            saver.put(config(thread_id, **ANN), checkpoint({"x": thread_id}), {}, {})
        return sorted(
            (
                found.config["configurable"]["thread_id"],
                found.checkpoint["channel_values"],
            )
            for found in saver.list(None)
        )

    assert same_on_both(savers, scenario) == sorted(
        [(NFC, {"x": NFC}), (NFD, {"x": NFD})]
    )


def test_pending_writes_stay_on_their_threads_checkpoint(
    savers: list[BaseCheckpointSaver[Any]],
) -> None:
    """Both threads hold a checkpoint of one id; a write on one is not the other's."""

    def scenario(saver: BaseCheckpointSaver[Any]) -> Any:
        shared = checkpoint({"x": [0]})
        saved = {
            thread_id: saver.put(config(thread_id, **ANN), shared, {}, {"x": 1})
            for thread_id in (NFC, NFD)
        }
        saver.put_writes(saved[NFD], [("x", "only nfd")], "task-1")
        return {
            thread_id: saver.get_tuple(config(thread_id)).pending_writes  # type: ignore[union-attr]
            for thread_id in (NFC, NFD)
        }

    assert same_on_both(savers, scenario) == {
        NFC: [],
        NFD: [("task-1", "x", "only nfd")],
    }


def test_deleting_one_thread_leaves_the_other(
    savers: list[BaseCheckpointSaver[Any]],
) -> None:
    def scenario(saver: BaseCheckpointSaver[Any]) -> Any:
        for thread_id in (NFC, NFD):
            saver.put(config(thread_id, **ANN), checkpoint({"x": thread_id}), {}, {})
        saver.delete_thread(NFD)
        return [values(saver, thread_id) for thread_id in (NFC, NFD)]

    assert same_on_both(savers, scenario) == [{"x": NFC}, None]


def test_namespaces_differing_only_in_normalisation_are_two(
    savers: list[BaseCheckpointSaver[Any]],
) -> None:
    def scenario(saver: BaseCheckpointSaver[Any]) -> Any:
        for ns in (NS_NFC, NS_NFD):
            saver.put(config("t", ns, **ANN), checkpoint({"x": ns}), {}, {})
        every = list(saver.list({"configurable": {"thread_id": "t"}}))
        return [values(saver, "t", ns) for ns in (NS_NFC, NS_NFD)], sorted(
            (
                found.config["configurable"]["checkpoint_ns"],
                found.checkpoint["channel_values"],
            )
            for found in every
        )

    found, listed = same_on_both(savers, scenario)
    assert found == [{"x": NS_NFC}, {"x": NS_NFD}]
    assert listed == sorted([(NS_NFC, {"x": NS_NFC}), (NS_NFD, {"x": NS_NFD})])


def test_a_graph_runs_on_each_thread_with_its_own_state(
    savers: list[BaseCheckpointSaver[Any]],
) -> None:
    def scenario(saver: BaseCheckpointSaver[Any]) -> Any:
        graph = chat_graph(saver)
        runs = {thread_id: config(thread_id, **ANN) for thread_id in (NFC, NFD)}
        graph.invoke({"messages": [HumanMessage("hi", id="h1")]}, runs[NFC])
        for text in ("hi", "again"):
            graph.invoke({"messages": [HumanMessage(text, id=f"h-{text}")]}, runs[NFD])
        return {
            thread_id: [m.content for m in graph.get_state(run).values["messages"]]
            for thread_id, run in runs.items()
        }

    assert same_on_both(savers, scenario) == {
        NFC: ["hi", "answer 1"],
        NFD: ["hi", "answer 1", "again", "answer 3"],
    }


# -- the rule -------------------------------------------------------------------------

MARKS = ["\u0301", "\u0307", "\u0344"]  # combining: acute, dot above, dialytika
LETTERS = ["\u00e9", "\u1e1e", "\u65e5", "\U0001f600", "\u212b"]  # é Ḟ 日 😀 Å
TRICKY = st.text(st.sampled_from([*"aeCF25%/:|", *MARKS, *LETTERS]), max_size=10)
"""Text of the characters the rule turns on: escapes and what they are made of,
combining marks (one composes with the F of "%2F"), letters that NFC changes."""
TEXT = TRICKY | st.text(max_size=10)
FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def look_alike(session_id: str) -> tuple[str, str]:
    """The pair whose id, were it spelt plain, would read as `session_id`."""
    head, _, tail = session_id.removeprefix("langgraph/").partition("/")
    return head.replace("%2F", "/").replace("%25", "%"), tail


@given(TEXT.filter(bool), TEXT)
def test_a_threads_session_id_is_nfc_and_names_it_again(thread: str, ns: str) -> None:
    session_id = thread_session_id(thread, ns)
    assert unicodedata.is_normalized("NFC", session_id)  # the store keeps it so
    assert thread_of(session_id) == (thread, ns)
    legacy = legacy_session_id(thread, ns)
    if legacy is not None:
        assert not unicodedata.is_normalized("NFC", legacy)
        assert thread_of(legacy) == (thread, ns)


@given(TEXT.filter(bool), TEXT)
def test_no_two_threads_share_a_session_as_the_store_keeps_it(
    thread: str, ns: str
) -> None:
    """Every spelling of the pair, and the pair that reads like its id, is a
    thread of its own: their ids differ once the store has made them NFC."""
    pairs = {(thread, ns), look_alike(thread_session_id(thread, ns))} | {
        (unicodedata.normalize(f, thread), unicodedata.normalize(g, ns))
        for f in FORMS
        for g in FORMS
    }
    pairs = {pair for pair in pairs if pair[0]}
    stored = {unicodedata.normalize("NFC", thread_session_id(*p)) for p in pairs}
    assert len(stored) == len(pairs)


@given(st.text(max_size=10).filter(bool), st.text(max_size=10))
def test_a_thread_whose_plain_id_is_nfc_keeps_it(thread: str, ns: str) -> None:
    escaped = thread.replace("%", "%25").replace("/", "%2F")
    plain = f"langgraph/{escaped}" + (f"/{ns}" if ns else "")
    if unicodedata.is_normalized("NFC", plain):
        assert thread_session_id(thread, ns) == plain
        assert legacy_session_id(thread, ns) is None


def test_ids_that_name_no_thread_are_not_threads() -> None:
    for session_id in [
        "chat-42",
        "langgraph/",
        "langgraph/x%",  # an escaped id's "%" with no namespace after it
        "langgraph/x%/",
        "langgraph/caf%C3%A9",  # NFC, so its id is plain: langgraph/café
        "langgraph/%FF",  # not UTF-8
        "langgraph/t/",
    ]:
        assert thread_of(session_id) is None, session_id


def test_a_thread_id_too_long_once_escaped_is_refused_naming_the_field(
    trail: SessionTrail,
) -> None:
    """120 characters (NFD), 420 once escaped: LangGraph's savers take it, but no
    session can be named so; refused with nothing written."""
    saver = TrailSaver(trail)
    long_thread = "e\u0301" * 60
    for thread_id, ns, field in (
        (long_thread, "", "thread_id"),
        ("t", long_thread, "checkpoint_ns"),
    ):
        with pytest.raises(
            InvalidInput,
            match=rf"^config\.configurable\.{field}: cannot name a session .*"
            r"at most 256 characters.*not in Unicode NFC is written with %XX",
        ):
            saver.put(config(thread_id, ns, **ANN), checkpoint(), {}, {})
    assert trail.sessions.list().items == []


# -- threads stored before: under their plain id -----------------------------------


def stored_before(trail: SessionTrail, thread_id: str, text: str) -> str:
    """A thread's session as stored before its id was escaped: under its plain
    id exactly as spelt (the door would make a new one NFC, so its stream is
    built by hand), with one checkpoint. Its session id."""
    session_id = legacy_session_id(thread_id)
    assert session_id is not None
    session = started_as_spelt(session_id, user_id="ann", title=thread_id)
    saved = checkpoint({"x": text})
    session.record_checkpoint(
        saved["id"],
        parent_checkpoint_id=None,
        checkpoint=Serialized.pack(TrailSaver(trail).serde.dumps_typed(saved)),
        channel_versions={},
        values=[],
        metadata={},
        app_metadata={},
        actor="runtime",
    )
    trail.sessions.save(session)
    return session_id


def test_a_thread_stored_under_its_plain_id_goes_on_there(
    trail: SessionTrail,
) -> None:
    legacy = stored_before(trail, NFD, "before")
    saver = TrailSaver(trail)
    assert values(saver, NFD) == {"x": "before"}
    assert values(saver, NFC) is None  # the NFC thread is another one
    saver.put(config(NFD, **ANN), checkpoint({"x": "after"}), {}, {})
    saver.put(config(NFC, **ANN), checkpoint({"x": "nfc"}), {}, {})
    assert values(saver, NFD) == {"x": "after"}
    assert len(list(saver.list(config(NFD)))) == 2
    assert values(saver, NFC) == {"x": "nfc"}
    assert trail.store.stream_version(stream_id(legacy)) == 3
    assert trail.store.stream_version(stream_id(thread_session_id(NFD))) == 0
    trail.projections.rebuild("langgraph")  # the read model knows it from the log
    assert values(saver, NFD) == {"x": "after"}
    listed = trail.langgraph.search(Search(thread_id=NFD))
    assert [found.thread_id for found in listed] == [NFD, NFD]


def test_a_thread_stored_under_its_plain_id_copies_and_deletes_as_any(
    trail: SessionTrail,
) -> None:
    legacy = stored_before(trail, NFD, "before")
    saver = TrailSaver(trail)
    saver.copy_thread(NFD, "copy")
    assert values(saver, "copy") == {"x": "before"}
    saver.delete_thread(NFD)
    assert values(saver, NFD) is None
    saver.put(config(NFD, **ANN), checkpoint({"x": "again"}), {}, {})
    assert values(saver, NFD) == {"x": "again"}
    assert len(list(saver.list(config(NFD)))) == 1  # started afresh
    reopened = trail.sessions.load(legacy)
    assert reopened is not None and reopened.session_id == legacy


# -- the cost -------------------------------------------------------------------------


def test_ascii_and_nfc_threads_cost_no_look_up(
    trail: SessionTrail, look_ups: list[UUID]
) -> None:
    graph = chat_graph(TrailSaver(trail))
    for thread_id in ("t-1", NFC):
        run = config(thread_id, **ANN)
        graph.invoke({"messages": [HumanMessage("hi", id="h1")]}, run)
        graph.get_state(run)
        assert list(graph.get_state_history(run))
    assert look_ups == []


def test_a_thread_not_in_nfc_looks_for_its_id_then_its_plain_one(
    trail: SessionTrail, look_ups: list[UUID]
) -> None:
    saver = TrailSaver(trail)
    escaped, plain = thread_session_id(NFD), legacy_session_id(NFD)
    assert plain is not None
    saver.put(config(NFD, **ANN), checkpoint({"x": 1}), {}, {})
    assert set(look_ups) == {stream_id(escaped), stream_id(plain)}  # a new thread
    look_ups.clear()
    values(saver, NFD)
    assert look_ups == [stream_id(escaped)]  # found under its id: one
