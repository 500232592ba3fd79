"""One writer of bench/pg_scaling.py, run by either tree's interpreter (so only the
public API): open the trail, create its session, print "ready", wait for a line on
stdin, then save one append at a time until its time is up; print one JSON line of
what it did (its CPU, user and system, context switches, round trips, garbage
collections and the wake-ups of its other threads in the loop); wait for another
line, then check every append is stored and print one more JSON line. The check
comes after the harness has read the server's CPU, so its reads are not counted as
the saves'.

`bare` is the same exchange with the server without sessiontrail: psycopg alone
sends what an append sends (BEGIN; an INSERT of one row of the same columns and
size, its ids returned; COMMIT in one message, then a NOTIFY in a transaction that
does not wait for the disk) to a plain table, `BARE_TABLE`, of the URL's schema.
Its curve beside the library's tells the machine's share of a fall from ours.
`bareinsert` sends the INSERT's message alone (what the NOTIFY costs), `bareone`
the NOTIFY's transaction in the INSERT's message (what its own round trip costs).

`follow` is the projection worker (worker mode's other process): it follows the
log from "ready" until a line on stdin, then prints its round trips and the
wake-ups of its threads (the one applying, the one listening for NOTIFY) over that
time, and how far behind it was left (the harness reads its CPU).

Round trips are counted where psycopg waits for the server (`Connection.wait`, one
call per exchange), in the saving thread; wake-ups of other threads (a pool's
worker) are their voluntary context switches (each sleep after one wake-up).

    python bench/pg_writer.py URL SESSION_ID MODE SECONDS

MODE: inline, worker, bare, bareone, bareinsert or follow.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from literals import projection_mode
from psycopg.sql import SQL, Identifier

import sessiontrail

ROUND_TRIPS = [0]
"""Exchanges with the server the counted thread made so far."""
COUNTED = [threading.main_thread()]
"""The thread whose round trips count: the saving one, or the worker's."""
BARE_TABLE = "bare_events"
STATE_BYTES = 242
"""An append's stored state (a MessageAppended of a short message), in bytes."""
BARE_NOTIFIES = {"bare": "after", "bareone": "within", "bareinsert": "never"}
"""The bare modes: when each sends the NOTIFY, after the INSERT's message, within
it (after its COMMIT), or never."""
FIRST = 20
"""The saves whose CPU is also reported apart: a process's first saves may cost
more (first uses, cold caches), spread over fewer saves as writers are added."""


def main() -> None:
    url, session_id, mode, seconds = sys.argv[1:5]
    if mode in BARE_NOTIFIES:
        bare(url, float(seconds), BARE_NOTIFIES[mode])
    elif mode == "follow":
        follow(url)
    else:
        library(url, session_id, projection_mode(mode), float(seconds))


def library(url: str, session_id: str, mode: sessiontrail.Mode, seconds: float) -> None:
    """Saves through sessiontrail, one append each."""
    with sessiontrail.connect(url, projections=mode) as trail:
        session = trail.sessions.load_or_create(session_id)
        trail.sessions.save(session)  # the stream exists before the clock starts
        print("ready", flush=True)
        sys.stdin.readline()
        count = 0

        def save() -> None:
            nonlocal count
            session.append_message(role="user", content=f"{session_id}-{count}")
            trail.sessions.save(session)
            count += 1

        print(json.dumps(saving(save, seconds)), flush=True)
        sys.stdin.readline()
        merged = trail.sessions.load_merged(session_id)
        assert merged is not None
        stored = len(merged.messages)
    print(json.dumps({"stored": stored}), flush=True)


