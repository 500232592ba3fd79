"""Change-feed latency on PostgreSQL: from a save's commit to an SSE client.

    .venv/bin/python bench/feed_latency.py [--before TREE] [--events 200]
        [--json-out F]

Per tree (this one, and `--before TREE` with its .venv) and per mode: a durable
server, `sessiontrail serve` of that tree (and, in worker mode, its
`sessiontrail projections run` at the default poll interval), one SSE client
(this process) reading /v1/events/stream, and a writer process of that tree
saving one message every 10-30 ms. The latency of each event is the time from
the writer's save returning to the client reading its line (both clocks are this
machine's monotonic clock). Before the lock-free recorder the feed and the worker
poll (every 0.25 s and 0.5 s); after, they wake on NOTIFY.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx
from support.http import bearer, free_port, write_tokens
from support.postgres import PostgresServer, running

NEUTRAL = "/"
WRITER = """
import json, random, sys, time
import sessiontrail
url, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
with sessiontrail.connect(url, projections=sys.argv[3]) as trail:
    session = trail.sessions.load_or_create("feed", user_id="ann")
    trail.sessions.save(session)
    print("ready", flush=True)
    sys.stdin.readline()
    for number in range(count):
        session.append_message(role="user", content=str(number))
        trail.sessions.save(session)
        print(json.dumps([session.version, time.monotonic()]), flush=True)
        time.sleep(rng.uniform(0.01, 0.03))
"""


@contextmanager
def started(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=NEUTRAL
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def measure(
    bindir: Path, server: PostgresServer, mode: str, events: int, work: Path
) -> list[float]:
    """Milliseconds from each save to its SSE line, sorted."""
    url = server.url(server.new_schema())
    subprocess.run(
        [
            str(bindir / "python"),
            "-c",
            "import sys, sessiontrail; sessiontrail.connect(sys.argv[1]).close()",
            url,
        ],
        check=True,
        cwd=NEUTRAL,
    )
    port, tokens = free_port(), write_tokens(work / "tokens.json")
    serve = [
        str(bindir / "sessiontrail"),
        "--db",
        url,
        "serve",
        "--tokens",
        str(tokens),
        "--port",
        str(port),
    ]
    worker = [str(bindir / "sessiontrail"), "--db", url, "projections", "run"]
    arrived: dict[int, float] = {}
    with (
        started(serve, work / "serve.log"),
        started(worker, work / "worker.log") if mode == "worker" else _none(),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
    ):
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        writer = subprocess.Popen(
            [str(bindir / "python"), "-c", WRITER, url, str(events), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=NEUTRAL,
        )
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "ready"

        def listen() -> None:
            with client.stream(
                "GET", "/v1/events/stream", headers=bearer("ann")
            ) as feed:
                for line in feed.iter_lines():
                    if line.startswith("data: "):
                        entry = json.loads(line[6:])
                        if entry["event"] == "MessageAppended":
                            arrived[entry["version"]] = time.monotonic()
                            if len(arrived) == events:
                                return

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        time.sleep(1.0)  # the stream is open and idle
        writer.stdin.write("go\n")
        writer.stdin.flush()
        saved = dict(json.loads(line) for line in writer.stdout)
        writer.wait(timeout=60)
        reader.join(timeout=30)
    missing = set(saved) - set(arrived)
    if missing:
        raise SystemExit(f"{len(missing)} events never reached the feed")
    return sorted(1000 * (arrived[v] - t) for v, t in saved.items())


@contextmanager
def _none() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    trees = {"after": Path(sys.executable).parent}
    if options.before:
        trees = {"before": options.before / ".venv/bin", **trees}
    result: dict[str, Any] = {}
    with running(durable=True) as server, tempfile.TemporaryDirectory() as work:
        for mode in ("inline", "worker"):
            for tree, bindir in trees.items():
                ms = measure(bindir, server, mode, options.events, Path(work))
                p50 = statistics.median(ms)
                p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
                result[f"{tree}-{mode}"] = {
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "max_ms": ms[-1],
                }
                print(
                    f"{tree:6} {mode:6}: commit -> SSE client p50 {p50:.1f} ms, "
                    f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms ({len(ms)} events)",
                    flush=True,
                )
    if options.json_out:
        options.json_out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
