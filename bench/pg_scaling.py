"""PostgreSQL write scaling, before and after, in one run on one server.

    .venv/bin/python bench/pg_scaling.py [--before TREE] [--writers 1,2,4,8,16,32]
        [--seconds 3] [--repeats 3] [--fsync on|off] [--json-out F] [--quick]

N writer processes (bench/pg_writer.py), each saving one append at a time to its
own session for `--seconds`, released together; inline read models, then worker
mode (events only: no worker runs). `--before TREE` also runs every point with
another checkout's code (its .venv), on its own schema of the same server, points
interleaved so that the machine's load falls on both alike: the "before" of a
change. The server is durable unless `--fsync off` (fsync and synchronous_commit
on, as an operator runs it).

Per point: saves/s; client CPU and server CPU per save (this server's processes
only); lock wait per save, from sampling pg_locks every few milliseconds (the time
backends spent waiting for a heavyweight lock, by lock type). Then the medians of
the repeats, each curve's ratio to one writer, whether it never falls (every point
>= 0.9x the best before it) and the ceiling two cores allow at one writer's CPU
per save.
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
from support.postgres import PostgresServer, running

WRITER = Path(__file__).resolve().parent / "pg_writer.py"
NEUTRAL = "/"
"""Where writers run: not a checkout, whose own folders would shadow the
interpreter's installed sessiontrail."""
MODES = ("inline", "worker")


def server_cpu_seconds(server: PostgresServer) -> float:
    """CPU (user + system) of one server: its postmaster, the children it has
    reaped, and its live children."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except OSError:  # ended while we looked
            continue
        fields = rest.split()
        if int(head.split(" (")[0]) == postmaster:
            ticks += sum(int(field) for field in fields[11:15])
        elif int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class LockWaits:
    """Samples pg_locks in a thread: seconds backends spent waiting, by lock type."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._stop = threading.Event()
        self.seconds: dict[str, float] = {}
        self._thread = threading.Thread(target=self._sample)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            last = time.monotonic()
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT locktype, count(*) FROM pg_locks WHERE NOT granted "
                    "GROUP BY locktype"
                ).fetchall()
                now = time.monotonic()
                for locktype, count in rows:
                    self.seconds[locktype] = self.seconds.get(locktype, 0.0) + count * (
                        now - last
                    )
                last = now
                self._stop.wait(0.003)


def point(
    python: str,
    server: PostgresServer,
    url: str,
    tag: str,
    writers: int,
    seconds: float,
) -> dict[str, Any]:
    """One point of a curve: `writers` processes of `python` for `seconds`."""
    mode = tag.rsplit("-", 1)[1]
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
        )
        for n in range(writers)
    ]
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"a {tag} writer did not start: {line!r}")
    cpu = server_cpu_seconds(server)
    with LockWaits(server.dsn()) as waits:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            assert process.stdout is not None
            reports.append(json.loads(process.stdout.readline()))
    cpu = server_cpu_seconds(server) - cpu
    for process in processes:
        if process.wait(timeout=60):
            raise SystemExit(f"a {tag} writer failed")
    lost = [r for r in reports if r["stored"] != r["saves"]]
    if lost:
        raise SystemExit(f"lost writes in {tag}: {lost}")
    saves = sum(r["saves"] for r in reports)
    elapsed = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    return {
        "saves_per_s": saves / elapsed,
        "client_cpu_ms": 1000 * sum(r["client_cpu_s"] for r in reports) / saves,
        "server_cpu_ms": 1000 * cpu / saves,
        "lock_wait_ms": {k: 1000 * v / saves for k, v in waits.seconds.items()},
    }


def prepare(python: str, url: str) -> None:
    """Create the schema's tables with that tree's code before any point runs."""
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

    curve = median("saves_per_s")
    waits = {
        n: {
            k: statistics.median(p["lock_wait_ms"].get(k, 0.0) for p in ps)
            for k in {k for p in ps for k in p["lock_wait_ms"]}
        }
        for n, ps in points.items()
    }
    return {
        "saves_per_s": curve,
        "client_cpu_ms": median("client_cpu_ms"),
        "server_cpu_ms": median("server_cpu_ms"),
        "lock_wait_ms": waits,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="a checkout with its .venv")
    parser.add_argument("--writers", default="1,2,4,8,16,32")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fsync", choices=("on", "off"), default="on")
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
    trees = {"after": sys.executable}
    if options.before:
        trees = {"before": str(options.before / ".venv/bin/python"), **trees}
    cores = os.cpu_count() or 1
    points: dict[str, dict[int, list[dict[str, Any]]]] = {}
    with running(durable=options.fsync == "on") as server:
        urls = {}
        for tree, python in trees.items():
            for mode in MODES:
                urls[f"{tree}-{mode}"] = server.url(server.new_schema())
                prepare(python, urls[f"{tree}-{mode}"])
        print(
            f"PostgreSQL fsync={options.fsync}, {cores} cores, load average "
            f"{os.getloadavg()[0]:.1f} at start",
            flush=True,
        )
        for repeat in range(options.repeats):
            for writers in counts:
                for tag, url in urls.items():
                    python = trees[tag.rsplit("-", 1)[0]]
                    found = point(python, server, url, tag, writers, options.seconds)
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
    if options.json_out:
        options.json_out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
