"""One writer of bench/pg_scaling.py, run by either tree's interpreter (so only the
public API): open the trail, create its session, print "ready", wait for a line on
stdin, then save one append at a time until its time is up; print one JSON line of
what it did (its CPU, context switches, round trips and the wake-ups of its other
threads in the loop); wait for another line, then check every append is stored and
print one more JSON line. The check comes after the harness has read the server's
CPU, so its reads are not counted as the saves'.

Round trips are counted where psycopg waits for the server (`Connection.wait`, one
call per exchange), in the saving thread; wake-ups of other threads (a pool's
worker) are their voluntary context switches (each sleep after one wake-up).

    python bench/pg_writer.py URL SESSION_ID inline|worker SECONDS
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

import sessiontrail

ROUND_TRIPS = [0]
"""Exchanges with the server the saving thread made so far."""


def main() -> None:
    url, session_id, mode, seconds = sys.argv[1:5]
    with sessiontrail.connect(url, projections=mode) as trail:  # type: ignore[arg-type]
        session = trail.sessions.load_or_create(session_id)
        trail.sessions.save(session)  # the stream exists before the clock starts
        print("ready", flush=True)
        sys.stdin.readline()
        count, cpu, switches = 0, time.process_time(), switches_by_kind()
        others, trips = other_threads_wakeups(), ROUND_TRIPS[0]
        began = time.monotonic()
        until = began + float(seconds)
        while time.monotonic() < until:
            session.append_message(role="user", content=f"{session_id}-{count}")
            trail.sessions.save(session)
            count += 1
        ended, cpu = time.monotonic(), time.process_time() - cpu
        (voluntary, involuntary), (voluntary_before, involuntary_before) = (
            switches_by_kind(),
            switches,
        )
        report = {
            "saves": count,
            "began": began,
            "ended": ended,
            "client_cpu_s": cpu,
            "voluntary_switches": voluntary - voluntary_before,
            "involuntary_switches": involuntary - involuntary_before,
            "other_threads_wakeups": other_threads_wakeups() - others,
            "round_trips": ROUND_TRIPS[0] - trips,
        }
        print(json.dumps(report), flush=True)
        sys.stdin.readline()
        stored = len(trail.sessions.load_merged(session_id).messages)
    print(json.dumps({"stored": stored}), flush=True)


def switches_by_kind() -> tuple[int, int]:
    """This process's context switches so far: voluntary (it waited, mostly for
    the server's answer) and involuntary (another process took its core)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw, usage.ru_nivcsw


def other_threads_wakeups() -> int:
    """Voluntary context switches of this process's threads but the main one."""
    total = 0
    for status in Path("/proc/self/task").glob("*/status"):
        if int(status.parent.name) == os.getpid():
            continue
        try:
            lines = status.read_text().splitlines()
        except OSError:  # the thread ended while we looked
            continue
        total += sum(
            int(line.split()[1])
            for line in lines
            if line.startswith("voluntary_ctxt_switches")
        )
    return total


def count_round_trips() -> None:
    """Count each exchange the main thread makes with the server."""
    wait = psycopg.Connection.wait
    main = threading.main_thread()

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is main:
            ROUND_TRIPS[0] += 1
        return wait(self, *args, **kwargs)

    psycopg.Connection.wait = counted  # type: ignore[method-assign]


if __name__ == "__main__":
    count_round_trips()
    main()
