"""`sessiontrail projections ...`: status, rebuild with progress, the worker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import failure, invoke
from support.read_models import each

import sessiontrail
from sessiontrail.projections.sessions import SessionsProjection

WORKER = [sys.executable, "-c", "from sessiontrail.cli import main; main()"]


def seed(url: str, sessions: int) -> None:
    with sessiontrail.connect(url, projections="worker") as trail:
        for number in range(sessions):
            session = trail.sessions.load_or_create(f"s{number}")
            session.append_message(role="user", content="hi")
            trail.sessions.save(session)


def test_status_shows_lag_and_rebuild_catches_up(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    seed(url, 3)

    listed = invoke("--db", url, "projections", "status", "--json")
    assert listed.exit_code == 0, listed.stderr
    statuses = {s["name"]: s for s in json.loads(listed.stdout)}
    assert set(statuses) == {
        *("adk", "audit", "langgraph", "qa", "retention", "search", "sessions"),
        *("title_tokens", "usage"),
    }
    assert statuses["sessions"]["lag"] == 6
    assert statuses["sessions"]["state"] == "behind"

    rebuilt = invoke("--db", url, "projections", "rebuild", "sessions")
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert (
        f"rebuilt sessions v{SessionsProjection.version} at position 6 (lag 0)"
        in rebuilt.stdout
    )
    table = invoke("--db", url, "projections", "status").stdout
    assert "in_sync" in table and "behind" in table  # sessions rebuilt, others not


def test_rebuilding_an_unknown_read_model_fails_cleanly(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    sessiontrail.connect(url).close()
    line = failure("--db", url, "projections", "rebuild", "sessions", "nope")
    assert (
        line == "error: name: no projection 'nope' "
        "(known: adk, audit, langgraph, qa, retention, search, sessions, "
        "title_tokens, usage)"
    )
    status = invoke("--db", url, "projections", "status", "--json")
    assert {s["name"]: s["position"] for s in json.loads(status.stdout)} == each(0)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_follows_writes_and_stops_cleanly(
    tmp_path: Path, stop: signal.Signals
):
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    seed(url, 1)
    worker = subprocess.Popen(
        [*WORKER, "--db", url, "projections", "run", "--poll-interval", "0.05"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seed(url, 4)  # one more message in s0; s1..s3 new: 9 events in all
        with sessiontrail.connect(url, projections="worker") as trail:
            deadline = time.monotonic() + 60
            while trail.projections.sync_status().state != "in_sync":
                assert time.monotonic() < deadline, "the worker did not follow"
                time.sleep(0.05)
            assert len(trail.sessions.list().items) == 4
        worker.send_signal(stop)
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    assert "stopped at position 9" in out
