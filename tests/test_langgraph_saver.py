"""TrailSaver called as LangGraph calls a checkpointer, side by side with
LangGraph's own SqliteSaver and PostgresSaver: each test runs the same calls on
TrailSaver (memory, SQLite, PostgreSQL logs) and on the reference savers, so an
expectation is LangGraph's behaviour, not ours. Where the two reference savers
differ, TrailSaver follows PostgresSaver, and those tests run on it alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT
from support.langgraph import checkpoint, config, saver_named
from support.postgres import PostgresServer

TRAILS = ["trail-memory", "trail-sqlite", "trail-postgres"]

Saver = BaseCheckpointSaver[Any]


def _open(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Saver]:
    name = str(request.param)
    server: PostgresServer | None = (
        request.getfixturevalue("postgres_server") if "ostgres" in name else None
    )
    with saver_named(name, tmp_path, server) as opened:
        yield opened


@pytest.fixture(params=[*TRAILS, "SqliteSaver", "PostgresSaver"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Saver]:
    """TrailSaver on each backend, and LangGraph's two SQL savers."""
    yield from _open(request, tmp_path)


@pytest.fixture(params=[*TRAILS, "PostgresSaver"])
def pg_like(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Saver]:
    """TrailSaver on each backend, and PostgresSaver, whose choices it follows."""
    yield from _open(request, tmp_path)


def put_chain(saver: Saver, thread: str, count: int, ns: str = "") -> list[str]:
    """`count` checkpoints of a thread, each the child of the one before."""
    ids: list[str] = []
    for step in range(count):
        saved = checkpoint()
        parent = ids[-1] if ids else None
        saver.put(
            config(thread, ns, parent), saved, {"source": "loop", "step": step}, {}
        )
        ids.append(saved["id"])
    return ids


def ids(found: Any) -> list[str]:
    return [item.checkpoint["id"] for item in found]


# -- get_tuple and put ---------------------------------------------------------------


def test_an_unknown_thread_has_no_checkpoint(saver: Saver) -> None:
    assert saver.get_tuple(config("nobody")) is None
    assert list(saver.list(config("nobody"))) == []


def test_an_unknown_checkpoint_id_reads_as_none(saver: Saver) -> None:
    put_chain(saver, "t", 1)
    assert saver.get_tuple(config("t", checkpoint_id="no-such-id")) is None


def test_put_returns_the_new_checkpoints_config(saver: Saver) -> None:
    saved = checkpoint()
    returned = saver.put(config("t", user_id="ann"), saved, {"step": -1}, {})
    assert returned == config("t", checkpoint_id=saved["id"])


def test_put_returns_the_thread_id_as_it_was_given(saver: Saver) -> None:
    """A number (or UUID) thread id comes back as the same object, as both SQL
    savers return the config's own value."""
    saved = checkpoint()
    thread = {"thread_id": 42, "checkpoint_ns": "", "user_id": "ann"}
    returned = saver.put({"configurable": thread}, saved, {}, {})
    assert returned["configurable"]["thread_id"] == 42
    assert saver.get_tuple(config("42", checkpoint_id=saved["id"])) is not None


def test_values_metadata_and_versions_round_trip(saver: Saver) -> None:
    values = {
        "text": "hello",
        "number": 42,
        "nothing": None,
        "raw": b"\x00\xff",
        "nested": {"a": [1, 2.5, {"b": True}]},
        "messages": [HumanMessage("hi", id="h1"), AIMessage("hello", id="a1")],
    }
    saved = checkpoint(values, versions=dict.fromkeys(values, "0001.5"))
    saved["versions_seen"] = {"node": {"text": "0001.5"}}
    metadata = {"source": "loop", "step": 3, "parents": {"": "p"}, "score": 0.5}
    stored = saver.put(config("t"), saved, metadata, dict.fromkeys(values, "0001.5"))
    found = saver.get_tuple(stored)
    assert found is not None
    assert found.checkpoint == saved
    assert found.metadata == metadata


def test_latest_is_the_largest_id_not_the_last_saved(saver: Saver) -> None:
    older, newer = checkpoint(), checkpoint()
    saver.put(config("t"), newer, {"step": 1}, {})
    saver.put(config("t"), older, {"step": 0}, {})
    found = saver.get_tuple(config("t"))
    assert found is not None and found.checkpoint["id"] == newer["id"]


