"""An import writes only what the commands could have written, and only what it
checked: no id a stream already holds, no session that reads like another's,
no line of a file changed after its check."""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from sessiontrail import InvalidInput, Session, SessionTrail
from sessiontrail.transfer.planning import ImportPlanner

Line = dict[str, Any]


def exported(trail: SessionTrail, session_id: str) -> list[Line]:
    out = io.StringIO()
    trail.exporter.write(out, [session_id])
    return [json.loads(line) for line in out.getvalue().splitlines()]


def renamed(lines: list[Line], session_id: str) -> list[Line]:
    """The lines as another session's (the stream follows its id)."""
    for line in lines:
        line["session_id"] = session_id
        if "session_id" in line["payload"]:
            line["payload"]["session_id"] = session_id
        if "entry" in line["payload"]:
            line["payload"]["entry"]["session_id"] = session_id
    return lines


def written(path: Path, lines: list[Line]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def saved(trail: SessionTrail, session_id: str, user_id: str, *ids: str) -> None:
    session = Session(session_id=session_id, user_id=user_id)
    for message_id in ids:
        session.append_message(role="user", content=f"text {message_id}", id=message_id)
    trail.sessions.save(session)


def test_a_message_id_already_in_the_transcript_is_refused_and_nothing_written(
    trail: SessionTrail, tmp_path: Path
) -> None:
    saved(trail, "base", "mal", "m1", "m2")
    lines = renamed(exported(trail, "base"), "copy")
    lines[-1]["payload"]["message"]["id"] = "m1"  # the API refuses this append
    with pytest.raises(InvalidInput, match=r"line 3: .*payload\.message\.id: 'm1'"):
        trail.importer.import_file(written(tmp_path / "dup.jsonl", lines))
    assert trail.sessions.load("copy") is None


def test_a_message_id_used_again_after_a_truncation_removed_it_imports(
    trail: SessionTrail, tmp_path: Path
) -> None:
    saved(trail, "base", "mal", "m1", "m2")
    session = trail.sessions.load("base")
    assert session is not None
    session.truncate(1)
    session.append_message(role="user", content="again", id="m2")
    trail.sessions.save(session)
    lines = renamed(exported(trail, "base"), "copy")
    trail.importer.import_file(written(tmp_path / "again.jsonl", lines))
    copy = trail.sessions.load("copy")
    assert copy is not None
    assert [m.content for m in copy.messages] == ["text m1", "again"]


def test_a_qa_entry_id_already_in_the_stream_is_refused_and_nothing_written(
    trail: SessionTrail, tmp_path: Path
) -> None:
    saved(trail, "base", "mal", "m1")
    trail.qa.create_qa_entry("base", "q", "a", user_id="mal", qa_id="e1")
    lines = renamed(exported(trail, "base"), "copy")
    twice = json.loads(json.dumps(lines[-1]))
    twice["version"] += 1
    lines.append(twice)  # the same entry added again: the API refuses this
    with pytest.raises(InvalidInput, match=r"payload\.entry\.id: 'e1'"):
        trail.importer.import_file(written(tmp_path / "dup.jsonl", lines))
    assert trail.sessions.load("copy") is None
    assert trail.qa.get_all_qa_entries("copy", user_id="mal") == []


def test_an_import_cannot_open_a_session_that_reads_like_one_held(
    trail: SessionTrail, tmp_path: Path
) -> None:
    composed = "Caf\u00e9"
    decomposed = unicodedata.normalize("NFD", composed)
    saved(trail, composed, "alice", "a1")
    saved(trail, "mine", "mal", "m1")
    lines = renamed(exported(trail, "mine"), decomposed)
    path = written(tmp_path / "lookalike.jsonl", lines)
    with pytest.raises(InvalidInput, match=r"session_id: .* another spelling"):
        trail.importer.import_file(path, user_id="mal")
    for spelling in (composed, decomposed):  # both still reach alice's session
        session = trail.sessions.load(spelling)
        assert session is not None
        assert session.user_id == "alice"


def test_an_export_holding_both_spellings_of_an_id_imports_as_it_was(
    trail: SessionTrail, tmp_path: Path
) -> None:
    """Two sessions stored before ids were normalised: history, kept as it is."""
    composed = "Caf\u00e9"
    decomposed = unicodedata.normalize("NFD", composed)
    saved(trail, "one", "alice", "a1")
    saved(trail, "two", "bob", "b1")
    lines = renamed(exported(trail, "one"), composed)
    lines += renamed(exported(trail, "two"), decomposed)
    report = trail.importer.import_file(written(tmp_path / "both.jsonl", lines))
    assert report.written == 4
    owners = {s: trail.sessions.load(s) for s in (composed, decomposed)}
    assert {s: o and o.user_id for s, o in owners.items()} == {
        composed: "alice",
        decomposed: "bob",
    }


def test_a_file_changed_after_its_check_writes_nothing_unchecked(
    trail: SessionTrail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(trail, "base", "mal", "m1")
    good = renamed(exported(trail, "base"), "copy")
    path = written(tmp_path / "changing.jsonl", good)
    bad = json.loads(json.dumps(good))
    bad[-1]["payload"]["message"]["content"] = "x" * 2_000_000  # past the limit
    bad[-1]["user_id"] = bad[0]["user_id"] = bad[0]["payload"]["user_id"] = "alice"
    checked = ImportPlanner.plan

    def then_changed(self: ImportPlanner, records: Any, user_id: Any) -> Any:
        plans = checked(self, records, user_id)
        written(path, bad)  # another program rewrites the file meanwhile
        return plans

    monkeypatch.setattr(ImportPlanner, "plan", then_changed)
    with pytest.raises(InvalidInput, match="file: changed while it was imported"):
        trail.importer.import_file(path)
    assert trail.sessions.load("copy") is None


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"]
)
def test_a_time_utc_cannot_hold_is_refused_naming_the_field(
    trail: SessionTrail, tmp_path: Path, timestamp: str
) -> None:
    """Readers turn times into UTC (the session index, retention): one past
    year 1 or 9999 there would stop them."""
    saved(trail, "base", "mal", "m1")
    lines = renamed(exported(trail, "base"), "copy")
    lines[-1]["timestamp"] = timestamp
    with pytest.raises(InvalidInput, match=r"^line 2: timestamp: .*UTC"):
        trail.importer.import_file(written(tmp_path / "time.jsonl", lines))
    assert trail.sessions.load("copy") is None
