"""Encryption at rest: sealed payloads on every backend, clear errors for keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import failure, invoke

import sessiontrail
from sessiontrail import InvalidInput, KeyRequired, SessionTrail
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.chain import unframe
from sessiontrail.infrastructure.mapper import COMPRESSED, ENCRYPTED

MARKER = "zebra-crossing-4711"


def write(trail: SessionTrail, session_id: str, content: str = MARKER) -> None:
    session = trail.sessions.load_or_create(session_id, user_id="alice")
    session.append_message(role="user", content=content)
    session.edit_title(f"title {MARKER}")
    trail.sessions.save(session)


def stored_states(trail: SessionTrail, session_id: str) -> list[bytes]:
    records = trail.store.recorder.select_events(stream_id(session_id))
    return [record.state for record in records]


def test_payloads_are_sealed_and_read_back(url: str) -> None:
    key = sessiontrail.new_key()
    with sessiontrail.connect(url, key=key) as trail:
        write(trail, "secret", MARKER * 50)  # big enough to be compressed too
        states = stored_states(trail, "secret")
        assert states and all(MARKER.encode() not in state for state in states)
        flags = [unframe(state)[1][0] for state in states]
        assert all(flag & ENCRYPTED for flag in flags)
        assert any(flag & COMPRESSED for flag in flags)
    with sessiontrail.connect(url, key=key) as again:
        session = again.sessions.load("secret")
        assert session.messages[0].content == MARKER * 50
        assert session.title == f"title {MARKER}"
        assert again.verify().ok


def test_a_wrong_or_missing_key_is_a_clear_error(url: str) -> None:
    with sessiontrail.connect(url, key=sessiontrail.new_key()) as trail:
        write(trail, "secret")
        with pytest.raises(KeyRequired, match="does not open this log"):
            sessiontrail.connect(url, key=sessiontrail.new_key())
        with pytest.raises(KeyRequired, match="this log is encrypted: give its key"):
            sessiontrail.connect(url)


def test_malformed_keys_are_refused_without_echoing_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    for bad, expected in [("not base64!", "not base64"), ("c2hvcnQ=", "5 bytes")]:
        with pytest.raises(InvalidInput, match=expected) as caught:
            sessiontrail.connect(url, key=bad)
        assert bad not in str(caught.value)
    assert not (tmp_path / "k.db").exists()  # nothing was created


def test_a_plaintext_log_takes_a_key_later(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    with sessiontrail.connect(url) as trail:
        write(trail, "before")
    key = sessiontrail.new_key()
    with sessiontrail.connect(url, key=key) as trail:
        write(trail, "after")
        assert trail.sessions.load("before").messages[0].content == MARKER
        assert not any(
            unframe(s)[1][0] & ENCRYPTED for s in stored_states(trail, "before")
        )
        assert all(unframe(s)[1][0] & ENCRYPTED for s in stored_states(trail, "after"))
        assert trail.verify().ok
    with pytest.raises(KeyRequired):
        sessiontrail.connect(url)


def test_the_cli_takes_the_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    key = sessiontrail.new_key()
    with sessiontrail.connect(url, key=key) as trail:
        write(trail, "secret")
    assert "this log is encrypted" in failure("--db", url, "show", "secret")
    monkeypatch.setenv("SESSIONTRAIL_KEY", key)
    shown = invoke("--db", url, "show", "secret")
    assert shown.exit_code == 0 and MARKER in shown.stdout
