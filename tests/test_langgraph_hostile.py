"""The LangGraph savers under hostile or careless input, on every backend: what
the read model cannot keep on one of them (a NUL, a channel name too long to
index) is refused at the door naming the field, nothing written; errors name
the field; and an event stored before such a check (an old one, an import)
never stops the read model, its rebuild or another user's reads."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from support.langgraph import checkpoint, config

from sessiontrail import ConcurrencyConflict, InvalidInput, SessionTrail
from sessiontrail.domain.session import Session
from sessiontrail.domain.threads import ChannelValue, Serialized
from sessiontrail.integrations.langgraph import TrailSaver

ANN = {"user_id": "ann"}


def written(trail: SessionTrail, thread_id: str) -> int:
    """How many events the thread's session holds (0: none)."""
    return trail.store.stream_version(trail.store.ids.stream(f"langgraph/{thread_id}"))


def _put(saver: TrailSaver, thread_id: str, channel: str, version: Any) -> None:
    saver.put(
        config(thread_id, **ANN),
        checkpoint({channel: [1]}, {}),
        {},
        {channel: version},
    )


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("channel", "new_versions (a channel): must not contain the NUL"),
        ("version", "new_versions.c: must not contain the NUL"),
        ("long channel", "new_versions (a channel): 300 characters; at most 256"),
        ("long version", "new_versions.c: 300 characters; at most 256"),
        ("huge version", "new_versions.c: an integer past 64 bits"),
        ("write channel", "writes.0.channel: must not contain the NUL"),
        ("task path", "task_path: must not contain the NUL"),
    ],
)
def test_what_the_read_model_cannot_keep_is_refused_naming_it(
    trail: SessionTrail, case: str, field: str
) -> None:
    saver = TrailSaver(trail)
    stored = saver.put(config("t", **ANN), checkpoint({"c": [1]}), {}, {"c": 1})
    before = written(trail, "t")
    calls = {
        "channel": lambda: _put(saver, "t", "c\0", 2),
        "version": lambda: _put(saver, "t", "c", "2\0"),
        "long channel": lambda: _put(saver, "t", "c" * 300, 2),
        "long version": lambda: _put(saver, "t", "c", "2" * 300),
        "huge version": lambda: _put(saver, "t", "c", 10**5000),
        "write channel": lambda: saver.put_writes(stored, [("c\0", 1)], "task"),
        "task path": lambda: saver.put_writes(stored, [("c", 1)], "task", "p\0"),
    }
    with pytest.raises(InvalidInput, match=f"^{re.escape(field)}"):
        calls[case]()
    assert written(trail, "t") == before
    assert saver.get_tuple(config("t", **ANN)).config == stored  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.get_tuple(config("t", "", "c\0")), "config.configurable.check"),
        (lambda s: s.get_tuple(config("t", user_id="a\0")), "config.configurable.user"),
        (
            lambda s: list(s.list(config("t", "\0"))),
            "config.configurable.checkpoint_ns",
        ),
        (lambda s: list(s.list(None, before=config("t", "", "\0"))), "before.check"),
        (lambda s: s.put_writes(config("t", "", "c1"), [("c", 1)], "t\0"), "task_id"),
        (lambda s: s.delete_thread("t\0"), "thread_id"),
        (lambda s: s.copy_thread("t\0", "u"), "source_thread_id"),
    ],
)
def test_a_nul_in_what_a_call_looks_up_is_invalid_input_on_every_backend(
    trail: SessionTrail, call: Any, field: str
) -> None:
    saver = TrailSaver(trail)
    with pytest.raises(InvalidInput, match=f"^{field}.*NUL"):
        call(saver)


@pytest.mark.parametrize(
    ("configurable", "field"),
    [
        ({"thread_id": True}, "config.configurable.thread_id"),
        ({"thread_id": "t", "checkpoint_ns": 5}, "config.configurable.checkpoint_ns"),
        ({"thread_id": "t", "checkpoint_id": 5}, "config.configurable.checkpoint_id"),
    ],
)
def test_a_config_of_the_wrong_type_is_refused_naming_its_field(
    trail: SessionTrail, configurable: dict[str, Any], field: str
) -> None:
    saver = TrailSaver(trail)
    for call in (
        lambda: saver.get_tuple({"configurable": configurable}),
        lambda: list(saver.list({"configurable": configurable})),
        lambda: saver.put({"configurable": configurable}, checkpoint(), {}, {}),
    ):
        with pytest.raises(InvalidInput, match=f"^{field}: must be a string"):
            call()


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        ("", "at least 1 character"),
        ("u" * 300, "at most 256 characters"),
        ("ann\n", "control characters"),
    ],
)
def test_a_user_the_log_cannot_keep_is_refused_naming_the_config_key(
    trail: SessionTrail, user: str, problem: str
) -> None:
    """Refused by every call alike, the reads too (one read an empty user as
    a stranger's: no thread), naming the key, nothing written."""
    saver = TrailSaver(trail)
    stored = saver.put(config("t"), checkpoint(), {}, {})
    before = written(trail, "t")
    odd = config("t", checkpoint_id=stored["configurable"]["checkpoint_id"])
    odd["configurable"]["user_id"] = user
    for call in (
        lambda: saver.get_tuple(odd),
        lambda: list(saver.list(odd)),
        lambda: saver.put(odd, checkpoint(), {}, {}),
        lambda: saver.put_writes(odd, [("c", 1)], "task"),
        lambda: saver.put(
            {
                **odd,
                "configurable": {
                    **odd["configurable"],
                    "thread_id": "new",
                    "checkpoint_ns": "sub",
                },
            },
            checkpoint(),
            {},
            {},
        ),
    ):
        with pytest.raises(
            InvalidInput, match=f"^config.configurable.user_id: .*{problem}"
        ):
            call()
    assert written(trail, "t") == before
    assert written(trail, "new") == 0


