"""`sessiontrail demo`, the README's main job, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sessiontrail
from sessiontrail.demo import DEMO_ID, DEMO_USER


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from sessiontrail.cli import main; main()", *args]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_demo_records_both_writers_and_prints_the_merge(tmp_path: Path) -> None:
    result = run_cli("demo", cwd=tmp_path)  # default URL: sqlite:///sessiontrail.db
    assert result.returncode == 0, result.stderr
    assert "recorded demo-trip" in result.stdout
    for text in ("Lisbon weekend", "Audit timeline", "alice@web", "TokenUsageRecorded"):
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


def test_demo_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = run_cli("--db", url, "demo", cwd=tmp_path)
    second = run_cli("--db", url, "demo", cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    assert "already recorded" in second.stdout
    with sessiontrail.connect(url) as trail:
        assert len(trail.sessions.history(DEMO_ID)) == 10


def test_a_bad_url_is_one_clear_error_line(tmp_path: Path) -> None:
    result = run_cli("--db", "mysql://nope", "demo", cwd=tmp_path)
    assert result.returncode == 1
    assert "unsupported database URL" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
