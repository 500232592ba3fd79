"""Database URLs: what each configures; nothing leaks through os.environ."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import sessiontrail
from sessiontrail import InvalidInput, StorageUnavailable
from sessiontrail.infrastructure.backends import parse_url
from sessiontrail.infrastructure.backends.postgres_store import postgres_bounds
from sessiontrail.infrastructure.settings import resolve_url


def test_sqlite_urls_name_relative_and_absolute_files() -> None:
    assert parse_url("sqlite:///trail.db").env["SQLITE_DBNAME"] == "trail.db"
    absolute = parse_url("sqlite:////var/lib/trail.db?lock_timeout=30")
    assert absolute.env["SQLITE_DBNAME"] == "/var/lib/trail.db"
    assert absolute.env["SQLITE_LOCK_TIMEOUT"] == "30"
    fractional = parse_url("sqlite:///trail.db?lock_timeout=0.3").env
    assert fractional["SQLITE_LOCK_TIMEOUT"] == "1"  # eventsourcing's whole seconds


def test_postgres_url_sets_pool_and_lock_timeout() -> None:
    settings = parse_url("postgresql://bob:s%40cret@db.example:6543/trails?pool_size=8")
    assert settings.backend == "postgresql"
    assert settings.env["POSTGRES_HOST"] == "db.example"
    assert settings.env["POSTGRES_PORT"] == "6543"
    assert settings.env["POSTGRES_USER"] == "bob"
    assert settings.env["POSTGRES_PASSWORD"] == "s@cret"
    assert settings.env["POSTGRES_DBNAME"] == "trails"
    assert settings.env["POSTGRES_POOL_SIZE"] == "8"
    assert int(settings.env["POSTGRES_LOCK_TIMEOUT"]) > 0


def test_postgres_connections_are_bounded_by_default() -> None:
    env = parse_url("postgresql://bob@db.example/trails").env
    assert postgres_bounds(env) == {
        "statement_timeout": 30_000,
        "lock_timeout": 5_000,
        "idle_in_transaction_session_timeout": 10_000,
    }


def test_postgres_bounds_take_fractional_seconds_from_the_url() -> None:
    env = parse_url(
        "postgresql://bob@db.example/trails?statement_timeout=2.5"
        "&lock_timeout=.25&idle_in_transaction_timeout=7."
    ).env
    assert postgres_bounds(env) == {
        "statement_timeout": 2_500,
        "lock_timeout": 250,
        "idle_in_transaction_session_timeout": 7_000,
    }


@pytest.mark.parametrize(
    "option",
    [
        "statement_timeout=0",
        "lock_timeout=0.0001",
        "idle_in_transaction_timeout=-1",
        "statement_timeout=1e3",
        "lock_timeout=soon",
        "statement_timeout=90000",
    ],
)
def test_a_postgres_bound_that_is_none_or_no_number_is_refused(option: str) -> None:
    name = option.split("=")[0]
    with pytest.raises(InvalidInput, match=f"option {name} must be a number of sec"):
        parse_url(f"postgresql://bob@db.example/trails?{option}")


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h/db?connect_timeout=0"],
)
def test_a_whole_second_bound_of_zero_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="whole number of seconds, at least 1"):
        parse_url(url)


@pytest.mark.parametrize("value", ["0", "0.0001", "soon", "1e3", "90000"])
def test_a_sqlite_lock_timeout_that_is_none_or_no_number_is_refused(
    value: str,
) -> None:
    with pytest.raises(InvalidInput, match="option lock_timeout must be a number of"):
        parse_url(f"sqlite:///x.db?lock_timeout={value}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unsupported database URL"),
        ("sqlite://", "names no file"),
        ("sqlite://host/file.db", "names no file"),
        ("sqlite:///x.db?bogus=1", "unknown option"),
        ("sqlite:///x.db?lock_timeout=soon", "number of seconds"),
        ("postgresql://u@h:99999/db", "invalid port"),
        ("postgresql://u@h/", "names no database"),
        ("memory://x?pool_size=3", "unknown option"),
        ("postgresql://u@h/db?prepared_statements=no", "prepared_statements must be"),
    ],
)
def test_unusable_urls_are_invalid_input(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        sessiontrail.connect(url)


def test_default_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSIONTRAIL_URL", "memory://from-env")
    assert resolve_url(None) == "memory://from-env"
    monkeypatch.delenv("SESSIONTRAIL_URL")
    assert resolve_url(None) == "sqlite:///sessiontrail.db"


def test_connect_without_url_uses_sqlite_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSIONTRAIL_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with sessiontrail.connect() as trail:
        trail.sessions.save(trail.sessions.load_or_create("x"))
    assert (tmp_path / "sessiontrail.db").exists()


def test_eventsourcing_settings_never_come_from_or_go_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    monkeypatch.setenv("SQLITE_DBNAME", str(tmp_path / "wrong.db"))
    before = dict(os.environ)
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'right.db'}") as trail:
        trail.sessions.save(trail.sessions.load_or_create("x"))
    assert dict(os.environ) == before
    assert (tmp_path / "right.db").exists() and not (tmp_path / "wrong.db").exists()


def test_sqlite_files_are_durable_write_ahead_logs(tmp_path: Path) -> None:
    with sessiontrail.connect(f"sqlite:///{tmp_path / 't.db'}") as trail:
        trail.sessions.save(trail.sessions.load_or_create("x"))
        with trail.store.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
    assert (journal, synchronous) == ("wal", 2)  # 2 = FULL: every commit is fsynced


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}/missing-dir/t.db",
        "postgresql://nobody@/nowhere?host={tmp}&connect_timeout=2",
    ],
)
def test_an_unreachable_database_is_storage_unavailable(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(sessiontrail.StorageUnavailable):
        sessiontrail.connect(url.format(tmp=tmp_path))


def test_a_password_never_shows_in_the_url_or_its_errors() -> None:
    settings = parse_url("postgresql://trail:s3cret@db.internal:5432/chats?pool_size=3")
    assert settings.url == "postgresql://trail:***@db.internal:5432/chats?pool_size=3"
    assert settings.env["POSTGRES_PASSWORD"] == "s3cret"
    for bad in (
        "postgresql://trail:s3cret@db.internal:99999/chats",
        "postgresql://trail:s3cret@db.internal:5432/",
        "postgresql://trail:s3cret@db.internal:5432/chats?colour=red",
    ):
        with pytest.raises(InvalidInput) as raised:
            parse_url(bad)
        assert "s3cret" not in str(raised.value) and "***" in str(raised.value)
    with pytest.raises(StorageUnavailable) as down:
        sessiontrail.connect(
            "postgresql://trail:s3cret@127.0.0.1:1/chats?connect_timeout=1"
        )
    assert "s3cret" not in str(down.value)


def test_appends_commit_on_a_connection_that_fsyncs_every_commit(
    tmp_path: Path,
) -> None:
    with sessiontrail.connect(f"sqlite:///{tmp_path / 't.db'}") as trail:
        trail.sessions.save(trail.sessions.load_or_create("x"))
        pool = trail.store.recorder.datastore.pool
        connection = pool.appending()  # the connection every save appends on
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
        finally:
            pool.appended()
    assert synchronous == 2  # FULL


def test_a_save_after_the_trail_closed_is_storage_unavailable(tmp_path: Path) -> None:
    trail = sessiontrail.connect(f"sqlite:///{tmp_path / 't.db'}")
    session = trail.sessions.load_or_create("x")
    trail.sessions.save(session)
    trail.close()
    session.append_message(role="user", content="late")
    with pytest.raises(StorageUnavailable, match="closed"):
        trail.sessions.save(session)


def test_a_save_waits_for_the_appending_connection_a_bounded_time(
    tmp_path: Path,
) -> None:
    """Another thread's append holding the connection appends use: a save waits
    the pool's timeout, then fails as a storage error with nothing written."""
    with sessiontrail.connect(f"sqlite:///{tmp_path / 't.db'}") as trail:
        session = trail.sessions.load_or_create("x")
        trail.sessions.save(session)
        pool = trail.store.recorder.datastore.pool
        pool.pool_timeout = 0.2
        pool.appending()  # held, as by an append in progress elsewhere
        session.append_message(role="user", content="waits")
        try:
            with pytest.raises(StorageUnavailable, match="timed out waiting"):
                trail.sessions.save(session)
        finally:
            pool.appended()
        assert trail.sessions.load_merged("x").message_count == 0


@pytest.mark.parametrize("projections", ["inline", "worker"])
def test_a_save_whose_last_event_cannot_be_stored_stores_none_of_them(
    tmp_path: Path, projections: sessiontrail.Mode
) -> None:
    path = tmp_path / "t.db"
    with sessiontrail.connect(f"sqlite:///{path}", projections=projections) as trail:
        session = trail.sessions.load_or_create("x")
        trail.sessions.save(session)  # version 1
        with sqlite3.connect(path) as db:  # the third record's insert fails
            db.execute(
                "CREATE TRIGGER refuse_third BEFORE INSERT ON stored_events "
                "WHEN NEW.originator_version = 3 "
                "BEGIN SELECT json('not json'); END"
            )
        session.append_message(role="user", content="second")
        session.append_message(role="user", content="third")
        with pytest.raises(StorageUnavailable):
            trail.sessions.save(session)
        assert trail.store.stream_version(session.id) == 1
        assert len(session.pending_events) == 2
