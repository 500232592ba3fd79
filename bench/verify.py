"""Verify throughput: walking every hash chain, against reading the same rows raw.

    .venv/bin/python bench/verify.py [--sessions 1000] [--messages 20]
                                     [--backend sqlite|postgres|both]

Writes `--sessions` sessions of `--messages` messages (one save each), takes a
checkpoint, then times in the same run: `trail.verify()`, `trail.verify(checkpoint)`
and, as the baseline, one pass over every stream's stored rows through the same
recorder calls without hashing. Prints events/s and the ratio to the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from harness import Figures, main

import sessiontrail
from sessiontrail.infrastructure.log_reader import LogReader
from sessiontrail.infrastructure.verify import PAGE

T = TypeVar("T")


def write(url: str, sessions: int, messages: int) -> None:
    with sessiontrail.connect(url, projections="worker") as trail:
        for number in range(sessions):
            session = trail.sessions.load_or_create(f"chat-{number:06d}")
            for turn in range(messages):
                session.append_message(role="user", content=f"turn {turn} of {number}")
            trail.sessions.save(session)


def raw_pass(trail: sessiontrail.SessionTrail) -> int:
    """Every stored row read once, page by page, nothing checked: the floor."""
    count = 0
    after = None
    reader = LogReader(trail.store)
    while True:
        streams = reader.stream_ids(after, PAGE)
        for stream in streams:
            version = 0
            while True:
                rows = reader.records(stream, after=version, limit=PAGE)
                count += len(rows)
                if len(rows) < PAGE:
                    break
                version = rows[-1].originator_version
        if len(streams) < PAGE:
            return count
        after = streams[-1]


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def measure(url: str, sessions: int, messages: int) -> tuple[list[str], Figures]:
    write(url, sessions, messages)
    with sessiontrail.connect(url, projections="worker") as trail:
        checkpoint, taking = timed(trail.checkpoint)
        rows, raw = timed(lambda: raw_pass(trail))
        report, plain = timed(trail.verify)
        anchored, against = timed(lambda: trail.verify(checkpoint))
        assert report.ok and anchored.ok
    events = report.events
    figures = {
        "events": events,
        "raw_rows_per_s": rows / raw,
        "verify_events_per_s": events / plain,
        "verify_since_events_per_s": events / against,
    }
    lines = [
        f"  {events} events in {sessions + 1} streams; checkpoint took {taking:.2f} s",
        f"  raw pass over the rows: {rows / raw:>10,.0f} rows/s",
        f"  verify:                 {events / plain:>10,.0f} events/s "
        f"({plain / raw:.2f}x the raw pass)",
        f"  verify --since:         {events / against:>10,.0f} events/s "
        f"({against / raw:.2f}x the raw pass)",
    ]
    return lines, figures


if __name__ == "__main__":
    main(measure, sessions=1000, messages=20)