def test_parent_config_links_to_the_checkpoint_before(saver: Saver) -> None:
    first, _ = put_chain(saver, "t", 2)
    root = saver.get_tuple(config("t", checkpoint_id=first))
    child = saver.get_tuple(config("t"))
    assert root is not None and root.parent_config is None
    assert child is not None and child.parent_config == config("t", "", first)


def test_run_config_keys_join_the_metadata(saver: Saver) -> None:
    run = config("t", user="u1", __hidden="x", opaque=object())
    run["metadata"] = {"run_id": "r1", "weight": 1.5}
    saver.put(run, checkpoint(), {"source": "input", "step": -1}, {})
    found = saver.get_tuple(config("t"))
    assert found is not None
    assert found.metadata == {
        "source": "input",
        "step": -1,
        "run_id": "r1",
        "weight": 1.5,
        "user": "u1",
    }


def test_resaving_a_checkpoint_replaces_its_metadata(saver: Saver) -> None:
    saved = checkpoint()
    saver.put(config("t"), saved, {"step": 1}, {})
    saver.put(config("t"), saved, {"step": 99}, {})
    found = list(saver.list(config("t")))
    assert [item.metadata["step"] for item in found] == [99]


def test_each_namespace_keeps_its_own_latest(saver: Saver) -> None:
    [root] = put_chain(saver, "t", 1)
    [inner] = put_chain(saver, "t", 1, ns="sub:1")
    found_root = saver.get_tuple(config("t"))
    found_inner = saver.get_tuple(config("t", "sub:1"))
    assert found_root is not None and found_root.checkpoint["id"] == root
    assert found_inner is not None and found_inner.checkpoint["id"] == inner
    assert found_inner.config["configurable"]["checkpoint_ns"] == "sub:1"


# -- list ---------------------------------------------------------------------------


def test_list_gives_a_threads_checkpoints_newest_first(saver: Saver) -> None:
    chain = put_chain(saver, "t", 4)
    put_chain(saver, "other", 2)
    assert ids(saver.list(config("t"))) == chain[::-1]


def test_list_without_a_namespace_spans_every_namespace(saver: Saver) -> None:
    put_chain(saver, "t", 1)
    put_chain(saver, "t", 1, ns="inner")
    every = saver.list({"configurable": {"thread_id": "t"}})
    only_root = saver.list(config("t"))
    assert {item.config["configurable"]["checkpoint_ns"] for item in every} == {
        "",
        "inner",
    }
    assert [item.config["configurable"]["checkpoint_ns"] for item in only_root] == [""]


def test_list_of_every_thread_is_newest_first(saver: Saver) -> None:
    first = put_chain(saver, "a", 1)
    second = put_chain(saver, "b", 1)
    third = put_chain(saver, "a", 1, ns="inner")
    assert ids(saver.list(None)) == [*third, *second, *first]


def test_list_before_and_limit(saver: Saver) -> None:
    chain = put_chain(saver, "t", 5)
    before = config("t", checkpoint_id=chain[3])
    assert ids(saver.list(config("t"), before=before)) == chain[2::-1]
    assert ids(saver.list(config("t"), before=before, limit=2)) == chain[2:0:-1]
    assert ids(saver.list(config("t"), limit=1)) == [chain[-1]]
    assert ids(saver.list(None, before=config("x", checkpoint_id=chain[1]))) == [
        chain[0]
    ]


def test_list_before_a_config_naming_no_checkpoint_gives_none(saver: Saver) -> None:
    """`before` compares checkpoint ids: one naming none is before nothing."""
    put_chain(saver, "t", 3)
    assert ids(saver.list(config("t"), before={"configurable": {}})) == []
    assert ids(saver.list(None, before=config("t"))) == []


def test_list_of_a_checkpoint_id_gives_that_one(saver: Saver) -> None:
    chain = put_chain(saver, "t", 3)
    assert ids(saver.list(config("t", checkpoint_id=chain[1]))) == [chain[1]]


