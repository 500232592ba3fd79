"""Search under a master key: whole words and metadata values match by keyed
per-user tokens, with the same results as without a key, on every backend; no
word is stored, another user's words never match, and nothing matches once the
owner is erased."""

from __future__ import annotations

import json

import pytest
from test_search import ids, start

import sessiontrail
from sessiontrail import InvalidInput, SessionTrail

KEY = sessiontrail.new_key()


@pytest.fixture
def keyed(url: str):
    with sessiontrail.connect(url, key=KEY) as trail:
        yield trail


def write_cases(trail: SessionTrail) -> None:
    """Sessions of two users and of none, titles, tool calls, metadata."""
    start(trail, "trip", "plan a week", "what about Lisbon in May?", user_id="alice")
    start(trail, "title", "hello", title="Lisbon weekend", user_id="alice")
    start(trail, "both", "red apples and green pears", user_id="alice")
    start(trail, "one", "red apples", user_id="alice", metadata={"env": "prod"})
    start(trail, "code", "the call_42 failed with ERR-7731", user_id="alice")
    start(trail, "bob", "Lisbon too, and apples", user_id="bob")
    start(trail, "anon", "LISBON in capitals", metadata={"env": "prod", "tries": 2})
    session = trail.sessions.load_or_create("tool", user_id="alice")
    session.append_message(
        role="assistant",
        content="looking it up",
        tool_calls=[{"id": "c1", "name": "weather", "arguments": {"city": "Lisbon"}}],
    )
    trail.sessions.save(session)


QUERIES = [
    {"text": "lisbon"},
    {"text": "Lisbon", "user_id": "alice"},
    {"text": "apples pears"},
    {"text": "apples", "user_id": "bob"},
    {"text": "call_42"},
    {"text": "ERR-7731"},
    {"text": "weather"},
    {"text": "nowhere"},
    {"metadata": {"env": "prod"}},
    {"metadata": {"env": "prod", "tries": 2}},
    {"metadata": {"tries": "2"}},
    {"text": "lisbon", "metadata": {"env": "prod"}},
]


def hits(trail: SessionTrail, text: str, **filters: object) -> list[object]:
    """Each hit as (session id, its matching messages' contents, title matched)."""
    found = []
    for hit in trail.sessions.search(text, **filters):  # type: ignore[arg-type]
        session = trail.sessions.load(hit.session.session_id)
        assert session is not None
        content = {message.id: message.content for message in session.messages}
        matched = [content[number] for number in hit.message_ids]
        found.append((hit.session.session_id, matched, hit.title_matched))
    return found


def sorted_hits(found: list[object]) -> list[object]:
    return sorted(found, key=repr)


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_a_whole_word_list_is_the_same_as_without_a_key(
    keyed: SessionTrail, query: dict[str, object]
) -> None:
    write_cases(keyed)
    with sessiontrail.connect("memory://") as plain:
        write_cases(plain)
        assert ids(keyed, **query) == ids(plain, **query)


def test_search_finds_the_same_sessions_and_messages_as_without_a_key(
    keyed: SessionTrail,
) -> None:
    write_cases(keyed)
    with sessiontrail.connect("memory://") as plain:
        write_cases(plain)
        for text in ("lisbon", "apples", "red apples", "weather", "nowhere"):
            found = hits(keyed, text)
            assert sorted_hits(found) == sorted_hits(hits(plain, text))
        assert hits(keyed, "lisbon", user_id="alice") and sorted_hits(
            hits(keyed, "lisbon", user_id="alice")
        ) == sorted_hits(hits(plain, "lisbon", user_id="alice"))


def test_search_under_a_key_lists_newest_first(keyed: SessionTrail) -> None:
    for name in ("a", "b", "c"):
        start(keyed, name, "the same word: kiwi", user_id="alice")

    assert [hit[0] for hit in hits(keyed, "kiwi")] == ["c", "b", "a"]


