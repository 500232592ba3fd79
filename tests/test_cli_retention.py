"""`sessiontrail retention show | set | unset | apply` as an operator runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from support.cli import failure, invoke, invoke_json

import sessiontrail
from sessiontrail.domain.errors import StorageUnavailable
from sessiontrail.domain.purge import PurgeReport
from sessiontrail.infrastructure.repository import SessionRepository


def log_with_old_sessions(tmp_path: Path, old: int, young: int) -> str:
    url = f"sqlite:///{tmp_path / 'trail.db'}"
    with sessiontrail.connect(url) as trail:
        for number in range(old + young):
            days = 40 if number < old else 1
            with freeze_time(datetime.now(UTC) - timedelta(days=days)):
                session = trail.sessions.load_or_create(f"chat-{number}")
                session.append_message(role="user", content="hello")
            trail.sessions.save(session)
    return url


def test_set_then_show_lists_the_rules_with_who_set_them(tmp_path: Path) -> None:
    url = log_with_old_sessions(tmp_path, 0, 1)
    done = invoke("--db", url, "retention", "set", "--days", "30", "--actor", "dpo")
    assert done.exit_code == 0, done.stderr
    invoke("--db", url, "retention", "set", "--forever", "--meta", "hold=legal")
    shown = invoke("--db", url, "retention", "show")
    assert shown.exit_code == 0, shown.stderr
    assert "hold=legal" in shown.stdout and "never" in shown.stdout
    assert "global" in shown.stdout and "30" in shown.stdout
    [policy] = invoke_json("--db", url, "retention", "show")
    assert policy["set_by"] == "system" and len(policy["rules"]) == 2
    history = invoke_json("--db", url, "retention", "show", "--history")
    assert [change["actor"] for change in history] == ["dpo", "system"]


def test_set_refuses_a_bad_rule_in_one_line(tmp_path: Path) -> None:
    url = log_with_old_sessions(tmp_path, 0, 1)
    assert "--days/--forever" in failure("--db", url, "retention", "set")
    assert "--meta" in failure(
        "--db", url, "retention", "set", "--days", "3", "--meta", "tenant"
    )
    assert "--action" in failure(
        "--db", url, "retention", "set", "--days", "3", "--action", "shred"
    )
    assert "days" in failure("--db", url, "retention", "set", "--days", "0")
    assert "--user" in failure(
        "--db", url, "--user", "alice", "retention", "set", "--days", "3"
    )
    assert invoke_json("--db", url, "retention", "show", "--history") == []


def test_set_checks_its_arguments_before_opening_the_log(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    for bad, named in (
        (["--days", "-1"], "--days"),
        (["--action", "bogus"], "--action"),
    ):
        days = [] if "--days" in bad else ["--days", "3"]
        said = failure("--db", missing, "retention", "set", *days, *bad)
        assert named in said and "SQLite" not in said, said
    assert not (tmp_path / "missing.db").exists()


def test_apply_dry_run_lists_and_apply_expires(tmp_path: Path) -> None:
    url = log_with_old_sessions(tmp_path, 3, 2)
    invoke("--db", url, "retention", "set", "--days", "30")
    listed = invoke("--db", url, "retention", "apply", "--dry-run")
    assert listed.exit_code == 0, listed.stderr
    assert "3 session(s) would expire" in listed.stdout
    assert all(f"chat-{n}" in listed.stdout for n in range(3))
    applied = invoke_json("--db", url, "retention", "apply", "--batch", "2")
    assert [e["session_id"] for e in applied["expired"]] == [
        "chat-0",
        "chat-1",
        "chat-2",
    ]
    again = invoke("--db", url, "retention", "apply")
    assert "expired 0 session(s)" in again.stdout
    with sessiontrail.connect(url) as trail:
        left = [s.session_id for s in trail.sessions.list().items]
    assert sorted(left) == ["chat-3", "chat-4"]


def test_unset_removes_a_rule(tmp_path: Path) -> None:
    url = log_with_old_sessions(tmp_path, 0, 1)
    invoke("--db", url, "retention", "set", "--days", "9", "--user-id", "alice")
    removed = invoke("--db", url, "retention", "unset", "--user-id", "alice")
    assert "rule removed" in removed.stdout
    assert (
        json.loads(invoke("--db", url, "retention", "show", "--json").stdout)[0][
            "rules"
        ]
        == []
    )


def test_apply_keeps_a_session_whose_purge_fails_goes_on_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = log_with_old_sessions(tmp_path, 3, 0)
    invoke("--db", url, "retention", "set", "--days", "30", "--action", "purge")
    purge = SessionRepository.purge

    def locked_for_one(
        self: SessionRepository, session_id: str, **kwargs: Any
    ) -> PurgeReport:
        if session_id == "chat-1":
            raise StorageUnavailable("purge streams: database is locked")
        return purge(self, session_id, **kwargs)

    monkeypatch.setattr(SessionRepository, "purge", locked_for_one)
    done = invoke("--db", url, "retention", "apply")

    assert done.exit_code == 3, done.stdout + done.stderr
    assert "expired 2 session(s)" in done.stdout
    assert "failed chat-1" in done.stdout
    assert "failed to expire 1 session(s)" in done.stderr
    with sessiontrail.connect(url) as trail:
        assert [s.session_id for s in trail.sessions.list().items] == ["chat-1"]
