"""Erasure cost against log size: erase one user holding ~100 events in logs of
growing size; the time should follow that user's data, not the log.

    .venv/bin/python bench/erasure.py [--events 10000 1000000]
                                      [--backend sqlite|postgres|both] [--key]

Each log is other users' sessions (a start, eight messages, a usage record),
built as real events through the mapper (sealed with their users' keys, hashed
into their chains) and bulk-inserted many per transaction; then the user to be
erased writes ~100 events of every kind through the public API (messages, title
edits, usage, Q&A entries, graph context, trace steps); the read models catch
up once; then `erase_user` is timed. Prints each log's time and the ratio of
the largest to the smallest.
"""

from __future__ import annotations

import argparse
import time
from uuid import UUID

from harness import databases, events_of

import sessiontrail
from sessiontrail import SessionTraceStep
from sessiontrail.domain.event_model import EventModel
from sessiontrail.domain.session import Session

INSERT_EVENTS = 20_000
MARK = "ZQXJMARK"


def fill(trail: sessiontrail.SessionTrail, events: int) -> float:
    """Other users' sessions, `events` events in all, bulk-inserted; seconds taken."""
    started = time.perf_counter()
    pending: list[EventModel] = []
    owners: dict[UUID, str | None] = {}
    written = number = 0
    while written + len(pending) < events:
        user = f"user{number // 10:06d}"
        session = Session(
            session_id=f"fill-{number:07d}",
            model="gpt-4o",
            user_id=user,
            title=f"chat {number} of {user}",
        )
        for turn in range(8):
            session.append_message(
                role="user" if turn % 2 == 0 else "assistant",
                content=f"turn {turn} of chat {number}: some words here",
            )
        session.record_token_usage({"prompt_tokens": 10, "completion_tokens": 5})
        pending += events_of(session)
        owners[session.id] = user
        number += 1
        if len(pending) >= INSERT_EVENTS:
            trail.store.append_imported(pending, owners)
            written += len(pending)
            pending, owners = [], {}
    trail.store.append_imported(pending, owners)
    return time.perf_counter() - started


def write_target(trail: sessiontrail.SessionTrail, user: str) -> int:
    """About 100 events of every kind for `user`; how many were written."""
    before = trail.store.head()
    for chat in range(3):
        session = trail.sessions.load_or_create(
            f"{user}-chat-{chat}", model="gpt-4o", user_id=user
        )
        session.edit_title(f"{MARK} title {chat}")
        for turn in range(20):
            session.append_message(
                role="user" if turn % 2 == 0 else "assistant",
                content=f"{MARK} says {turn}",
                metadata={"note": MARK},
            )
        trail.sessions.save(session)
        trail.sessions.append_token_usage(
            session.session_id, {"total_tokens": 42, "note": MARK}
        )
    first_chat = f"{user}-chat-0"
    for question in range(10):
        trail.qa.create_qa_entry(
            first_chat, f"{MARK} asks {question}", f"{MARK} answer", user_id=user
        )
    trail.qa.set_graph_context(first_chat, f"{MARK} graph", user_id=user)
    step = 0
    while trail.store.head() - before < 100:
        trail.qa.append_agent_trace_step(
            user, first_chat, SessionTraceStep(trace_id=f"t{step}", memory_query=MARK)
        )
        step += 1
    return trail.store.head() - before


def measure(url: str, events: int, key: str | None) -> float:
    """Seconds `erase_user` takes for a 100-event user in a log of `events`."""
    with sessiontrail.connect(url, key=key, projections="worker") as trail:
        filled = fill(trail, events - 100)
        mine = write_target(trail, "target")
        started = time.perf_counter()
        trail.projections.catch_up()
        caught_up = time.perf_counter() - started
        head = trail.store.head()
        print(
            f"  {head:,} events: filled in {filled:.1f} s ({head / filled:,.0f}/s), "
            f"read models caught up in {caught_up:.1f} s; the user holds {mine}",
            flush=True,
        )
        started = time.perf_counter()
        trail.erase_user("target")
        took = time.perf_counter() - started
        print(f"  erase_user: {took:.3f} s", flush=True)
        return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="sqlite"
    )
    parser.add_argument("--key", action="store_true", help="with a master key")
    options = parser.parse_args()
    key = sessiontrail.new_key() if options.key else None
    took: dict[str, dict[int, float]] = {}
    for size in options.events:
        for name, url in databases(options.backend):
            print(f"{name}, log of {size:,} events, key: {bool(key)}", flush=True)
            took.setdefault(name, {})[size] = measure(url, size, key)
    for name, times in took.items():
        smallest, largest = min(times), max(times)
        print(
            f"{name}: erasure in a log of {largest:,} events took "
            f"{times[largest] / times[smallest]:.2f}x its time in one of "
            f"{smallest:,}"
        )


if __name__ == "__main__":
    main()
