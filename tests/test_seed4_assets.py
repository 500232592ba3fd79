"""Seed 4, sentence by sentence: `trail.assets` (save/load/list/delete/exists/sync)."""

from __future__ import annotations

import pytest

import sessiontrail
from sessiontrail import InvalidInput, Message, SessionNotFound, SessionTrail
from sessiontrail.stores.assets import SessionAsset


def asset(asset_id: str, *contents: str, **fields) -> SessionAsset:
    messages = [Message(role="user", content=content) for content in contents]
    return SessionAsset(id=asset_id, messages=messages, **fields)


def test_save_then_load_returns_the_asset(trail: SessionTrail):
    saved = asset("a", "hello", title="Trip", state={"step": 2, "tags": ["x"]})
    trail.assets.save(saved)
    loaded = trail.assets.load("a")
    assert (loaded.id, loaded.title, loaded.state) == ("a", "Trip", saved.state)
    assert loaded.messages == saved.messages
    assert loaded.version == trail.sessions.load("a").version
    assert loaded.created_at is not None and loaded.updated_at is not None


def test_save_overwrites_an_existing_asset(trail: SessionTrail):
    trail.assets.save(asset("a", "one", "two", title="Old", state={"k": 1, "x": 0}))
    kept = trail.assets.load("a").messages[:1]
    three = Message(role="user", content="three")
    trail.assets.save(
        SessionAsset(id="a", messages=[*kept, three], title="New", state={"k": 2})
    )
    loaded = trail.assets.load("a")
    assert [m.content for m in loaded.messages] == ["one", "three"]
    assert (loaded.title, loaded.state) == ("New", {"k": 2})
    events = [h.event for h in trail.sessions.history("a")]
    assert events[-4:] == [
        "TranscriptTruncated",
        "MessageAppended",
        "TitleEdited",
        "MetadataEdited",
    ]


def test_an_unchanged_asset_writes_nothing(trail: SessionTrail):
    trail.assets.save(asset("a", "one", title="T", state={"k": 1}))
    version = trail.assets.load("a").version
    trail.assets.save(trail.assets.load("a"))
    assert trail.assets.load("a").version == version


def test_load_of_an_unknown_id_is_not_found(trail: SessionTrail):
    with pytest.raises(SessionNotFound):
        trail.assets.load("missing")


def test_list_is_newest_first_metadata_only(trail: SessionTrail):
    for asset_id in ("a", "b", "c"):
        trail.assets.save(asset(asset_id, "hi", title=asset_id.upper()))
    trail.assets.save(asset("a", "hi", "again", title="A"))
    metas = trail.assets.list()
    assert [m.id for m in metas] == ["a", "c", "b"]
    assert [m.message_count for m in metas] == [2, 1, 1]
    assert "messages" not in metas[0].model_dump()


def test_delete_then_load_is_not_found_and_unknown_delete_is_not_found(
    trail: SessionTrail,
):
    trail.assets.save(asset("a", "hi"))
    assert trail.assets.exists("a")
    trail.assets.delete("a")
    assert not trail.assets.exists("a")
    with pytest.raises(SessionNotFound):
        trail.assets.load("a")
    with pytest.raises(SessionNotFound):
        trail.assets.delete("a")
    with pytest.raises(SessionNotFound):
        trail.assets.delete("never-saved")
    assert trail.assets.list() == []


@pytest.mark.expect_read_model_warnings
def test_list_skips_a_row_it_cannot_read_and_counts_it(trail: SessionTrail):
    trail.assets.save(asset("good", "hi"))
    trail.assets.save(asset("bad", "hi"))
    with trail.read_models.write() as cur:
        cur.execute(
            "UPDATE st_sessions_g1 SET created_at = ? WHERE session_id = 'bad'",
            (10**18,),  # 31,000 years: no datetime holds it
        )
    assert [m.id for m in trail.assets.list()] == ["good"]
    sessions = next(s for s in trail.projections.status() if s.name == "sessions")
    assert sessions.unreadable_rows == 1


def test_sync_status_reports_position_pending_and_mode(url: str):
    with sessiontrail.connect(url, projections="worker") as trail:
        trail.assets.save(asset("a", "hi", "there"))
        behind = trail.assets.sync_status()
        assert (behind.state, behind.mode) == ("behind", "worker")
        assert behind.pending == 3 and behind.last_synced_position == 0
        trail.projections.catch_up()
        synced = trail.assets.sync_status()
        assert (synced.state, synced.pending, synced.last_synced_position) == (
            "in_sync",
            0,
            3,
        )
    with sessiontrail.connect(url) as inline:
        assert inline.assets.sync_status().mode == "inline"


def test_bad_assets_are_rejected_and_nothing_is_written(trail: SessionTrail):
    with pytest.raises(InvalidInput, match="state: null values"):
        trail.assets.save(asset("a", "hi", state={"gone": None}))
    with pytest.raises(InvalidInput, match="asset"):
        trail.assets.save({"id": "a"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        SessionAsset(id="a", messages=[{"role": "robot"}])
    assert not trail.assets.exists("a")
    trail.assets.save(asset("a", "hi", title="Kept"))
    with pytest.raises(InvalidInput, match="title"):
        trail.assets.save(asset("a", "hi"))
    assert trail.assets.load("a").title == "Kept"


def test_a_session_written_as_an_asset_is_a_session_and_a_transcript(
    trail: SessionTrail,
):
    trail.assets.save(asset("a", "hello", title="T", state={"k": "v"}))
    session = trail.sessions.load("a")
    assert (session.title, session.metadata) == ("T", {"k": "v"})
    assert [m.content for m in trail.transcripts.load("a")] == ["hello"]
    assert [s.session_id for s in trail.sessions.list().items] == ["a"]
