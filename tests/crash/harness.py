"""kill -9 a writer at random moments, then check the store it left behind."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sessiontrail

CHILD = Path(__file__).with_name("child.py")


@dataclass
class Report:
    kills: int = 0
    acknowledged: int = 0
    stored_pairs: int = 0
    problems: list[str] = field(default_factory=list)


def _run_child_once(url: str, first: int, rng: random.Random) -> list[tuple[str, int]]:
    """Start a writer, kill -9 it at a random moment, return what it acknowledged."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(first)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        child.kill()
        raise RuntimeError(f"writer did not start: {child.stderr.read()}")
    acks: list[tuple[str, int]] = []

    def read_acks() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            session_id, number = line.split()
            acks.append((session_id, int(number)))

    reader = threading.Thread(target=read_acks)
    reader.start()
    time.sleep(rng.uniform(0.0, 0.3))
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join()
    return acks


def check(url: str, acknowledged: list[tuple[str, int]]) -> tuple[int, list[str]]:
    """Reopen the store and check every promise; returns (stored pairs, problems)."""
    problems = []
    pairs = 0
    with sessiontrail.connect(url) as trail:
        for session_id in sorted({s for s, _ in acknowledged}):
            session = trail.sessions.try_load(session_id)
            if session is None:
                problems.append(f"{session_id}: acknowledged but missing")
                continue
            versions = [entry.version for entry in trail.sessions.history(session_id)]
            if versions != list(range(1, len(versions) + 1)):
                problems.append(f"{session_id}: versions have gaps: {versions}")
            ids = [m.id for m in session.messages]
            if len(ids) != len(set(ids)):
                problems.append(f"{session_id}: a message is stored twice")
            if ids[0::2] != [f"u{i[1:]}" for i in ids[1::2]] or len(ids) % 2:
                problems.append(f"{session_id}: a save was half-written")
            pairs += len(ids) // 2
            present = set(ids)
            for sid, number in acknowledged:
                if sid == session_id and f"a{number}" not in present:
                    problems.append(f"{session_id}: acknowledged pair {number} lost")
            if trail.sessions.messages(session_id).items != session.messages:
                problems.append(f"{session_id}: transcript read model differs")
        problems += _read_model_problems(trail)
    return pairs, problems


def _read_model_problems(trail: sessiontrail.SessionTrail) -> list[str]:
    """Read models left by killed inline writers must equal a replay of the log."""
    names = [status.name for status in trail.projections.status()]
    left = {name: trail.projections.rows(name) for name in names}
    problems = []
    for name in names:
        trail.projections.rebuild(name)
        if trail.projections.rows(name) != left[name]:
            problems.append(f"read model {name} differs from a replay of the log")
    return problems


def run(url: str, kills: int, seed: int = 0) -> Report:
    """`kills` writers killed in turn on one store, then one check of it all."""
    rng = random.Random(seed)
    report = Report()
    acknowledged: list[tuple[str, int]] = []
    first = 0
    for _ in range(kills):
        acks = _run_child_once(url, first, rng)
        acknowledged += acks
        first += len(acks) + 1  # an unacknowledged save may hold the next number
        report.kills += 1
    report.acknowledged = len(acknowledged)
    report.stored_pairs, report.problems = check(url, acknowledged)
    return report
