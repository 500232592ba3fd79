"""Flatness: do reads stay O(page) as sessions grow long and lists grow long?

    .venv/bin/python bench/flatness.py [--quick] [--backend sqlite|postgres|both]
                                       [--json-out FILE]

Loads: one session per size (100, 1,000, 10,000 messages; --quick: 100, 1,000),
timing the latest 20 messages from the transcript read model, a full load from
storage (snapshot + the events after it; the in-process cache is bypassed) and all
messages from the read model. Lists: 1,000, 10,000 and 100,000 sessions (--quick:
1,000 and 3,000), timing the first page of 50 against a raw indexed query on the
same table in the same run. Medians of 50 calls (10 full loads, 5 all-message
reads); ratios are what matter.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import databases, median_ms, raw_first_page
from literals import Turn

import sessiontrail


def long_sessions(url: str, sizes: list[int]) -> list[dict[str, float]]:
    rows = []
    with sessiontrail.connect(url) as trail:
        for size in sizes:
            session = trail.sessions.load_or_create(f"long-{size}")
            for number in range(size):
                role: Turn = "user" if number % 2 == 0 else "assistant"
                session.append_message(role=role, content=f"message {number} " * 12)
            trail.sessions.save(session)
        for size in sizes:
            session_id = f"long-{size}"

            def load(session_id: str = session_id) -> object:
                trail.sessions._cache.evict(session_id)
                return trail.sessions.load(session_id)

            def latest_20(session_id: str = session_id) -> object:
                return trail.sessions.messages(session_id, last_n=20)

            def all_messages(session_id: str = session_id) -> object:
                return trail.sessions.messages(session_id)

            rows.append(
                {
                    "messages": size,
                    "latest_20_ms": median_ms(latest_20),
                    "load_from_storage_ms": median_ms(load, repeats=10),
                    "all_messages_ms": median_ms(all_messages, repeats=5),
                }
            )
    return rows


def long_lists(url: str, sizes: list[int]) -> list[dict[str, float]]:
    rows = []
    written = 0
    with sessiontrail.connect(url, projections="worker") as trail:
        for size in sizes:
            while written < size:
                trail.sessions.save(trail.sessions.load_or_create(f"s-{written:07d}"))
                written += 1
            trail.projections.catch_up()
            first = median_ms(lambda: trail.sessions.list(limit=50))
            raw = median_ms(raw_first_page(trail))
            rows.append({"sessions": size, "first_page_ms": first, "raw_query_ms": raw})
    return rows


def report(
    name: str, loads: list[dict[str, float]], lists: list[dict[str, float]]
) -> None:
    print(f"{name}: loads")
    print("  messages  latest-20 ms  load ms  all ms")
    for row in loads:
        print(
            f"  {row['messages']:>8.0f}  {row['latest_20_ms']:>12.2f}  "
            f"{row['load_from_storage_ms']:>7.2f}  {row['all_messages_ms']:>6.1f}"
        )
    small, large = loads[0], loads[-1]
    print(
        f"  largest/smallest: latest-20 "
        f"{large['latest_20_ms'] / small['latest_20_ms']:.2f}x, load "
        f"{large['load_from_storage_ms'] / small['load_from_storage_ms']:.2f}x"
    )
    print(f"{name}: lists")
    print("  sessions  first page ms  raw query ms  ratio")
    for row in lists:
        ratio = row["first_page_ms"] / row["raw_query_ms"]
        print(
            f"  {row['sessions']:>8.0f}  {row['first_page_ms']:>13.2f}  "
            f"{row['raw_query_ms']:>12.2f}  {ratio:>5.2f}"
        )
    print(
        f"  largest/smallest first page: "
        f"{lists[-1]['first_page_ms'] / lists[0]['first_page_ms']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "both"), default="both"
    )
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    message_sizes = [100, 1000] if options.quick else [100, 1000, 10_000]
    session_sizes = [1000, 3000] if options.quick else [1000, 10_000, 100_000]
    results = {}
    for name, url in databases(options.backend):
        loads = long_sessions(url, message_sizes)
        lists = long_lists(url, session_sizes)
        report(name, loads, lists)
        results[name] = {"loads": loads, "lists": lists}
    if options.json_out:
        options.json_out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
