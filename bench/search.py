"""Search latency against the number of sessions: a rare word and a common word.

    .venv/bin/python bench/search.py [--sessions 10000 100000] [--messages 20]
                                     [--backend sqlite|postgres|both] [--key]
                                     [--quick]

Each log holds sessions of 20 messages each (a start, a title, the messages),
built as real events through the mapper and bulk-inserted many per
transaction; only the session index and the search read model catch up (the
other read models play no part in a search). Every message holds the common
word; the rare word is in one message of RARE_SESSIONS sessions. Timed, as
medians of repeats, interleaved: the first page (50) of `list(text=...)` and
`search(text)` for each word. `--quick`: 1,000 and 5,000 sessions of 5 messages.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from uuid import UUID

from harness import databases, median_ms

import sessiontrail
from sessiontrail.domain.event_model import EventModel
from sessiontrail.domain.session import Session
from sessiontrail.projections.runner import ProjectionRunner
from sessiontrail.projections.search import SealedSearchProjection, SearchProjection
from sessiontrail.projections.sessions import SessionsProjection
from sessiontrail.projections.skips import Skips

INSERT_EVENTS = 20_000
RARE_SESSIONS = 20
COMMON, RARE = "weather", "pelican"
USERS = 100
REPEATS = 15


def fill(trail: sessiontrail.SessionTrail, sessions: int, messages: int) -> float:
    """`sessions` sessions of `messages` messages, bulk-inserted; seconds taken."""
    started = time.perf_counter()
    pending: list[EventModel] = []
    owners: dict[UUID, str | None] = {}
    every = max(1, sessions // RARE_SESSIONS)
    for number in range(sessions):
        user = f"user{number % USERS:03d}"
        session = Session(
            session_id=f"chat-{number:07d}",
            model="gpt-4o",
            user_id=user,
            title=f"chat {number} about topic{number % 97}",
        )
        for turn in range(messages):
            rare = f" and a {RARE}" if turn == 1 and number % every == 0 else ""
            session.append_message(
                role="user" if turn % 2 == 0 else "assistant",
                content=f"turn {turn} of chat {number}: the {COMMON} in "
                f"city{(number + turn) % 1000} is mild{rare}",
            )
        pending += session.collect_events()
        owners[session.id] = user
        if len(pending) >= INSERT_EVENTS:
            trail.store.append_imported(pending, owners)
            pending, owners = [], {}
    trail.store.append_imported(pending, owners)
    return time.perf_counter() - started


def catch_up(trail: sessiontrail.SessionTrail, keyed: bool) -> float:
    """Bring the session index and the search read model to the log's head."""
    search = SealedSearchProjection if keyed else SearchProjection
    runner = ProjectionRunner(
        trail.store, trail.read_models, (SessionsProjection, search), Skips(), "worker"
    )
    started = time.perf_counter()
    runner.catch_up()
    if trail.backend == "postgresql":  # as autovacuum would: the planner's statistics
        with trail.read_models.write() as cur:
            cur.execute("ANALYZE")
    return time.perf_counter() - started


def queries(trail: sessiontrail.SessionTrail) -> dict[str, Callable[[], object]]:
    """The timed calls, by name."""
    repo = trail.sessions
    return {
        f"list {COMMON}": lambda: repo.list(text=COMMON, limit=50),
        f"list {RARE}": lambda: repo.list(text=RARE, limit=50),
        f"list {COMMON} alice": lambda: repo.list(
            text=COMMON, user_id="user007", limit=50
        ),
        f"search {COMMON}": lambda: repo.search(COMMON, limit=20),
        f"search {RARE}": lambda: repo.search(RARE, limit=20),
    }


def measure(
    url: str, sessions: int, messages: int, key: str | None
) -> dict[str, float]:
    """Median milliseconds of each query over a fresh log of `sessions`."""
    with sessiontrail.connect(url, key=key, projections="worker") as trail:
        filled = fill(trail, sessions, messages)
        caught = catch_up(trail, key is not None)
        print(
            f"  filled in {filled:.1f} s, session index and search caught up in "
            f"{caught:.1f} s",
            flush=True,
        )
        calls = queries(trail)
        for call in calls.values():  # warm: caches, the first plan
            call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(3):  # interleaved rounds
            for name, call in calls.items():
                times[name].append(median_ms(call, REPEATS // 3))
        figures = {name: sorted(each)[1] for name, each in times.items()}
        for name, took in figures.items():
            print(f"  {name:<22} {took:8.2f} ms", flush=True)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both"
    )
    parser.add_argument("--key", action="store_true", help="with a master key")
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.sessions, options.messages = [1_000, 5_000], 5
    key = sessiontrail.new_key() if options.key else None
    found: dict[str, dict[int, dict[str, float]]] = {}
    for size in options.sessions:
        for name, url in databases(options.backend):
            print(
                f"{name}: {size:,} sessions x {options.messages} messages, "
                f"key: {bool(key)}",
                flush=True,
            )
            found.setdefault(name, {})[size] = measure(url, size, options.messages, key)
    for name, sizes in found.items():
        smallest, largest = min(sizes), max(sizes)
        for query, took in sizes[largest].items():
            print(
                f"{name}: {query} at {largest:,} sessions: {took:.2f} ms, "
                f"{took / sizes[smallest][query]:.2f}x its time at {smallest:,}"
            )


if __name__ == "__main__":
    main()