def test_list_filters_on_metadata_values(saver: Saver) -> None:
    saver.put(config("t"), checkpoint(), {"source": "input", "step": -1}, {})
    saver.put(config("t"), checkpoint(), {"source": "loop", "step": 0}, {})
    saver.put(config("u"), checkpoint(), {"source": "loop", "step": 1, "k": "v"}, {})

    def steps(**wanted: Any) -> list[int]:
        found = saver.list(None, filter=wanted)
        return sorted(item.metadata["step"] for item in found)

    assert steps(source="loop") == [0, 1]
    assert steps(source="loop", step=1) == [1]
    assert steps(k="v") == [1]
    assert steps(source="update") == []
    assert steps() == [-1, 0, 1]


def test_list_includes_pending_writes(saver: Saver) -> None:
    [only] = put_chain(saver, "t", 1)
    saver.put_writes(config("t", checkpoint_id=only), [("a", 1)], "task")
    [found] = saver.list(config("t"))
    assert found.pending_writes == [("task", "a", 1)]


# -- put_writes ---------------------------------------------------------------------


def test_pending_writes_come_back_in_task_path_order(saver: Saver) -> None:
    [only] = put_chain(saver, "t", 1)
    target = config("t", checkpoint_id=only)
    saver.put_writes(target, [("x", 1), ("y", 2)], "task-b", "~b")
    saver.put_writes(target, [("x", 3)], "task-a", "~c")
    saver.put_writes(target, [("x", 4), (ERROR, "boom")], "task-z", "~a")
    found = saver.get_tuple(config("t"))
    assert found is not None
    assert found.pending_writes == [
        ("task-z", ERROR, "boom"),
        ("task-z", "x", 4),
        ("task-b", "x", 1),
        ("task-b", "y", 2),
        ("task-a", "x", 3),
    ]


def test_the_same_writes_twice_are_stored_once(saver: Saver) -> None:
    [only] = put_chain(saver, "t", 1)
    target = config("t", checkpoint_id=only)
    for _ in range(2):
        saver.put_writes(target, [("a", 1), (INTERRUPT, "ask")], "task")
    found = saver.get_tuple(target)
    assert found is not None
    assert found.pending_writes == [("task", INTERRUPT, "ask"), ("task", "a", 1)]


def test_a_later_batch_leaves_filled_slots_alone(saver: Saver) -> None:
    [only] = put_chain(saver, "t", 1)
    target = config("t", checkpoint_id=only)
    saver.put_writes(target, [("a", 1), ("b", 2)], "task")
    saver.put_writes(target, [("a", 10), ("b", 20), ("c", 30)], "task")
    found = saver.get_tuple(target)
    assert found is not None
    assert found.pending_writes == [
        ("task", "a", 1),
        ("task", "b", 2),
        ("task", "c", 30),
    ]


def test_a_batch_of_special_channels_replaces_their_slots(saver: Saver) -> None:
    [only] = put_chain(saver, "t", 1)
    target = config("t", checkpoint_id=only)
    saver.put_writes(target, [(ERROR, "first")], "task")
    saver.put_writes(target, [(ERROR, "second")], "task")
    found = saver.get_tuple(target)
    assert found is not None and found.pending_writes == [("task", ERROR, "second")]


def test_a_special_channel_in_a_mixed_batch_keeps_the_first(saver: Saver) -> None:
    [only] = put_chain(saver, "t", 1)
    target = config("t", checkpoint_id=only)
    saver.put_writes(target, [(INTERRUPT, "i1"), ("d", 4)], "task")
    saver.put_writes(target, [(INTERRUPT, "i2"), ("d", 5)], "task")
    found = saver.get_tuple(target)
    assert found is not None
    assert found.pending_writes == [("task", INTERRUPT, "i1"), ("task", "d", 4)]


def test_writes_may_come_before_their_checkpoint(saver: Saver) -> None:
    [parent] = put_chain(saver, "t", 1)
    child = checkpoint()
    saver.put_writes(config("t", checkpoint_id=child["id"]), [("a", 1)], "task")
    saver.put(config("t", checkpoint_id=parent), child, {"step": 1}, {})
    found = saver.get_tuple(config("t"))
    assert found is not None and found.pending_writes == [("task", "a", 1)]
    earlier = saver.get_tuple(config("t", checkpoint_id=parent))
    assert earlier is not None and earlier.pending_writes == []


