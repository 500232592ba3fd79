"""Functions that run in child processes (spawn needs them importable by name)."""

from __future__ import annotations

import multiprocessing.queues
import multiprocessing.synchronize
import threading
from typing import Literal

import sessiontrail
from sessiontrail.infrastructure.log_position import LogPosition


def append_messages(url: str, session_id: str, contents: list[str]) -> int:
    """Open a trail of its own, save one message at a time; return the last version."""
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create(session_id)
        for content in contents:
            session.append_message(role="user", content=content)
            trail.sessions.save(session)
        return session.version


def race_appends(
    url: str,
    session_id: str,
    writer: str,
    count: int,
    start: threading.Barrier | multiprocessing.synchronize.Barrier,
    trail: sessiontrail.SessionTrail | None = None,
) -> list[str]:
    """Wait at the barrier, then append `count` messages one save at a time.

    Uses `trail` when given (threads sharing one), else opens its own. Returns the
    contents it saw acknowledged; no retry here: save must merge on its own.
    """
    own = trail is None
    opened = sessiontrail.connect(url) if trail is None else trail
    try:
        session = opened.sessions.load_or_create(session_id)
        start.wait(timeout=60)
        acknowledged = []
        for i in range(count):
            content = f"{writer}-{i:04d}"
            session.append_message(role="user", content=content)
            opened.sessions.save(session)
            acknowledged.append(content)
        return acknowledged
    finally:
        if own:
            opened.close()


def race_appends_in_process(
    url: str,
    session_id: str,
    writer: str,
    count: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[tuple[str, list[str] | str]],
) -> None:
    """`race_appends` in a child process, reporting back over a queue."""
    try:
        results.put((writer, race_appends(url, session_id, writer, count, start)))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((writer, f"{type(exc).__name__}: {exc}"))


def race_in_processes(
    url: str, session_ids: list[str], count: int, timeout: float = 300
) -> list[list[str] | str]:
    """One spawned writer per id, released together; each one's acks (or its error)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(session_ids))
    results: multiprocessing.queues.Queue[tuple[str, list[str] | str]] = context.Queue()
    writers = [
        context.Process(
            target=race_appends_in_process,
            args=(url, session_id, f"w{n}", count, start, results),
        )
        for n, session_id in enumerate(session_ids)
    ]
    for writer in writers:
        writer.start()
    reports = dict(results.get(timeout=timeout) for _ in writers)
    for writer in writers:
        writer.join(timeout=60)
    return [reports[f"w{n}"] for n in range(len(session_ids))]


def open_at_once(
    url: str,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[str],
) -> None:
    """Wait at the barrier, then open the store and save one message; report back."""
    start.wait(timeout=60)
    try:
        with sessiontrail.connect(url) as trail:
            session = trail.sessions.load_or_create("opened")
            session.append_message(role="user", content="hello")
            trail.sessions.save(session)
        results.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(f"{type(exc).__name__}: {exc}")


def catch_up_in_worker(url: str) -> None:
    """Open a worker-mode trail and apply the whole backlog (killed by the test)."""
    with sessiontrail.connect(url, projections="worker") as trail:
        trail.projections.catch_up()


def append_without_read_models(
    url: str,
    session_id: str,
    count: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[str],
) -> None:
    """Append `count` messages, one save each, from a worker-mode trail; report."""
    _append_reporting(url, "worker", session_id, count, start, results)


def append_reading_own_writes(
    url: str,
    session_id: str,
    count: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[str],
) -> None:
    """Append `count` messages from an inline trail, one save each, and after each
    save check in the read models' registry (no catch-up on the way) that every
    read model is at or past the save's last event; report."""
    _append_reporting(url, "inline", session_id, count, start, results)


def _append_reporting(
    url: str,
    mode: Literal["inline", "worker"],
    session_id: str,
    count: int,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[str],
) -> None:
    """Wait at the barrier, append one message per save; report "ok" or what
    failed (inline: also a save that returned before its read models had it)."""
    try:
        with sessiontrail.connect(url, projections=mode) as trail:
            committed: list[LogPosition] = []
            trail.store.on_commit(lambda events: committed.append(events[-1][0]))
            session = trail.sessions.load_or_create(session_id, user_id="racer")
            start.wait(timeout=60)
            for number in range(count):
                session.append_message(role="user", content=f"{session_id}/{number}")
                trail.sessions.save(session)
                behind = [] if mode == "worker" else lagging(trail, committed[-1])
                if behind:
                    raise AssertionError(f"save {number} not yet in {behind}")
        results.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(f"{type(exc).__name__}: {exc}")


def lagging(trail: sessiontrail.SessionTrail, position: LogPosition) -> list[str]:
    """The read models whose registry row is before `position` (read as it is:
    no catch-up on the way)."""
    with trail.read_models.read() as cur:
        rows = cur.execute(
            "SELECT name, transaction_id, notification_id FROM st_projections"
        ).fetchall()
    return [name for name, *at in rows if LogPosition(*at) < position]


TRANSCRIPTS = (
    [{"role": "user", "content": f"old {n}"} for n in range(30)],
    [{"role": "user", "content": f"new {n}"} for n in range(20)],
)
"""Two transcripts that diverge at the first message: each save rewrites it all."""


def overwrite_transcripts_forever(url: str) -> None:
    """Alternate `transcripts.save` between the two lists until killed."""
    with sessiontrail.connect(url) as trail:
        print("ready", flush=True)
        turn = 0
        while True:
            trail.transcripts.save("flip", TRANSCRIPTS[turn % 2])
            turn += 1
