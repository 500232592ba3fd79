"""PostgreSQL write scaling, before and after, in one run on one server.

    .venv/bin/python bench/pg_scaling.py [--before TREE] [--writers 1,2,4,8,16,32]
        [--modes inline,worker,bare,bareone,bareinsert] [--follow] [--seconds 3]
        [--repeats 3] [--fsync on|off] [--tuned NAME=VALUE ...] [--json-out F]
        [--quick]

N writer processes (bench/pg_writer.py), each saving one append at a time to its
own session for `--seconds`, released together; inline read models, then worker
mode (events only: no worker runs, unless `--follow`, which runs the projection
worker beside the writers and shows its CPU apart), then `bare`: the same
messages sent by psycopg alone to a plain table (bench/pg_writer.py), the
machine's own curve for an append's exchange with the server, run once (it has
no tree), `bareone`, the same with the NOTIFY in the INSERT's message, and
`bareinsert`, the same without the NOTIFY. `--before TREE` also
runs every point with another checkout's code (its .venv), on its own schema of
the same server, points interleaved so that the machine's load falls on both
alike: the "before" of a change; `--tuned NAME=VALUE` likewise runs this tree's
writers again with a server setting on their connections (`commit_delay=100`:
an operator's group commit, through PGOPTIONS). The server is durable unless
`--fsync off` (fsync and synchronous_commit on, as an operator runs it).

Per point: saves/s; client CPU and server CPU per save, over the saving loop only
(the writers' own processes, every thread of each, and this server's processes but
the sampler's; the writers check their saves after the server's CPU is read), then
by process kind: the writers' user and system CPU, the worker's (`--follow`), the
server's backends (one per connection: the writers', and the worker's with
`--follow`) and its background processes (the WAL writer, checkpointer,
autovacuum ...), and how busy they kept
the machine's cores (client + server CPU over elapsed time x cores: near 100%, the
point is bound by CPU, and a client process is part of what an operator runs); the
writers' context switches per save, voluntary (each wait for the server is one)
and involuntary (each preemption by another process), their round trips to the
server, their garbage collections and the wake-ups of their threads other than the
saving one (a pool's worker), per save; the machine's load average (other work
on the machine shows there); what the sampling below cost (its thread and its
server process, per save: left out of both CPU figures); lock wait per save,
from sampling pg_locks every few milliseconds (the time backends spent waiting
for a heavyweight lock, by lock type); where the database's client backends spent
their time, per save, from sampling pg_stat_activity (state and wait event:
running, waiting for their client inside a transaction, for an advisory lock, for
a commit's flush); catch-ups that applied events, per save (from the registry's
update count). Then the medians of the repeats, each curve's ratio to one
writer, whether it never falls (every point >= 0.9x the best before it) and the
ceiling two cores allow at one writer's CPU per save.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import psycopg
from pg_writer import BARE_NOTIFIES, create_bare_table
from psycopg.sql import SQL, Identifier
from support.postgres import PostgresServer, running

WRITER = Path(__file__).resolve().parent / "pg_writer.py"
NEUTRAL = "/"
"""Where writers run: not a checkout, whose own folders would shadow the
interpreter's installed sessiontrail."""
BARE_MODES = tuple(BARE_NOTIFIES)
MODES = ("inline", "worker", *BARE_MODES)
PER_SAVE_COUNTS = (
    "voluntary_switches",
    "involuntary_switches",
    "round_trips",
    "other_threads_wakeups",
    "collections",
)
"""What each writer counts in its loop (bench/pg_writer.py), shown per save."""
BY_KIND = (
    "first_saves_ms",
    "later_saves_ms",
    "writers_user_ms",
    "writers_system_ms",
    "worker_ms",
    "backends_ms",
    "background_ms",
)
"""CPU per save by process kind (server_cpu_by_kind, the writers' reports)."""


