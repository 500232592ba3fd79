"""Seed 3, sentence by sentence: `trail.transcripts` (load/save/list/delete)."""

from __future__ import annotations

import pytest

from sessiontrail import InvalidInput, Message, SessionTrail
from sessiontrail.stores.transcripts import ListOptions

HELLO = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]


def contents(messages: list[Message] | None) -> list[str]:
    assert messages is not None
    return [message.content for message in messages]


def events(trail: SessionTrail, session_id: str) -> list[str]:
    return [entry.event for entry in trail.sessions.history(session_id)]


def test_load_of_an_unknown_id_is_none_a_fresh_session(trail: SessionTrail):
    assert trail.transcripts.load("never-saved") is None


def test_save_creates_the_session_when_absent(trail: SessionTrail):
    trail.transcripts.save("t", HELLO)
    loaded = trail.transcripts.load("t")
    assert [(m.role, m.content) for m in loaded] == [
        ("user", "hello"),
        ("assistant", "hi"),
    ]


def test_save_overwrites_the_whole_transcript(trail: SessionTrail):
    trail.transcripts.save("t", [*HELLO, {"role": "user", "content": "more"}])
    trail.transcripts.save("t", [HELLO[0], {"role": "assistant", "content": "other"}])
    assert contents(trail.transcripts.load("t")) == ["hello", "other"]
    trail.transcripts.save("t", [])
    assert trail.transcripts.load("t") == []


def test_a_diverging_save_is_a_truncation_then_appends_not_a_rewrite(
    trail: SessionTrail,
):
    trail.transcripts.save("t", [*HELLO, {"role": "user", "content": "old"}])
    trail.transcripts.save("t", [*HELLO, {"role": "user", "content": "new"}])
    assert events(trail, "t") == [
        "Started",
        "MessageAppended",
        "MessageAppended",
        "MessageAppended",
        "TranscriptTruncated",
        "MessageAppended",
    ]
    truncation = trail.sessions.history("t")[4]
    assert len(truncation.payload["removed_ids"]) == 1


def test_an_extending_save_appends_only_the_new_messages(trail: SessionTrail):
    trail.transcripts.save("t", HELLO)
    loaded = trail.transcripts.load("t")
    assert loaded is not None
    loaded.append(Message(role="user", content="next"))
    trail.transcripts.save("t", loaded)
    trail.transcripts.save("t", [*HELLO, {"role": "user", "content": "next"}])
    assert events(trail, "t")[3:] == ["MessageAppended"]


def test_saving_the_same_transcript_writes_nothing(trail: SessionTrail):
    trail.transcripts.save("t", HELLO)
    version = trail.sessions.load("t").version
    trail.transcripts.save("t", HELLO)
    trail.transcripts.save("t", trail.transcripts.load("t"))
    assert trail.sessions.load("t").version == version


def test_save_keeps_created_at_and_moves_updated_at(trail: SessionTrail):
    trail.transcripts.save("t", HELLO[:1])
    before = trail.transcripts.list()[0]
    trail.transcripts.save("t", HELLO)
    after = trail.transcripts.list()[0]
    assert after.created_at == before.created_at
    assert after.updated_at > before.updated_at


def test_list_is_newest_last_with_metadata_only(trail: SessionTrail):
    for session_id in ("a", "b", "c"):
        trail.transcripts.save(session_id, HELLO)
    trail.transcripts.save("a", [*HELLO, {"role": "user", "content": "again"}])
    records = trail.transcripts.list()
    assert [r.id for r in records] == ["b", "c", "a"]
    assert [r.message_count for r in records] == [2, 2, 3]
    assert set(records[0].model_dump()) == {
        "id",
        "message_count",
        "created_at",
        "updated_at",
    }


def test_list_paginated_windows_and_clamps(trail: SessionTrail):
    for number in range(5):
        trail.transcripts.save(f"s{number}", HELLO)
    everything = trail.transcripts.list()
    window = trail.transcripts.list_paginated(ListOptions(offset=1, limit=2))
    assert window == everything[1:3]
    assert trail.transcripts.list_paginated(ListOptions()) == everything
    assert trail.transcripts.list_paginated(ListOptions(offset=5)) == []
    assert trail.transcripts.list_paginated(ListOptions(offset=50, limit=2)) == []
    with pytest.raises(ValueError, match="offset"):
        ListOptions(offset=-1)


def test_delete_removes_and_an_unknown_id_is_a_no_op(trail: SessionTrail):
    trail.transcripts.save("t", HELLO)
    trail.transcripts.delete("t")
    assert trail.transcripts.load("t") is None
    assert trail.transcripts.list() == []
    trail.transcripts.delete("t")
    trail.transcripts.delete("never-saved")
    assert events(trail, "t")[-1] == "SessionDeleted"


def test_saving_a_deleted_id_brings_it_back(trail: SessionTrail):
    trail.transcripts.save("t", HELLO)
    trail.transcripts.delete("t")
    trail.transcripts.save("t", HELLO[:1])
    assert contents(trail.transcripts.load("t")) == ["hello"]
    assert "SessionRestored" in events(trail, "t")


def test_bad_messages_are_rejected_and_nothing_is_written(trail: SessionTrail):
    trail.transcripts.save("t", HELLO)
    with pytest.raises(InvalidInput, match=r"messages\.1\.role"):
        trail.transcripts.save("t", [HELLO[0], {"role": "robot", "content": "x"}])
    with pytest.raises(InvalidInput, match="share an id"):
        trail.transcripts.save("t", [Message(role="user", id="x")] * 2)
    assert contents(trail.transcripts.load("t")) == ["hello", "hi"]
    assert len(events(trail, "t")) == 3


def test_the_stores_and_the_repository_see_one_session(trail: SessionTrail):
    s = trail.sessions.load_or_create("shared", model="m")
    s.append_message(role="user", content="from the repository")
    trail.sessions.save(s)
    assert contents(trail.transcripts.load("shared")) == ["from the repository"]
    assert contents(trail.assets.load("shared").messages) == ["from the repository"]

    trail.transcripts.save("shared", [*trail.transcripts.load("shared"), HELLO[1]])
    stored = trail.sessions.load("shared")
    assert contents(stored.messages) == ["from the repository", "hi"]
    assert stored.model == "m"