def test_a_snippet_under_a_key_marks_the_matched_words(keyed: SessionTrail) -> None:
    start(keyed, "trip", "What about LISBON in May?", user_id="alice")

    [hit] = keyed.sessions.search("lisbon may", user_id="alice")

    assert hit.snippet == "What about **LISBON** in **May**?"


def test_prefixes_do_not_match_under_a_key(keyed: SessionTrail) -> None:
    start(keyed, "trip", "Lisbon in May", user_id="alice")

    assert ids(keyed, text="Lisbo") == []
    assert ids(keyed, text="lisbon") == ["trip"]


def test_another_users_words_never_match_under_a_key(keyed: SessionTrail) -> None:
    start(keyed, "mine", "pelican", user_id="alice")
    start(keyed, "theirs", "pelican", user_id="bob")

    assert ids(keyed, text="pelican", user_id="alice") == ["mine"]
    assert ids(keyed, text="pelican", user_id="carol") == []
    assert [hit[0] for hit in hits(keyed, "pelican", user_id="bob")] == ["theirs"]


def test_words_of_a_removed_message_or_old_title_stop_matching_under_a_key(
    keyed: SessionTrail,
) -> None:
    start(keyed, "t", "keep this", "drop pelican", title="Lisbon", user_id="alice")
    session = keyed.sessions.load("t")
    assert session is not None
    session.truncate(1)
    session.edit_title("Porto")
    keyed.sessions.save(session)

    assert ids(keyed, text="pelican") == ids(keyed, text="lisbon") == []
    assert ids(keyed, text="porto") == ids(keyed, text="keep") == ["t"]


def test_nothing_of_an_erased_user_matches_under_a_key(keyed: SessionTrail) -> None:
    start(keyed, "mine", "pelican", user_id="alice", metadata={"env": "prod"})
    start(keyed, "theirs", "pelican", user_id="bob", metadata={"env": "prod"})

    keyed.erase_user("alice")

    assert ids(keyed, text="pelican") == ["theirs"]
    assert ids(keyed, text="pelican", user_id="alice") == []
    assert ids(keyed, text="erased", user_id="alice") == []
    assert ids(keyed, metadata={"env": "prod"}) == ["theirs"]
    assert hits(keyed, "pelican", user_id="alice") == []


def test_an_erasure_leaves_no_token_of_the_user(keyed: SessionTrail) -> None:
    start(keyed, "mine", "pelican", user_id="alice", metadata={"env": "prod"})
    start(keyed, "theirs", "pelican", user_id="bob")
    before = keyed.projections.rows("search")
    [mine] = [row[0] for row in before["search_sessions"] if row[1] == "alice"]

    keyed.erase_user("alice")

    rows = keyed.projections.rows("search")
    assert all(row[2] != mine for row in rows["search_tokens"])
    assert all(row[0] != mine for row in rows["search_metadata"])
    assert len(rows["search_tokens"]) == len(
        [row for row in before["search_tokens"] if row[2] != mine]
    )


def test_the_search_read_model_holds_tokens_not_words_under_a_key(
    keyed: SessionTrail,
) -> None:
    start(keyed, "a", "secret pelican", title="hidden", metadata={"env": "prod"})

    stored = json.dumps(keyed.projections.rows("search")).lower()

    for word in ("secret", "pelican", "hidden", "env", "prod"):
        assert word not in stored


def test_a_read_model_built_without_a_key_is_refused_under_one(url: str) -> None:
    if url.startswith("memory"):
        pytest.skip("a memory log is gone once closed")
    with sessiontrail.connect(url) as plain:
        start(plain, "a", "pelican")
    with sessiontrail.connect(url, key=KEY) as keyed:
        with pytest.raises(InvalidInput, match="rebuild"):
            keyed.sessions.list(text="pelican")
        keyed.projections.rebuild("search")
        assert ids(keyed, text="pelican") == ["a"]