def test_a_subgraph_nested_past_the_id_limit_is_refused_naming_the_namespace(
    trail: SessionTrail,
) -> None:
    """Four subgraph levels of 20-character node names under a UUID thread id
    make a session id over 256 characters: the namespace, which LangGraph
    writes, is named (the thread id alone fits), and nothing is written."""
    saver = TrailSaver(trail)
    thread = "0b0c7f0e-5f4a-4d0e-9a36-3c1e0d2b7a11"
    ns = "|".join(f"level{n}_{'x' * 13}:{thread}" for n in range(4))
    with pytest.raises(
        InvalidInput,
        match=r"^config\.configurable\.checkpoint_ns: cannot name a session",
    ):
        saver.put(config(thread, ns, **ANN), checkpoint(), {}, {})
    assert trail.sessions.list().items == []


def test_metadata_or_a_filter_nested_past_any_stack_is_invalid_input(
    trail: SessionTrail,
) -> None:
    saver = TrailSaver(trail)
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(InvalidInput, match=r"^metadata: nested deeper than 32"):
        saver.put(config("t", **ANN), checkpoint(), {"x": deep}, {})
    with pytest.raises(InvalidInput, match=r"^filter: nested deeper than 32"):
        list(saver.list(None, filter=deep))
    assert written(trail, "t") == 0


class OddSerializer:
    """A serializer that gives `typed` for every value, and reads nothing back."""

    def __init__(self, typed: Any) -> None:
        self.typed = typed

    def dumps_typed(self, obj: Any) -> Any:
        return self.typed

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        raise AssertionError("nothing is read back")


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        (("json", "text"), "the serializer gave tuple, not a"),
        (None, "the serializer gave NoneType, not a"),
        ((5, b"x"), "the serializer gave tuple, not a"),
        (("a\0b", b"x"), "(its type name): must not contain the NUL"),
    ],
)
def test_a_serializer_giving_odd_things_is_refused_naming_the_value(
    trail: SessionTrail, typed: Any, problem: str
) -> None:
    saver = TrailSaver(trail, serde=OddSerializer(typed))
    sep = " " if problem.startswith("(") else ": "
    value = re.escape(f"checkpoint.channel_values.c{sep}{problem}")
    with pytest.raises(InvalidInput, match=f"^{value}"):
        saver.put(config("t", **ANN), checkpoint({"c": [1]}), {}, {"c": 1})
    with pytest.raises(InvalidInput, match=f"^{re.escape(f'writes.0{sep}{problem}')}"):
        saver.put_writes(config("t", "", "c1", **ANN), [("c", 1)], "task")
    assert written(trail, "t") == 0


@pytest.mark.expect_read_model_warnings
def test_a_stored_checkpoint_too_large_to_index_never_stops_the_read_model(
    trail: SessionTrail,
) -> None:
    """A checkpoint stored before the door's checks (or imported) whose channel
    name PostgreSQL cannot index is skipped by the read model, counted; it is
    no outage for every other thread's reads, writes and rebuilds."""
    saver = TrailSaver(trail)
    kept = saver.put(config("kept", **ANN), checkpoint({"c": [1]}), {}, {"c": 1})
    channel = secrets.token_hex(2000)  # 4,000 characters no index entry holds
    session = Session(session_id="langgraph/odd", user_id="bob", title="odd")
    session.record_checkpoint(
        "1",
        parent_checkpoint_id=None,
        checkpoint=Serialized.pack(saver.serde.dumps_typed(checkpoint())),
        channel_versions={channel: "1"},
        values=[
            ChannelValue.pack(
                saver.serde.dumps_typed([1]), channel=channel, version="1"
            )
        ],
        metadata={},
        app_metadata={},
        actor="runtime",
    )
    trail.sessions.save(session)

    assert saver.get_tuple(config("kept", **ANN)).config == kept  # type: ignore[union-attr]
    later = saver.put(kept, checkpoint({"c": [2]}), {}, {"c": 2})
    assert saver.get_tuple(config("kept", **ANN)).config == later  # type: ignore[union-attr]
    status = trail.projections.rebuild("langgraph")
    assert status.skipped == (1 if trail.backend == "postgresql" else 0)
    assert saver.get_tuple(config("kept", **ANN)).config == later  # type: ignore[union-attr]
    assert trail.verify().problems == []