# -- delete_thread and versions -----------------------------------------------------


def test_delete_thread_removes_every_namespace_of_that_thread_only(
    saver: Saver,
) -> None:
    [root] = put_chain(saver, "t", 1)
    put_chain(saver, "t", 1, ns="inner")
    saver.put_writes(config("t", checkpoint_id=root), [("a", 1)], "task")
    kept = put_chain(saver, "other", 1)
    saver.delete_thread("t")
    assert saver.get_tuple(config("t")) is None
    assert saver.get_tuple(config("t", "inner")) is None
    assert ids(saver.list(None)) == kept
    saver.delete_thread("never-was")


def test_next_version_counts_up_and_sorts_as_text(saver: Saver) -> None:
    first = saver.get_next_version(None, None)
    tenth = first
    for _ in range(9):
        tenth = saver.get_next_version(tenth, None)
    assert int(str(first).split(".")[0]) == 1
    assert int(str(tenth).split(".")[0]) == 10
    assert str(tenth) > str(first)


# -- where PostgresSaver and SqliteSaver differ: as PostgresSaver ------------------


def test_resaving_a_checkpoint_keeps_its_first_parent(pg_like: Saver) -> None:
    first, second = put_chain(pg_like, "t", 2)
    again = pg_like.get_tuple(config("t", checkpoint_id=second))
    assert again is not None
    pg_like.put(config("t"), again.checkpoint, {"step": 5}, {})
    found = pg_like.get_tuple(config("t", checkpoint_id=second))
    assert found is not None and found.parent_config == config("t", "", first)


def test_the_writes_metadata_key_is_not_kept(pg_like: Saver) -> None:
    pg_like.put(config("t"), checkpoint(), {"step": 0, "writes": {"n": 1}}, {})
    found = pg_like.get_tuple(config("t"))
    assert found is not None and found.metadata == {"step": 0}


def test_a_none_filter_matches_only_an_explicit_null(pg_like: Saver) -> None:
    pg_like.put(config("t"), checkpoint(), {"step": 0, "score": None}, {})
    pg_like.put(config("t"), checkpoint(), {"step": 1}, {})
    found = pg_like.list(None, filter={"score": None})
    assert [item.metadata["step"] for item in found] == [0]


def test_filters_match_nested_objects_and_lists_by_containment(
    pg_like: Saver,
) -> None:
    metadata = {"step": 0, "nested": {"a": 1, "b": 2}, "tags": ["x", "y"]}
    pg_like.put(config("t"), checkpoint(), metadata, {})
    assert len(list(pg_like.list(None, filter={"nested": {"a": 1}}))) == 1
    assert len(list(pg_like.list(None, filter={"tags": ["y"]}))) == 1
    assert list(pg_like.list(None, filter={"tags": ["z"]})) == []
    assert list(pg_like.list(None, filter={"nested.a": 1})) == []


def test_a_true_filter_does_not_match_one(pg_like: Saver) -> None:
    pg_like.put(config("t"), checkpoint(), {"step": 1}, {})
    assert list(pg_like.list(None, filter={"step": True})) == []


def test_values_are_stored_with_the_versions_that_changed(pg_like: Saver) -> None:
    first = checkpoint({"short": "inline", "long": ["kept"]})
    saved = pg_like.put(config("t"), first, {"step": 0}, {"short": 1, "long": 1})
    second = checkpoint({"short": "again", "long": ["not stored"]})
    second["channel_versions"] = {"short": 2, "long": 1}
    pg_like.put(saved, second, {"step": 1}, {"short": 2})
    third = checkpoint({"long": ["never stored"]}, versions={"long": 2})
    pg_like.put(config("u"), third, {"step": 0}, {})
    found = pg_like.get_tuple(config("t"))
    assert found is not None
    assert found.checkpoint["channel_values"] == {"short": "again", "long": ["kept"]}
    lost = pg_like.get_tuple(config("u"))
    assert lost is not None and lost.checkpoint["channel_values"] == {}
