"""PostgreSQL write scaling: 16 writers on 16 sessions against one writer.

    .venv/bin/python bench/pg_scaling.py [--writers 16] [--appends 40] [--json-out F]

Each writer is a thread with its own trail (its own connection pool) appending
and saving one message at a time to its own session, released together by a
barrier; inline read models. Prints aggregate appends/s for 1 and for N writers
and their ratio (issue 9's target: >= 3x), and checks every append was stored.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import databases
from support.workers import race_appends

import sessiontrail


def appends_per_s(url: str, writers: int, appends: int) -> float:
    ids = [f"w{writers}-s{n}" for n in range(writers)]
    start = threading.Barrier(writers)
    began = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        futures = [
            pool.submit(race_appends, url, sid, f"w{n}", appends, start)
            for n, sid in enumerate(ids)
        ]
        acknowledged = [future.result() for future in futures]
    elapsed = time.perf_counter() - began
    with sessiontrail.connect(url) as trail:
        stored = sum(len(trail.sessions.load_merged(sid).messages) for sid in ids)
    assert stored == sum(map(len, acknowledged)) == writers * appends, "lost writes"
    return writers * appends / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--appends", type=int, default=40)
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    for _, url in databases("postgres"):
        one = appends_per_s(url, 1, options.appends * 4)
        many = appends_per_s(url, options.writers, options.appends)
    result = {"one_writer": one, "writers": options.writers, "many_writers": many}
    print(
        f"postgresql: 1 writer {one:,.0f} appends/s; {options.writers} writers "
        f"{many:,.0f} appends/s = {many / one:.2f}x"
    )
    if options.json_out:
        options.json_out.write_text(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