@pytest.mark.parametrize("checkpoint_ns", ["node:1", ""])
def test_a_user_never_adds_a_namespace_to_another_users_thread(
    trail: SessionTrail, checkpoint_ns: str
) -> None:
    """A subgraph's namespace is a session of its own; one named by another
    user's config is refused as the thread itself is (in use), nothing written:
    else that user's checkpoints would sit in the owner's thread, go with its
    copies and deletes, and take the namespace the owner's run needs."""
    saver = TrailSaver(trail)
    first_ns = "node:0" if checkpoint_ns == "" else ""
    saver.put(config("t", first_ns, **ANN), checkpoint({"c": [1]}), {}, {"c": 1})
    session_id = "langgraph/t" + (f"/{checkpoint_ns}" if checkpoint_ns else "")
    stream = trail.store.ids.stream(session_id)
    before = trail.store.stream_version(stream)  # ann's root, made by her subgraph
    bob = config("t", checkpoint_ns, user_id="bob")
    with pytest.raises(ConcurrencyConflict, match="in use"):
        saver.put(bob, checkpoint({"c": [2]}), {}, {"c": 1})
    with pytest.raises(ConcurrencyConflict, match="in use"):
        saver.put_writes(
            {**bob, "configurable": {**bob["configurable"], "checkpoint_id": "1"}},
            [("c", 1)],
            "task",
        )
    assert trail.store.stream_version(stream) == before
    # a subgraph's first write made the thread's own (root) session ann's too
    assert sorted(trail.langgraph.namespaces("t")) == sorted({"", first_ns})
    saver.put(config("t", checkpoint_ns, **ANN), checkpoint({"c": [3]}), {}, {"c": 1})
    assert sorted(trail.langgraph.namespaces("t")) == sorted(
        ["", "node:0" if checkpoint_ns == "" else "node:1"]
    )


def test_words_in_langgraphs_metadata_keys_are_erased_with_their_user(
    trail: SessionTrail,
) -> None:
    """LangGraph's own metadata keys stay readable through erasure (history
    keeps its shape) only as LangGraph writes them; a value of another shape
    under one of those keys is the app's, and erased with the rest."""
    saver = TrailSaver(trail)
    run_id = "1f0a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
    shaped = {
        "source": "loop",
        "step": 3,
        "parents": {"": "1f0a2b3c-0000-6000-8000-000000000001"},
        "counters_since_delta_snapshot": {"messages": [1, 2]},
    }
    words = {
        "source": "ann's words",
        "step": "ann's words",
        "parents": {"": ["ann's words"]},
        "counters_since_delta_snapshot": {"messages": "ann's words"},
    }
    kept = saver.put(
        {**config("kept", **ANN), "metadata": {"run_id": run_id}},
        checkpoint(),
        shaped,
        {},
    )
    for key, value in words.items():
        saver.put(config(f"odd-{key}", **ANN), checkpoint(), {key: value}, {})
    saver.put(
        {**config("odd-run", **ANN), "metadata": {"run_id": "ann's words"}},
        checkpoint(),
        {},
        {},
    )
    before = {
        t.config["configurable"]["thread_id"]: t.metadata for t in saver.list(None)
    }
    assert before["odd-source"]["source"] == "ann's words"

    trail.erase_user("ann")

    after = [t.metadata for t in saver.list(None)]
    assert "ann's words" not in repr(after)
    assert saver.get_tuple(kept).metadata == {**shaped, "run_id": run_id}  # type: ignore[union-attr]


def test_words_as_a_parent_checkpoint_are_erased_with_their_user(
    trail: SessionTrail,
) -> None:
    """`parents` maps a namespace to a parent checkpoint's id, which LangGraph
    always makes a UUID: a short sentence there is the app's, not structure,
    so erasure reaches it."""
    saver = TrailSaver(trail)
    saver.put(
        config("odd-parent", **ANN),
        checkpoint(),
        {"parents": {"": "ann has the flu"}},
        {},
    )
    assert saver.list(None).__next__().metadata["parents"] == {"": "ann has the flu"}

    trail.erase_user("ann")

    assert "ann has the flu" not in repr([t.metadata for t in saver.list(None)])