def server_cpu_by_kind(
    server: PostgresServer, leaving_out: int = 0
) -> tuple[float, float]:
    """CPU (user + system) of one server so far: its backends (the processes
    serving a connection) and the rest (the postmaster, with the children it has
    reaped, and the background processes), leaving out the process `leaving_out`."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    backends = rest_ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
            title = (stat.parent / "cmdline").read_bytes()
        except OSError:  # ended while we looked
            continue
        fields, pid = rest.split(), int(head.split(" (")[0])
        if pid == postmaster:
            rest_ticks += sum(int(field) for field in fields[11:15])
        elif int(fields[1]) == postmaster and pid != leaving_out:
            ticks = int(fields[11]) + int(fields[12])
            if b"[local]" in title:  # "postgres: user database [local] INSERT"
                backends += ticks
            else:
                rest_ticks += ticks
    tick = os.sysconf("SC_CLK_TCK")
    return backends / tick, rest_ticks / tick


def process_cpu_seconds(pid: int) -> float:
    """CPU (user + system) of one live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LockWaits:
    """Samples pg_locks and pg_stat_activity in a thread: seconds backends spent
    waiting for a heavyweight lock, by lock type (advisory ones by mode: to share
    or to hold alone); and seconds client backends of
    the database spent in each state and wait event (`active/-` is running or
    runnable, `idle in transaction/ClientRead` a transaction waiting for its
    client, `active/WALSync` a commit's flush ...)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._stop = threading.Event()
        self.seconds: dict[str, float] = {}
        self.activity: dict[str, float] = {}
        self.backend = 0
        """The sampler's server process (its CPU is not the saves')."""
        self.cpu = 0.0
        """CPU seconds the sampling cost: its thread and its server process."""
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        self._started.wait()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            self.backend = conn.info.backend_pid
            started = time.thread_time() + process_cpu_seconds(self.backend)
            self._started.set()
            last = time.monotonic()
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT locktype || CASE locktype WHEN 'advisory' THEN "
                    "'/' || mode ELSE '' END, count(*) FROM pg_locks "
                    "WHERE NOT granted GROUP BY 1"
                ).fetchall()
                states = conn.execute(
                    "SELECT state || '/' || COALESCE(wait_event, '-'), count(*) "
                    "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state <> 'idle' GROUP BY 1"
                ).fetchall()
                now = time.monotonic()
                for found, sampled in ((rows, self.seconds), (states, self.activity)):
                    for key, count in found:
                        sampled[key] = sampled.get(key, 0.0) + count * (now - last)
                last = now
                self._stop.wait(0.003)
            used = time.thread_time() + process_cpu_seconds(self.backend)
            self.cpu = used - started


def catch_ups(server: PostgresServer, url: str) -> float:
    """Catch-ups that applied events so far in `url`'s schema: each updates its
    registry row of every read model (the statistics of ended backends)."""
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        [(updated,)] = conn.execute(
            "SELECT COALESCE(SUM(n_tup_upd), 0) FROM pg_stat_user_tables "
            "WHERE schemaname = %s AND relname = 'st_projections'",
            (schema,),
        ).fetchall()
        [(models,)] = conn.execute(
            SQL("SELECT count(*) FROM {}.st_projections").format(Identifier(schema))
        ).fetchall()
    return int(updated) / max(1, int(models))


def point(
    python: str,
    server: PostgresServer,
    url: str,
    tag: str,
    writers: int,
    seconds: float,
    follow: bool = False,
    tuning: str = "",
) -> dict[str, Any]:
    """One point of a curve: `writers` processes of `python` for `seconds`,
    beside the projection worker if `follow` (worker mode), their connections'
    server settings `tuning` (PGOPTIONS: "-c name=value ...")."""
    mode = tag.rsplit("-", 1)[-1]
    environment = {**os.environ, "PGOPTIONS": tuning} if tuning else None
    follower = None
    if follow and mode == "worker":
        follower = subprocess.Popen(
            [python, str(WRITER), url, "-", "follow", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=NEUTRAL,
        )
    processes = [
        subprocess.Popen(
            [
                python,
                str(WRITER),
                url,
                f"{tag}-{writers}-{n}-{time.time_ns()}",
                mode,
                str(seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=NEUTRAL,
            env=environment,
        )
        for n in range(writers)
    ]
    for process in [*processes, *([follower] if follower else [])]:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"a {tag} writer did not start: {line!r}")
    updates = catch_ups(server, url) if mode not in BARE_MODES else 0.0
    load = os.getloadavg()[0]
    with LockWaits(server.dsn()) as waits:
        kinds = server_cpu_by_kind(server, leaving_out=waits.backend)
        worker_cpu = process_cpu_seconds(follower.pid) if follower else 0.0
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            assert process.stdout is not None
            reports.append(json.loads(process.stdout.readline()))
        if follower:
            worker_cpu = process_cpu_seconds(follower.pid) - worker_cpu
        backends, background = (
            after - before
            for after, before in zip(
                server_cpu_by_kind(server, leaving_out=waits.backend),
                kinds,
                strict=True,
            )
        )
        cpu = backends + background
    followed = stop_follower(follower, tag)
    for process, report in zip(processes, reports, strict=True):
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("check\n")
        process.stdin.flush()
        report.update(json.loads(process.stdout.readline()))
        if process.wait(timeout=60):
            raise SystemExit(f"a {tag} writer failed")
    if mode not in BARE_MODES:
        updates = catch_ups(server, url) - updates
    lost = [r for r in reports if r["stored"] != r["saves"]]
    if lost:
        raise SystemExit(f"lost writes in {tag}: {lost}")
    saves = sum(r["saves"] for r in reports)
    elapsed = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    client = sum(r["client_cpu_s"] for r in reports)
    return {
        "saves_per_s": saves / elapsed,
        "client_cpu_ms": 1000 * client / saves,
        "server_cpu_ms": 1000 * cpu / saves,
        "cores_busy": (client + cpu + worker_cpu) / (elapsed * (os.cpu_count() or 1)),
        **{key: sum(r[key] for r in reports) / saves for key in PER_SAVE_COUNTS},
        **first_and_later(reports),
        "writers_user_ms": 1000 * sum(r["user_cpu_s"] for r in reports) / saves,
        "writers_system_ms": 1000 * sum(r["system_cpu_s"] for r in reports) / saves,
        "worker_ms": 1000 * worker_cpu / saves,
        "backends_ms": 1000 * backends / saves,
        "background_ms": 1000 * background / saves,
        "worker_round_trips": followed.get("round_trips", 0) / saves,
        "worker_wakeups": followed.get("wakeups", 0) / saves,
        "worker_behind": followed.get("behind", 0),
        "sampler_cpu_ms": 1000 * waits.cpu / saves,
        "load_average": load,
        "lock_wait_ms": {k: 1000 * v / saves for k, v in waits.seconds.items()},
        "activity_ms": {k: 1000 * v / saves for k, v in waits.activity.items()},
        "catch_ups_per_save": updates / saves,
    }


def first_and_later(reports: list[dict[str, Any]]) -> dict[str, float]:
    """The writers' client CPU per save over each one's first saves, and after."""
    first = sum(r["first_saves"] for r in reports)
    first_cpu = sum(r["first_cpu_s"] for r in reports)
    later = sum(r["saves"] for r in reports) - first
    later_cpu = sum(r["client_cpu_s"] for r in reports) - first_cpu
    return {
        "first_saves_ms": 1000 * first_cpu / max(1, first),
        "later_saves_ms": 1000 * later_cpu / max(1, later),
    }


def stop_follower(follower: subprocess.Popen[str] | None, tag: str) -> dict[str, Any]:
    """Stop the projection worker; what it reported (nothing if none ran)."""
    if follower is None:
        return {}
    assert follower.stdin is not None and follower.stdout is not None
    follower.stdin.write("stop\n")
    follower.stdin.flush()
    report: dict[str, Any] = json.loads(follower.stdout.readline())
    if follower.wait(timeout=60):
        raise SystemExit(f"the {tag} worker failed")
    return report


def prepare(python: str, url: str, mode: str) -> None:
    """Create the schema's tables with that tree's code before any point runs."""
    if mode in BARE_MODES:
        create_bare_table(url)
        return
    subprocess.run(
        [
            python,
            "-c",
            "import sys, sessiontrail; sessiontrail.connect(sys.argv[1]).close()",
            url,
        ],
        check=True,
        cwd=NEUTRAL,
    )


def never_falls(curve: dict[int, float]) -> bool:
    best = 0.0
    for rate in curve.values():
        if rate < 0.9 * best:
            return False
        best = max(best, rate)
    return True


def summary(points: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians of the repeats, per writer count."""

    def median(key: str) -> dict[int, float]:
        return {n: statistics.median(p[key] for p in ps) for n, ps in points.items()}

    def medians(key: str) -> dict[int, dict[str, float]]:
        return {
            n: {
                k: statistics.median(p[key].get(k, 0.0) for p in ps)
                for k in {k for p in ps for k in p[key]}
            }
            for n, ps in points.items()
        }

    return {
        "saves_per_s": median("saves_per_s"),
        "client_cpu_ms": median("client_cpu_ms"),
        "server_cpu_ms": median("server_cpu_ms"),
        "cores_busy": median("cores_busy"),
        **{key: median(key) for key in PER_SAVE_COUNTS},
        **{key: median(key) for key in BY_KIND},
        "worker_round_trips": median("worker_round_trips"),
        "worker_wakeups": median("worker_wakeups"),
        "worker_behind": median("worker_behind"),
        "sampler_cpu_ms": median("sampler_cpu_ms"),
        "load_average": median("load_average"),
        "lock_wait_ms": medians("lock_wait_ms"),
        "activity_ms": medians("activity_ms"),
        "catch_ups_per_save": median("catch_ups_per_save"),
    }


