"""What checking the hash chain costs a load: a 1,000-message session loaded with
`cache_size=0`, with the chain check and without it, interleaved.

    .venv/bin/python bench/chain_check.py [--backend sqlite|postgres|both]
                                          [--rounds N]

Three reads: a load (from the snapshot at version 1,000: the anchor record and
one event are checked), the session as it was at version 99 (no snapshot under
it: 99 records checked and folded) and its history (all 1,001 records checked and
decoded). Prints the median of each, unchecked and checked, and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from eventsourcing.persistence import EventStore
from harness import databases

import sessiontrail
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.log_reader import LogReader


def medians(
    read: Callable[[], object], swap: Callable[[bool], None], rounds: int
) -> tuple[float, float]:
    """(unchecked, checked) median milliseconds of `read`, alternating which goes
    first so that drift in the machine's load hits both alike."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for number in range(rounds):
        for checked in (number % 2 == 0, number % 2 != 0):
            swap(checked)
            started = time.perf_counter()
            read()
            times[checked].append(time.perf_counter() - started)
    return statistics.median(times[False]) * 1000, statistics.median(times[True]) * 1000


def measure(url: str, rounds: int) -> list[str]:
    with sessiontrail.connect(url, cache_size=0) as trail:
        session = trail.sessions.load_or_create("long")
        for number in range(1000):
            session.append_message(role="user", content=f"message {number} " * 12)
        trail.sessions.save(session)
        store = trail.store
        checked_store = store.repository.event_store
        plain_store = EventStore(mapper=store.mapper, recorder=store.recorder)
        reader = LogReader(store)

        def swap(checked: bool) -> None:
            chosen = checked_store if checked else plain_store
            store.repository.event_store = store.events = chosen

        reads = {
            "load (from its snapshot)": lambda: trail.sessions.try_load("long"),
            "at version 99 (99 folded)": lambda: trail.sessions.at("long", version=99),
            "history (1,001 records)": lambda: reader.stream_events(stream_id("long")),
        }
        lines = []
        for name, read in reads.items():
            plain, checked = medians(read, swap, rounds)
            lines.append(
                f"  {name}: {plain:.2f} ms unchecked, {checked:.2f} ms checked, "
                f"ratio {checked / plain:.3f}"
            )
        swap(True)
        return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="both")
    parser.add_argument("--rounds", type=int, default=201)
    options = parser.parse_args()
    for name, url in databases(options.backend):
        print(name)
        for line in measure(url, options.rounds):
            print(line, flush=True)


if __name__ == "__main__":
    main()
