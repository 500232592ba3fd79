"""Retention policies in the log, and `apply` expiring exactly what they say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from freezegun import freeze_time
from pydantic import JsonValue

import sessiontrail
from sessiontrail import SessionTrail
from sessiontrail.domain.errors import (
    InvalidInput,
    SessionNotFound,
    StorageUnavailable,
)
from sessiontrail.domain.purge import Purge, PurgeReport
from sessiontrail.domain.retention import Rule
from sessiontrail.domain.session import stream_id

SessionPurged = Purge.SessionPurged


def write(
    trail: SessionTrail,
    session_id: str,
    *,
    days_ago: int = 100,
    user_id: str | None = None,
    metadata: dict[str, JsonValue] | None = None,
) -> None:
    """A session last updated `days_ago` days ago."""
    with freeze_time(datetime.now(UTC) - timedelta(days=days_ago)):
        session = trail.sessions.load_or_create(session_id, user_id=user_id)
        if metadata:
            session.update_metadata(metadata)
        session.append_message(role="user", content=f"hello from {session_id}")
    trail.sessions.save(session)


def live_ids(trail: SessionTrail) -> set[str]:
    return {s.session_id for s in trail.sessions.list(limit=1000).items}


def test_a_rule_is_stored_in_the_log_with_who_set_it_and_when(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    before = datetime.now(UTC)
    trail.retention.set(30, actor="dpo@example.com")
    trail.retention.set(90, user_id="alice", action="purge", actor="ops")
    shown = other_trail.retention.show()  # another process reads the log
    assert shown.rules == [
        Rule(days=90, action="purge", user_id="alice"),
        Rule(days=30, action="delete"),
    ]
    assert shown.set_by == "ops"
    assert shown.set_at is not None and shown.set_at >= before
    history = other_trail.retention.history()
    assert [(h.actor, len(h.payload["rules"])) for h in history] == [  # type: ignore[arg-type]
        ("dpo@example.com", 1),
        ("ops", 2),
    ]


def test_the_policy_outlives_its_hundredth_change(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    for days in range(1, 102):  # the log snapshots a stream at version 100
        trail.retention.set(days)
    assert other_trail.retention.show().rules == [Rule(days=101)]
    assert len(other_trail.retention.history()) == 101


def test_setting_a_rule_again_replaces_the_rule_of_its_scope(
    trail: SessionTrail,
) -> None:
    trail.retention.set(30, key="tenant", value="acme")
    trail.retention.set(7, key="tenant", value="acme", action="purge")
    assert trail.retention.show().rules == [
        Rule(days=7, action="purge", key="tenant", value="acme")
    ]


def test_unset_removes_only_that_scope(trail: SessionTrail) -> None:
    trail.retention.set(30)
    trail.retention.set(90, user_id="alice")
    assert trail.retention.unset(user_id="alice", actor="ops") is True
    assert trail.retention.unset(user_id="alice") is False
    assert trail.retention.show().rules == [Rule(days=30)]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 36_501}, "days"),
        ({"days": 30, "action": "shred"}, "action"),
        ({"days": 30, "key": "tenant"}, "key/value"),
        ({"days": 30, "user_id": "a", "key": "t", "value": "v"}, "user_id/key"),
        ({"days": 30, "user_id": ""}, "user_id"),
        ({"days": 30, "actor": ""}, "actor"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field_and_nothing_is_written(
    trail: SessionTrail, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match=field):
        trail.retention.set(**arguments)  # type: ignore[arg-type]
    assert trail.retention.history() == []


def test_no_policy_expires_nothing(trail: SessionTrail) -> None:
    write(trail, "old")
    report = trail.retention.apply()
    assert (report.expired, report.policy_version) == ([], 0)
    assert live_ids(trail) == {"old"}


def test_a_global_rule_expires_only_sessions_older_than_it_allows(
    trail: SessionTrail,
) -> None:
    write(trail, "old", days_ago=31)
    write(trail, "young", days_ago=29)
    trail.retention.set(30)
    report = trail.retention.apply()
    assert [e.session_id for e in report.expired] == ["old"]
    assert live_ids(trail) == {"young"}
    assert trail.sessions.history("old")[-1].event == "SessionDeleted"
    assert trail.sessions.history("old")[-1].actor == "retention"


def test_a_user_rule_overrides_the_global_rule_both_ways(trail: SessionTrail) -> None:
    write(trail, "alice-60", days_ago=60, user_id="alice")
    write(trail, "bob-10", days_ago=10, user_id="bob")
    write(trail, "carol-60", days_ago=60, user_id="carol")
    trail.retention.set(30)
    trail.retention.set(90, user_id="alice")  # keeps longer
    trail.retention.set(5, user_id="bob")  # keeps shorter
    report = trail.retention.apply()
    assert sorted((e.session_id, e.rule) for e in report.expired) == [
        ("bob-10", "user bob"),
        ("carol-60", "global"),
    ]
    assert live_ids(trail) == {"alice-60"}


def test_a_metadata_rule_overrides_user_and_global_rules(trail: SessionTrail) -> None:
    write(trail, "acme-20", days_ago=20, user_id="alice", metadata={"tenant": "acme"})
    write(trail, "acme-5", days_ago=5, metadata={"tenant": "acme"})
    write(trail, "other-20", days_ago=20, metadata={"tenant": "other"})
    write(trail, "hold-400", days_ago=400, metadata={"hold": "legal"})
    trail.retention.set(30)
    trail.retention.set(400, user_id="alice")
    trail.retention.set(10, key="tenant", value="acme")
    trail.retention.set(None, key="hold", value="legal")  # never expires
    report = trail.retention.apply()
    assert [(e.session_id, e.rule) for e in report.expired] == [
        ("acme-20", "tenant=acme")
    ]
    assert live_ids(trail) == {"acme-5", "other-20", "hold-400"}


def test_a_metadata_rule_follows_later_metadata_edits(trail: SessionTrail) -> None:
    write(trail, "moved", days_ago=20, metadata={"tenant": "acme"})
    with freeze_time(datetime.now(UTC) - timedelta(days=15)):
        trail.sessions.edit("moved", metadata={"tenant": "other"})
    trail.retention.set(10, key="tenant", value="acme")
    assert trail.retention.apply(dry_run=True).expired == []
    trail.retention.set(10, key="tenant", value="other")
    assert [e.session_id for e in trail.retention.apply().expired] == ["moved"]


def test_of_two_matching_metadata_rules_the_longer_keeps(
    trail: SessionTrail,
) -> None:
    write(trail, "both", days_ago=20, metadata={"tenant": "acme", "region": "eu"})
    trail.retention.set(10, key="tenant", value="acme")
    trail.retention.set(30, key="region", value="eu")
    assert trail.retention.apply().expired == []
    assert live_ids(trail) == {"both"}


def test_a_dry_run_lists_what_expires_and_writes_nothing(
    trail: SessionTrail,
) -> None:
    for n in range(5):
        write(trail, f"old-{n}", days_ago=40 + n)
    write(trail, "young", days_ago=1)
    trail.retention.set(30)
    position = trail.projections.status()[0].head
    report = trail.retention.apply(dry_run=True, batch=2)
    assert report.dry_run
    assert [e.session_id for e in report.expired] == [
        f"old-{n}"
        for n in reversed(range(5))  # oldest first
    ]
    assert trail.projections.status()[0].head == position
    assert len(live_ids(trail)) == 6


def test_apply_goes_through_every_batch(trail: SessionTrail) -> None:
    for n in range(7):
        write(trail, f"old-{n}", days_ago=40)
    trail.retention.set(30)
    seen: list[tuple[int, int]] = []
    report = trail.retention.apply(batch=3, progress=lambda d, t: seen.append((d, t)))
    assert report.deleted == 7
    assert seen == [(3, 7), (6, 7), (7, 7)]
    assert live_ids(trail) == set()


def test_apply_stops_at_its_limit_and_the_next_run_goes_on(
    trail: SessionTrail,
) -> None:
    for n in range(5):
        write(trail, f"old-{n}", days_ago=40)
    trail.retention.set(30)
    first = trail.retention.apply(limit=3, batch=2)
    assert (first.deleted, first.remaining) == (3, True)
    second = trail.retention.apply()
    assert (second.deleted, second.remaining) == (2, False)
    assert live_ids(trail) == set()


def test_a_limit_met_exactly_reports_nothing_remaining(trail: SessionTrail) -> None:
    for n in range(3):
        write(trail, f"old-{n}", days_ago=40)
    write(trail, "new", days_ago=1)
    trail.retention.set(30)
    assert trail.retention.apply(limit=3, dry_run=True).remaining is False
    report = trail.retention.apply(limit=3, batch=2)
    assert (report.deleted, report.remaining) == (3, False)


def test_a_limit_met_with_a_purge_walk_left_reports_it_remaining(
    trail: SessionTrail,
) -> None:
    write(trail, "deleted-old", days_ago=50)
    session = trail.sessions.load("deleted-old")
    assert session is not None
    with freeze_time(datetime.now(UTC) - timedelta(days=40)):
        session.delete()  # only the walk over soft-deleted sessions finds it
    trail.sessions.save(session)
    write(trail, "old", days_ago=40)
    trail.retention.set(30, action="purge")
    first = trail.retention.apply(limit=1)
    assert (len(first.expired), first.remaining) == (1, True)
    second = trail.retention.apply(limit=1)
    assert (len(second.expired), second.remaining) == (1, False)


def test_a_session_touched_after_the_dry_run_is_not_expired(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    write(trail, "touched", days_ago=40)
    write(trail, "idle", days_ago=40)
    trail.retention.set(30)
    listed = trail.retention.apply(dry_run=True).expired
    session = other_trail.sessions.load("touched")
    assert session is not None
    session.append_message(role="user", content="still here")
    other_trail.sessions.save(session)
    report = trail.retention.expire(listed)
    assert [e.session_id for e in report.expired] == ["idle"]
    assert [e.session_id for e in report.skipped] == ["touched"]
    assert live_ids(trail) == {"touched"}


def test_soft_deleted_sessions_are_not_deleted_again(trail: SessionTrail) -> None:
    write(trail, "gone", days_ago=40)
    trail.sessions.delete("gone")
    trail.retention.set(30)
    assert trail.retention.apply().expired == []
    assert [h.event for h in trail.sessions.history("gone")].count(
        "SessionDeleted"
    ) == 1


def test_a_purge_rule_purges_expired_sessions_with_a_record_of_why(
    trail: SessionTrail,
) -> None:
    write(trail, "acme-old", days_ago=20, metadata={"tenant": "acme"})
    write(trail, "acme-new", days_ago=2, metadata={"tenant": "acme"})
    write(trail, "other-old", days_ago=20)
    trail.retention.set(10, key="tenant", value="acme", action="purge")
    report = trail.retention.apply()
    assert (report.purged, report.deleted) == (1, 0)
    assert trail.sessions.try_load("acme-old") is None
    with pytest.raises(SessionNotFound):
        trail.sessions.history("acme-old")
    assert live_ids(trail) == {"acme-new", "other-old"}
    [record] = [e for e in trail.store.every_event() if isinstance(e, SessionPurged)]
    assert (record.session_id, record.actor) == ("acme-old", "retention")
    assert record.reason.startswith("retention rule tenant=acme: not updated since")
    assert trail.retention.apply(dry_run=True).expired == []  # its rows are gone
    assert trail.verify().ok


def test_a_purge_rule_purges_soft_deleted_sessions_too(trail: SessionTrail) -> None:
    write(trail, "deleted-old", days_ago=50)
    session = trail.sessions.load("deleted-old")
    assert session is not None
    with freeze_time(datetime.now(UTC) - timedelta(days=40)):
        session.delete()  # a soft delete is an update too: this one is old
    trail.sessions.save(session)
    trail.retention.set(30, action="purge")
    assert [e.session_id for e in trail.retention.apply().expired] == ["deleted-old"]
    assert trail.store.stream_version(stream_id("deleted-old")) == 0


def test_a_session_touched_after_the_dry_run_is_not_purged(
    trail: SessionTrail, other_trail: SessionTrail
) -> None:
    write(trail, "touched", days_ago=40)
    trail.retention.set(30, action="purge")
    listed = trail.retention.apply(dry_run=True).expired
    other_trail.sessions.edit("touched", title="still wanted")
    report = trail.retention.expire(listed)
    assert ([e.session_id for e in report.skipped], report.expired) == (["touched"], [])
    assert trail.sessions.load("touched") is not None


def test_a_purge_that_fails_in_storage_is_kept_and_reported_and_the_sweep_goes_on(
    trail: SessionTrail, monkeypatch: pytest.MonkeyPatch
) -> None:
    for session_id in ("a-old", "b-old", "c-old"):
        write(trail, session_id, days_ago=40)
    trail.retention.set(30, action="purge")
    purge = trail.sessions.purge

    def locked_for_b(session_id: str, **kwargs: Any) -> PurgeReport:
        if session_id == "b-old":
            raise StorageUnavailable("purge streams: database is locked")
        return purge(session_id, **kwargs)

    monkeypatch.setattr(trail.sessions, "purge", locked_for_b)
    report = trail.retention.apply()

    assert sorted(e.session_id for e in report.expired) == ["a-old", "c-old"]
    assert [e.session_id for e in report.failed] == ["b-old"]
    assert live_ids(trail) == {"b-old"}


def test_a_metadata_rule_set_before_a_master_key_is_never_ignored_by_a_sweep(
    url: str,
) -> None:
    """A key configured on a log of metadata rules: the sweep cannot see metadata
    any more, so it refuses to run rather than let the global rule expire what a
    metadata rule keeps."""
    with sessiontrail.connect(url) as plain:
        plain.retention.set(30)
        plain.retention.set(None, key="hold", value="legal")  # never expires
        write(plain, "held-before", days_ago=60, metadata={"hold": "legal"})
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as keyed:
        write(keyed, "held-after", days_ago=60, metadata={"hold": "legal"})
        keyed.projections.rebuild("retention")
        for dry_run in (True, False):
            with pytest.raises(InvalidInput, match=r"^key: .*hold=legal"):
                keyed.retention.apply(dry_run=dry_run)
        assert live_ids(keyed) == {"held-before", "held-after"}
        keyed.retention.unset(key="hold", value="legal")  # the way out it names
        assert {e.session_id for e in keyed.retention.apply().expired} == {
            "held-before",
            "held-after",
        }


def test_a_session_stored_with_a_time_utc_cannot_hold_never_stops_a_sweep(
    trail: SessionTrail,
) -> None:
    """An event stored before imports refused such times (year 1 at +23:59):
    the sweep expires its session like any old one and goes on."""
    ancient = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59)))
    session = sessiontrail.Session(session_id="ancient", user_id="mal")
    session.append_message(role="user", content="hello")
    events = list(session.collect_events())
    events = [event.model_copy(update={"timestamp": ancient}) for event in events]
    trail.store.append_imported(events, {session.id: "mal"})
    write(trail, "old", days_ago=40)
    trail.retention.set(30)
    assert {e.session_id for e in trail.retention.apply(dry_run=True).expired} == {
        "ancient",
        "old",
    }
    assert {e.session_id for e in trail.retention.apply().expired} == {
        "ancient",
        "old",
    }
