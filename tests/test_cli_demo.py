"""`sessiontrail demo`, the README's main job, run as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import failure, invoke

import sessiontrail
from sessiontrail.cli.demo import DEMO_ID, DEMO_USER


def test_demo_records_both_writers_and_prints_the_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSIONTRAIL_URL", raising=False)
    result = invoke("demo")  # default URL: sqlite:///sessiontrail.db
    assert result.exit_code == 0, result.stderr
    assert "recorded demo-trip" in result.stdout
    for text in (
        "Lisbon weekend",
        "Audit timeline",
        "alice@web",
        "TokenUsageRecorded",
        "Q&A: What is the weather in Lisbon on Saturday? → Sunny and 22°C.",
        "trace turn-1: weather ok",
    ):
        assert text in result.stdout
    with sessiontrail.connect(f"sqlite:///{tmp_path / 'sessiontrail.db'}") as trail:
        session = trail.sessions.load(DEMO_ID, user_id=DEMO_USER)
        assert session is not None
        assert (session.title, session.pinned) == ("Lisbon weekend", True)
        assert [m.role for m in session.messages] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
        ]
        assert session.pending_question is not None
        assert session.token_usage == [
            {"model": "gpt-4o", "input_tokens": 812, "output_tokens": 64}
        ]
        actors = {entry.actor for entry in trail.sessions.history(DEMO_ID)}
        assert actors == {"runtime", "alice@web"}
        [entry] = trail.qa.get_all_qa_entries(DEMO_ID, user_id=DEMO_USER)
        assert entry.answer == "Sunny and 22°C."
        [step] = trail.qa.get_agent_trace_steps(DEMO_USER, DEMO_ID)
        assert (step.origin_function, step.method_params) == (
            "weather",
            {"city": "Lisbon"},
        )


def test_demo_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = invoke("--db", url, "demo")
    second = invoke("--db", url, "demo")
    assert first.exit_code == second.exit_code == 0
    assert "already recorded" in second.stdout
    with sessiontrail.connect(url) as trail:
        assert len(trail.sessions.history(DEMO_ID)) == 10
        assert len(trail.qa.get_all_qa_entries(DEMO_ID, user_id=DEMO_USER)) == 1


def test_a_bad_url_is_one_clear_error_line() -> None:
    assert "unsupported database URL" in failure("--db", "mysql://nope", "demo")
