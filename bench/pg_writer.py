"""One writer of bench/pg_scaling.py, run by either tree's interpreter (so only the
public API): open the trail, create its session, print "ready", wait for a line on
stdin, then save one append at a time until its time is up; check every append is
stored; print one JSON line of what it did.

    python bench/pg_writer.py URL SESSION_ID inline|worker SECONDS
"""

from __future__ import annotations

import json
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
        count, cpu, began = 0, time.process_time(), time.monotonic()
        until = began + float(seconds)
        while time.monotonic() < until:
            session.append_message(role="user", content=f"{session_id}-{count}")
            trail.sessions.save(session)
            count += 1
        ended, cpu = time.monotonic(), time.process_time() - cpu
        stored = len(trail.sessions.load_merged(session_id).messages)
    print(
        json.dumps(
            {
                "saves": count,
                "stored": stored,
                "began": began,
                "ended": ended,
                "client_cpu_s": cpu,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
