"""Encryption at rest: sealed payloads on every backend, clear errors for keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from support.cli import failure, invoke

import sessiontrail
from sessiontrail import InvalidInput, KeyRequired, SessionTrail
from sessiontrail.domain.personal import SEALED
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.chain import unframe
from sessiontrail.infrastructure.mapper import COMPRESSED, ENCRYPTED, PydanticMapper
from sessiontrail.infrastructure.user_keys import PACKED

MARKER = "zebra-crossing-4711"


def write(trail: SessionTrail, session_id: str, content: str = MARKER) -> None:
    session = trail.sessions.load_or_create(session_id, user_id="alice")
    session.append_message(role="user", content=content)
    session.edit_title(f"title {MARKER}")
    trail.sessions.save(session)


def stored_states(trail: SessionTrail, session_id: str) -> list[bytes]:
    records = trail.store.recorder.select_events(stream_id(session_id))
    return [record.state for record in records]


def sealed_message(trail: SessionTrail, session_id: str) -> dict[str, Any]:
    """The sealed value of the session's first message, as its record stores it."""
    for record in trail.store.recorder.select_events(stream_id(session_id)):
        state = cast(PydanticMapper, trail.store.mapper)._decoded(record)
        if "message" in state:
            return cast(dict[str, Any], state["message"][SEALED])
    raise AssertionError("no message recorded")


def test_payloads_are_sealed_and_read_back(url: str) -> None:
    key = sessiontrail.new_key()
    with sessiontrail.connect(url, key=key) as trail:
        write(trail, "secret", MARKER * 50)  # big enough to be compressed too
        states = stored_states(trail, "secret")
        assert states and all(MARKER.encode() not in state for state in states)
        flags = [unframe(state)[1][0] for state in states]
        assert all(flag & ENCRYPTED for flag in flags)
        assert sealed_message(trail, "secret")[PACKED] == 1  # compressed, then sealed
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


def test_a_record_holding_sealed_fields_is_not_compressed_whole(url: str) -> None:
    """Ciphertext does not compress: the sealed values were compressed (when that
    paid) before they were sealed, so the record is not tried again."""
    with sessiontrail.connect(url) as trail:
        write(trail, "secret", MARKER * 50)
        flags = [unframe(state)[1][0] for state in stored_states(trail, "secret")]
        assert not any(flag & COMPRESSED for flag in flags)
        assert sealed_message(trail, "secret")[PACKED] == 1
        assert len(sealed_message(trail, "secret")["c"]) < len(MARKER * 50)
        trail.sessions._cache.clear()
        assert trail.sessions.load("secret").messages[0].content == MARKER * 50


def test_a_short_sealed_message_is_sealed_as_it_is(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        write(trail, "secret")
        assert PACKED not in sealed_message(trail, "secret")
        trail.sessions._cache.clear()
        assert trail.sessions.load("secret").messages[0].content == MARKER


def test_a_record_without_sealed_fields_is_compressed_whole(url: str) -> None:
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("anonymous")  # no user: no seal
        session.append_message(role="user", content=MARKER * 50)
        trail.sessions.save(session)
        flags = [unframe(s)[1][0] for s in stored_states(trail, "anonymous")]
        assert any(flag & COMPRESSED for flag in flags)