def counts_per_save(found: dict[str, Any]) -> str:
    """The writers' context switches (voluntary: waits, mostly for the server;
    involuntary: preempted), round trips, garbage collections and other threads'
    wake-ups, per save."""
    return (
        f"switches {found['voluntary_switches']:.1f} voluntary + "
        f"{found['involuntary_switches']:.1f} involuntary, round trips "
        f"{found['round_trips']:.1f}, collections {found['collections']:.3f}, "
        f"other threads woken {found['other_threads_wakeups']:.1f}"
    )


def cpu_by_kind(found: dict[str, Any]) -> str:
    """CPU per save (ms) by process kind."""
    return (
        f"writers {found['first_saves_ms']:.2f} over each one's first saves, "
        f"{found['later_saves_ms']:.2f} after; writers "
        f"{found['writers_user_ms']:.2f} user + "
        f"{found['writers_system_ms']:.2f} system, worker {found['worker_ms']:.2f} "
        f"({found['worker_round_trips']:.2f} round trips and "
        f"{found['worker_wakeups']:.2f} thread wake-ups per save, left "
        f"{found['worker_behind']:.0f} behind), server backends "
        f"{found['backends_ms']:.2f} + background {found['background_ms']:.2f}"
    )


def busiest(activity: dict[str, float], shown: int = 4) -> str:
    """The states backends spent most time in, per save."""
    top = sorted(activity.items(), key=lambda item: -item[1])[:shown]
    return ", ".join(f"{k} {v:.1f}" for k, v in top) or "none"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="a checkout with its .venv")
    parser.add_argument("--writers", default="1,2,4,8,16,32")
    parser.add_argument("--modes", default="inline,worker")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fsync", choices=("on", "off"), default="on")
    parser.add_argument(
        "--follow", action="store_true", help="run the projection worker in worker mode"
    )
    parser.add_argument(
        "--tuned",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also run this tree's writers with a server setting (commit_delay=100)",
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke sizes (bench/all.py --quick): 1 and 4 writers, 1 s, one run",
    )
    options = parser.parse_args()
    if options.quick:
        options.writers, options.seconds, options.repeats = "1,4", 1.0, 1
    counts = [int(part) for part in options.writers.split(",")]
    modes = [mode for mode in options.modes.split(",") if mode in MODES]
    trees = {"after": sys.executable}
    if options.before:
        trees = {"before": str(options.before / ".venv/bin/python"), **trees}
    if options.tuned:
        trees["tuned"] = sys.executable
    tuning = " ".join(f"-c {setting}" for setting in options.tuned)
    cores = os.cpu_count() or 1
    points: dict[str, dict[int, list[dict[str, Any]]]] = {}
    with running(durable=options.fsync == "on") as server:
        urls = {}
        for tree, python in trees.items():
            for mode in modes:
                tag = mode if mode in BARE_MODES else f"{tree}-{mode}"
                if tag not in urls:
                    urls[tag] = server.url(server.new_schema())
                    prepare(python, urls[tag], mode)
        print(
            f"PostgreSQL fsync={options.fsync}, {cores} cores, load average "
            f"{os.getloadavg()[0]:.1f} at start"
            + (f"; tuned: {' '.join(options.tuned)}" if options.tuned else ""),
            flush=True,
        )
        for repeat in range(options.repeats):
            for writers in counts:
                for tag, url in urls.items():
                    tree = tag.rsplit("-", 1)[0]
                    found = point(
                        trees.get(tree, sys.executable),
                        server,
                        url,
                        tag,
                        writers,
                        options.seconds,
                        options.follow,
                        tuning if tree == "tuned" else "",
                    )
                    points.setdefault(tag, {}).setdefault(writers, []).append(found)
                    waits = (
                        ", ".join(
                            f"{k} {v:.2f}"
                            for k, v in sorted(found["lock_wait_ms"].items())
                        )
                        or "none"
                    )
                    print(
                        f"  run {repeat + 1} {tag:13} {writers:2} writers: "
                        f"{found['saves_per_s']:6.0f} saves/s, CPU/save client "
                        f"{found['client_cpu_ms']:.2f} ms server "
                        f"{found['server_cpu_ms']:.2f} ms, lock wait/save {waits} ms",
                        flush=True,
                    )
                    print(
                        f"    cores busy {found['cores_busy']:.0%}, per save: "
                        f"{counts_per_save(found)}; sampling "
                        f"{found['sampler_cpu_ms']:.2f} ms/save (left out), load "
                        f"average {found['load_average']:.1f}; catch-ups/save "
                        f"{found['catch_ups_per_save']:.2f}; "
                        f"backends' ms/save: {busiest(found['activity_ms'])}",
                        flush=True,
                    )
                    print(f"    CPU/save (ms): {cpu_by_kind(found)}", flush=True)
    result: dict[str, Any] = {
        "fsync": options.fsync,
        "cores": cores,
        "writers": counts,
        "curves": {},
    }
    for tag, by_count in points.items():
        medians = summary(by_count)
        result["curves"][tag] = medians
        curve = medians["saves_per_s"]
        one = curve[counts[0]]
        cpu = medians["client_cpu_ms"][counts[0]] + medians["server_cpu_ms"][counts[0]]
        ceiling = 1000 * cores / cpu
        print(
            f"{tag}: "
            + ", ".join(f"{n}: {r:,.0f}/s ({r / one:.2f}x)" for n, r in curve.items())
        )
        print(
            f"  never falls (>= 0.9x the best before): {never_falls(curve)}; "
            f"{counts[-1]} writers / {counts[0]}: {curve[counts[-1]] / one:.2f}x"
            + (f", 16 / {counts[0]}: {curve[16] / one:.2f}x" if 16 in curve else "")
            + "; one writer's CPU per save "
            f"{medians['client_cpu_ms'][counts[0]]:.2f} ms client + "
            f"{medians['server_cpu_ms'][counts[0]]:.2f} ms server -> ceiling "
            f"{ceiling:,.0f}/s on {cores} cores; best point "
            f"{max(curve.values()) / ceiling:.0%} of it"
        )
        print(
            "  lock wait per save (ms): "
            + "; ".join(
                f"{n}: "
                + (", ".join(f"{k} {v:.2f}" for k, v in sorted(w.items())) or "none")
                for n, w in medians["lock_wait_ms"].items()
            )
        )
        print(
            "  CPU per save, client + server (ms), cores busy: "
            + "; ".join(
                f"{n}: {medians['client_cpu_ms'][n]:.2f} + "
                f"{medians['server_cpu_ms'][n]:.2f}, "
                f"{medians['cores_busy'][n]:.0%}"
                for n in curve
            )
        )
        print(
            "  writers' counts per save: "
            + "; ".join(
                f"{n}: " + counts_per_save({k: medians[k][n] for k in PER_SAVE_COUNTS})
                for n in curve
            )
        )
        print(
            "  CPU per save by process kind (ms): "
            + "; ".join(
                f"{n}: " + cpu_by_kind({k: medians[k][n] for k in medians})
                for n in curve
            )
        )
        print(
            "  catch-ups per save: "
            + ", ".join(
                f"{n}: {c:.2f}" for n, c in medians["catch_ups_per_save"].items()
            )
        )
        for n, activity in medians["activity_ms"].items():
            print(f"  {n} writers, backends' ms/save: {busiest(activity)}")
    if options.json_out:
        options.json_out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
