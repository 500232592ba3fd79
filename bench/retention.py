"""Retention sweeps: `retention apply` costs the sessions it expires, not the log.

    .venv/bin/python bench/retention.py [--quick] [--backend sqlite|postgres|both]
                                        [--action purge|delete] [--sessions N]
                                        [--expired N] [--sizes SMALL LARGE]

1. Headline: SESSIONS sessions (a start and one message each), a tenth of them
   last updated 40 days ago; a global 30-day rule. Times `apply --dry-run` (the
   index ranges alone) and `apply`: seconds, ms per expired session.
   On SQLite, the file's size before, after the sweep and after `compact`.
2. Cost against log size: the same EXPIRED expired sessions in a log of SMALL
   events and in one of LARGE events (the rest recent sessions of ten events);
   ms per expired session in each and their ratio (target: <= 2x).

Logs are built as real events through the mapper (chained, per-user sealing)
and bulk-inserted many per transaction, as bench/erasure.py does; the read
models catch up once before any timing. Every page of a sweep is timed through
its progress callback: ms per session is the median over pages (one sweep
cannot be repeated on the same log), with the total beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from uuid import UUID

from freezegun import freeze_time
from harness import databases, events_of

import sessiontrail
from sessiontrail.domain.event_model import EventModel
from sessiontrail.domain.retention import Action
from sessiontrail.domain.session import Session

INSERT_EVENTS = 20_000
BATCH = 100


def sessions_of(
    prefix: str, count: int, messages: int, days_ago: float
) -> list[tuple[list[EventModel], UUID, str]]:
    """`count` sessions of `messages` messages, stamped `days_ago` days ago."""
    made = []
    with freeze_time(datetime.now(UTC) - timedelta(days=days_ago)):
        for number in range(count):
            user = f"user{number % 1000:04d}"
            session = Session(session_id=f"{prefix}-{number:07d}", user_id=user)
            for turn in range(messages):
                session.append_message(role="user", content=f"turn {turn} of {number}")
            made.append((events_of(session), session.id, user))
    return made


def insert(
    trail: sessiontrail.SessionTrail, made: list[tuple[list[EventModel], UUID, str]]
) -> None:
    """Bulk-insert the sessions' events, INSERT_EVENTS per transaction."""
    pending: list[EventModel] = []
    owners: dict[UUID, str | None] = {}
    for events, stream, user in made:
        pending += events
        owners[stream] = user
        if len(pending) >= INSERT_EVENTS:
            trail.store.append_imported(pending, owners)
            pending, owners = [], {}
    trail.store.append_imported(pending, owners)


def build(
    url: str, expired: int, expired_messages: int, total_events: int, kept_messages: int
) -> float:
    """A log of `total_events` events: `expired` old sessions, the rest recent
    ones; read models caught up. Seconds taken."""
    started = time.perf_counter()
    with sessiontrail.connect(url, projections="worker") as trail:
        insert(trail, sessions_of("old", expired, expired_messages, 40))
        kept = (total_events - expired * (1 + expired_messages)) // (1 + kept_messages)
        for start in range(0, kept, 10_000):
            chunk = sessions_of(
                f"new{start}", min(10_000, kept - start), kept_messages, 1
            )
            insert(trail, chunk)
        trail.projections.catch_up()
    return time.perf_counter() - started


def sweep(url: str, action: Action, dry_run: bool) -> tuple[float, int, list[float]]:
    """(seconds, sessions expired, ms per session of each page) of one apply."""
    with sessiontrail.connect(url) as trail:
        trail.retention.set(30, action=action, actor="bench")
        marks: list[tuple[float, int]] = [(time.perf_counter(), 0)]
        started = marks[0][0]
        report = trail.retention.apply(
            dry_run=dry_run,
            batch=BATCH,
            progress=lambda done, total: marks.append((time.perf_counter(), done)),
        )
        took = time.perf_counter() - started
    pages = [
        (later - earlier) * 1000 / (done - before)
        for (earlier, before), (later, done) in pairwise(marks)
        if done > before
    ]
    return took, len(report.expired), pages


def file_mb(url: str) -> float:
    """The SQLite file's size with its write-ahead log, in MB (0 elsewhere)."""
    if not url.startswith("sqlite:///"):
        return 0.0
    path = Path(url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1e6


def headline(url: str, sessions: int, action: Action) -> None:
    expired = sessions // 10
    built = build(url, expired, 1, sessions * 2, 1)
    print(f"  built {sessions:,} sessions ({expired:,} expired) in {built:.1f} s")
    before = file_mb(url)
    for dry_run in (True, False):
        took, count, pages = sweep(url, action, dry_run)
        what = "apply --dry-run" if dry_run else f"apply ({action})"
        print(
            f"  {what}: {count:,} sessions in {took:.2f} s, "
            f"{took * 1000 / max(count, 1):.3f} ms per expired session "
            f"(median page {statistics.median(pages):.3f} ms/session)",
            flush=True,
        )
    if before:
        after = file_mb(url)
        with sessiontrail.connect(url) as trail:
            started = time.perf_counter()
            trail.compact()
            took = time.perf_counter() - started
        print(
            f"  file: {before:.1f} MB before, {after:.1f} MB after apply, "
            f"{file_mb(url):.1f} MB after compact ({took:.2f} s)"
        )


def against_log_size(
    backend: str, expired: int, sizes: list[int], action: Action
) -> None:
    per_session: dict[int, float] = {}
    for size in sizes:
        for name, url in databases(backend):
            built = build(url, expired, 1, size, 9)
            took, count, pages = sweep(url, action, False)
            per_session[size] = statistics.median(pages)
            print(
                f"  {name}, log of {size:,} events (built in {built:.0f} s): "
                f"{count:,} expired in {took:.2f} s, median page "
                f"{per_session[size]:.3f} ms/session, total "
                f"{took * 1000 / max(count, 1):.3f} ms/session",
                flush=True,
            )
    small, large = min(per_session), max(per_session)
    print(
        f"  ms per expired session, {large:,} vs {small:,} events: "
        f"{per_session[large] / per_session[small]:.2f}x (target <= 2x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="sqlite"
    )
    parser.add_argument("--action", choices=("purge", "delete"), default="purge")
    parser.add_argument("--sessions", type=int, help="headline size (0: skip it)")
    parser.add_argument("--expired", type=int, help="expired sessions, run 2")
    parser.add_argument("--sizes", type=int, nargs=2, help="log sizes, run 2")
    options = parser.parse_args()
    action: Action = "purge" if options.action == "purge" else "delete"
    sessions = options.sessions
    if sessions is None:
        sessions = 500 if options.quick else 100_000
    expired = options.expired or (50 if options.quick else 5_000)
    sizes = options.sizes or (
        [2_000, 20_000] if options.quick else [100_000, 1_000_000]
    )
    for name, url in databases(options.backend) if sessions else ():
        print(f"{name}: {sessions:,} sessions, a tenth expired, action {action}")
        headline(url, sessions, action)
    print(f"cost against log size: {expired:,} expired sessions")
    against_log_size(options.backend, expired, sizes, action)


if __name__ == "__main__":
    main()
