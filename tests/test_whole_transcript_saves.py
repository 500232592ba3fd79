"""The transcript and asset stores' main use: the whole transcript saved at every
turn. Each turn records only what is new, whatever copy the saving trail held and
however the caller built the messages."""

from __future__ import annotations

import pytest

from sessiontrail import InvalidInput, Message, Session, SessionTrail
from sessiontrail.stores.assets import SessionAsset

TURNS = [
    ("user", "plan a trip"),
    ("assistant", "where to?"),
    ("user", "Rome"),
    ("assistant", "when?"),
]


def events(trail: SessionTrail, session_id: str) -> list[str]:
    return [entry.event for entry in trail.sessions.history(session_id)]


def as_dicts(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in turns]


def fresh_messages(turns: list[tuple[str, str]]) -> list[Message]:
    """Messages built anew, as an app rebuilding its history each turn does."""
    return [Message(role=role, content=content) for role, content in turns]  # type: ignore[arg-type]


def test_a_trail_with_an_older_copy_appends_only_the_new_message(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    other_trail.transcripts.save("t", as_dicts(TURNS[:2]))
    assert other_trail.transcripts.load("t") is not None  # its cache holds 2 messages
    trail.transcripts.save("t", as_dicts(TURNS[:3]))
    other_trail.transcripts.save("t", as_dicts(TURNS))
    assert events(trail, "t") == ["Started"] + ["MessageAppended"] * 4
    stored = trail.sessions.load_merged("t")
    assert stored is not None
    assert [m.content for m in stored.messages] == [content for _, content in TURNS]


def test_freshly_built_messages_equal_to_the_stored_ones_append_only_the_new_one(
    trail: SessionTrail,
) -> None:
    for turn in range(1, len(TURNS) + 1):
        trail.transcripts.save("t", fresh_messages(TURNS[:turn]))
    assert events(trail, "t") == ["Started"] + ["MessageAppended"] * len(TURNS)


def test_stored_messages_keep_their_ids_when_resaved_as_fresh_objects(
    trail: SessionTrail,
) -> None:
    trail.transcripts.save("t", fresh_messages(TURNS[:2]))
    first = trail.transcripts.load("t")
    trail.transcripts.save("t", fresh_messages(TURNS[:3]))
    again = trail.transcripts.load("t")
    assert first is not None and again is not None
    assert again[:2] == first


def test_a_fresh_message_that_differs_from_the_stored_one_replaces_it(
    trail: SessionTrail,
) -> None:
    trail.transcripts.save("t", fresh_messages(TURNS[:2]))
    trail.transcripts.save("t", fresh_messages([TURNS[0], ("assistant", "other")]))
    assert events(trail, "t")[-2:] == ["TranscriptTruncated", "MessageAppended"]


def test_a_message_given_with_its_own_id_matches_only_by_that_id(
    trail: SessionTrail,
) -> None:
    trail.transcripts.save("t", fresh_messages(TURNS[:1]))
    twin = Message(id="mine", role="user", content=TURNS[0][1])
    trail.transcripts.save("t", [twin])
    assert [m.id for m in trail.transcripts.load("t") or []] == ["mine"]


def test_asset_saves_with_fresh_messages_append_only_the_new_one(
    trail: SessionTrail,
) -> None:
    for turn in range(1, len(TURNS) + 1):
        trail.assets.save(
            SessionAsset(id="a", title="Trip", messages=fresh_messages(TURNS[:turn]))
        )
    assert events(trail, "a") == ["Started", "MessageAppended", "TitleEdited"] + [
        "MessageAppended"
    ] * (len(TURNS) - 1)


def test_asset_saves_from_a_trail_with_an_older_copy_append_only_the_new_one(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    other_trail.assets.save(SessionAsset(id="a", messages=fresh_messages(TURNS[:2])))
    other_trail.assets.load("a")
    trail.assets.save(SessionAsset(id="a", messages=fresh_messages(TURNS[:3])))
    other_trail.assets.save(SessionAsset(id="a", messages=fresh_messages(TURNS)))
    assert events(trail, "a") == ["Started"] + ["MessageAppended"] * 4


def test_clearing_a_title_another_trail_stored_is_refused(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    other_trail.assets.save(SessionAsset(id="a", messages=fresh_messages(TURNS[:1])))
    other_trail.assets.load("a")  # its cache: no title
    trail.assets.save(SessionAsset(id="a", title="Trip"))
    with pytest.raises(InvalidInput, match="title"):
        other_trail.assets.save(SessionAsset(id="a", title=""))


def test_a_matched_message_and_a_later_one_with_its_id_share_an_id() -> None:
    session = Session(session_id="s")
    stored = session.append_message(role="user", content="hi", id="m1")
    again = Message(role="user", content="hi")  # matches m1 by its fields
    with pytest.raises(InvalidInput, match="share an id"):
        session.replace_messages([again, stored.model_copy(update={"content": "x"})])