def bare(url: str, seconds: float, notify: str) -> None:
    """Saves by psycopg alone: an append's messages, none of sessiontrail's work;
    the NOTIFY `notify` (BARE_NOTIFIES)."""
    conninfo, schema = split_url(url)
    table = SQL("{}.{}").format(Identifier(schema), Identifier(BARE_TABLE))
    stream, version = uuid.uuid4(), [0]
    with psycopg.connect(conninfo, autocommit=True) as connection:
        wake = SQL(
            "BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY {}; COMMIT"
        ).format(Identifier(f"{schema}.{BARE_TABLE}"))
        # Composed once, values bound by the client on each save, as appends do.
        append = (
            SQL(
                "BEGIN; INSERT INTO {} (originator_id, originator_version, topic, "
                "state) VALUES (%s, %s, %s, %s) RETURNING notification_id, "
                "transaction_id::text::bigint; COMMIT{}"
            )
            .format(table, SQL("; {}").format(wake) if notify == "within" else SQL(""))
            .as_bytes(connection)
        )
        wake_bytes = wake.as_bytes(connection)
        print("ready", flush=True)
        sys.stdin.readline()

        def save() -> None:
            version[0] += 1
            values = [stream, version[0], "bench:Appended", os.urandom(STATE_BYTES)]
            with psycopg.ClientCursor(connection) as cursor:
                cursor.execute(append, values)
                cursor.nextset()
                cursor.fetchall()
                while cursor.nextset():
                    pass
            if notify == "after":
                connection.execute(wake_bytes)

        report = saving(save, seconds)
        print(json.dumps(report), flush=True)
        sys.stdin.readline()
        [(stored,)] = connection.execute(
            SQL("SELECT count(*) FROM {} WHERE originator_id = %s").format(table),
            (stream,),
        ).fetchall()
    print(json.dumps({"stored": stored}), flush=True)


def create_bare_table(url: str) -> None:
    """The table bare writers insert into: the events table's columns."""
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            SQL(
                "CREATE TABLE {}.{} (originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, topic text, state bytea, "
                "notification_id bigserial, transaction_id xid8 NOT NULL "
                "DEFAULT pg_current_xact_id(), "
                "PRIMARY KEY (originator_id, originator_version))"
            ).format(Identifier(schema), Identifier(BARE_TABLE))
        )


def follow(url: str) -> None:
    """The projection worker, measured from "ready" until a line on stdin."""
    with sessiontrail.connect(url, projections="worker") as trail:
        stop = threading.Event()
        trail.projections.catch_up()
        worker = threading.Thread(target=trail.projections.run, args=(stop,))
        COUNTED[0] = worker
        trips, woken = ROUND_TRIPS[0], other_threads_wakeups()
        worker.start()
        print("ready", flush=True)
        sys.stdin.readline()
        woken = other_threads_wakeups() - woken  # while its threads are alive
        stop.set()
        worker.join()
        behind = max(status.lag for status in trail.projections.status())
    print(
        json.dumps(
            {"round_trips": ROUND_TRIPS[0] - trips, "wakeups": woken, "behind": behind}
        ),
        flush=True,
    )


def split_url(url: str) -> tuple[str, str]:
    """A sessiontrail URL as psycopg's connection string and the schema."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema")
    return urlunsplit(parts._replace(query=urlencode(query))), schema


def saving(save: Callable[[], None], seconds: float) -> dict[str, Any]:
    """Call `save` until `seconds` are up; what it cost, counted in this process."""
    count, switches, others = 0, switches_by_kind(), other_threads_wakeups()
    usage, trips = resource.getrusage(resource.RUSAGE_SELF), ROUND_TRIPS[0]
    collections = sum(stat["collections"] for stat in gc.get_stats())
    began, first = time.monotonic(), time.process_time()
    until = began + seconds
    while time.monotonic() < until:
        save()
        count += 1
        if count == FIRST:
            first = time.process_time() - first
    ended, after = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    if count < FIRST:
        first = time.process_time() - first
    (voluntary, involuntary), (voluntary_before, involuntary_before) = (
        switches_by_kind(),
        switches,
    )
    user, system = after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime
    return {
        "saves": count,
        "began": began,
        "ended": ended,
        "client_cpu_s": user + system,
        "user_cpu_s": user,
        "system_cpu_s": system,
        "first_saves": min(count, FIRST),
        "first_cpu_s": first,
        "voluntary_switches": voluntary - voluntary_before,
        "involuntary_switches": involuntary - involuntary_before,
        "other_threads_wakeups": other_threads_wakeups() - others,
        "round_trips": ROUND_TRIPS[0] - trips,
        "collections": sum(stat["collections"] for stat in gc.get_stats())
        - collections,
    }


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
    """Count each exchange the counted thread makes with the server."""
    wait = psycopg.Connection.wait

    def counted(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is COUNTED[0]:
            ROUND_TRIPS[0] += 1
        return wait(self, *args, **kwargs)

    psycopg.Connection.wait = counted  # type: ignore[method-assign]


if __name__ == "__main__":
    count_round_trips()
    main()
