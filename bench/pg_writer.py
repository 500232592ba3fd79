"""One writer of bench/pg_scaling.py, run by either tree's interpreter (so only the
public API): open the trail, create its session, print "ready", wait for a line on
stdin, then save one append at a time until its time is up; print one JSON line of
what it did (its CPU and context switches in the loop); wait for another line, then
check every append is stored and print one more JSON line. The check comes after
the harness has read the server's CPU, so its reads are not counted as the saves'.

    python bench/pg_writer.py URL SESSION_ID inline|worker SECONDS
"""

from __future__ import annotations

import json
import resource
import sys
import time

import sessiontrail


def main() -> None:
    url, session_id, mode, seconds = sys.argv[1:5]
    with sessiontrail.connect(url, projections=mode) as trail:  # type: ignore[arg-type]
        session = trail.sessions.load_or_create(session_id)
        trail.sessions.save(session)  # the stream exists before the clock starts
        print("ready", flush=True)
        sys.stdin.readline()
        count, cpu, switches = 0, time.process_time(), context_switches()
        began = time.monotonic()
        until = began + float(seconds)
        while time.monotonic() < until:
            session.append_message(role="user", content=f"{session_id}-{count}")
            trail.sessions.save(session)
            count += 1
        ended, cpu = time.monotonic(), time.process_time() - cpu
        report = {
            "saves": count,
            "began": began,
            "ended": ended,
            "client_cpu_s": cpu,
            "context_switches": context_switches() - switches,
        }
        print(json.dumps(report), flush=True)
        sys.stdin.readline()
        stored = len(trail.sessions.load_merged(session_id).messages)
    print(json.dumps({"stored": stored}), flush=True)


def context_switches() -> int:
    """This process's context switches so far, voluntary (it waited, mostly for
    the server's answer) and not (the machine's other processes took its core)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


if __name__ == "__main__":
    main()
