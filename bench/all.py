"""Every benchmark in one command, and the issue-9 targets marked met or not.

    .venv/bin/python bench/all.py            # full: ~15 minutes here
    .venv/bin/python bench/all.py --quick    # smoke: ~30 s here (CI runs it)

Writes each benchmark's output into bench/results/DATE[-quick]/ and prints the
targets table (also saved as targets.txt). The peer harness runs under
$PEERS_PYTHON (default /tmp/peers-venv/bin/python from bench/peers_setup.sh) when
it exists, with every peer; otherwise under this Python with only sessiontrail
and raw_wal (the others need the peers' packages), and rows that compare with a
missing peer say n/a. Ratios come from one run; absolute numbers are noise here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PEERS_PYTHON = Path(os.environ.get("PEERS_PYTHON", "/tmp/peers-venv/bin/python"))


def run(name: str, command: list[str], out: Path) -> str:
    """Run one benchmark, keep its stdout in out/NAME.txt, and return it."""
    print(f"== {name}: {' '.join(command)}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    (out / f"{name}.txt").write_text(done.stdout)
    if done.returncode != 0:
        (out / f"{name}.err").write_text(done.stderr)
        raise SystemExit(f"{name} failed ({done.returncode}): see {out / name}.err")
    return done.stdout


def steps(quick: bool, out: Path) -> list[tuple[str, list[str]]]:
    python = sys.executable
    full_peers = PEERS_PYTHON.exists()
    ours = "sessiontrail,sessiontrail_worker"
    peers = f"{ours},openai,adk_db,adk_sqlite,raw_wal"
    peer_args = ["--peers", peers if full_peers else f"{ours},raw_wal"]
    peer_args += ["--scale", "0.05", "--repeats", "1"] if quick else ["--repeats", "3"]
    size = ["--sessions", "300"] if quick else ["--sessions", "10000"]
    plot = [
        python,
        str(BENCH / "plot.py"),
        *(str(out / f"flatness.{kind}") for kind in ("json", "png")),
    ]
    return [
        (
            "peers",
            [
                str(PEERS_PYTHON) if full_peers else python,
                str(BENCH / "peers.py"),
                *peer_args,
                "--json-out",
                str(out / "peers.json"),
            ],
        ),
        (
            "save_cpu",
            [str(PEERS_PYTHON) if full_peers else python, str(BENCH / "save_cpu.py")]
            + (["--openai"] if full_peers else [])
            + (["--messages", "5", "--rounds", "1"] if quick else []),
        ),
        (
            "flatness",
            [python, str(BENCH / "flatness.py"), "--backend", "sqlite"]
            + ["--json-out", str(out / "flatness.json")]
            + (["--quick"] if quick else []),
        ),
        *([] if quick else [("plot", plot)]),
        (
            "long_sessions",
            [python, str(BENCH / "long_sessions.py")]
            + ["--json-out", str(out / "long_sessions.json")]
            + (["--quick"] if quick else ["--backend", "sqlite"]),
        ),
        (
            "held_sessions",
            [python, str(BENCH / "held_sessions.py")]
            + ["--json-out", str(out / "held_sessions.json")]
            + (["--quick"] if quick else []),
        ),
        (
            "cache_hits",
            [python, str(BENCH / "cache_hits.py")]
            + ["--json-out", str(out / "cache_hits.json")]
            + (["--quick"] if quick else []),
        ),
        (
            "held_sessions_usage",
            [python, str(BENCH / "held_sessions.py"), "--usage"]
            + ["--json-out", str(out / "held_sessions_usage.json")]
            + (["--quick"] if quick else []),
        ),
        (
            "projections",
            [
                python,
                str(BENCH / "projections.py"),
                *size,
                "--backend",
                "sqlite",
                "--json-out",
                str(out / "projections.json"),
            ],
        ),
        (
            "verify",
            [python, str(BENCH / "verify.py"), "--backend", "sqlite"]
            + (["--sessions", "50", "--messages", "5"] if quick else []),
        ),
        (
            "adapters",
            [
                python,
                str(BENCH / "adapters.py"),
                "--json-out",
                str(out / "adapters.json"),
            ]
            + (
                ["--sessions", "5", "--items", "10", "--listed", "100"] if quick else []
            ),
        ),
        (
            "http",
            [python, str(BENCH / "http_load.py"), "--json-out", str(out / "http.json")]
            + (["--seconds", "0.5", "--clients", "1,4"] if quick else []),
        ),
        (
            "retention",
            [python, str(BENCH / "retention.py")] + (["--quick"] if quick else []),
        ),
        (
            "langgraph_saver",
            [
                python,
                str(BENCH / "langgraph_saver.py"),
                "--json-out",
                str(out / "langgraph.json"),
            ]
            + (["--threads", "2", "--turns", "3"] if quick else []),
        ),
        (
            "sql_floor",
            [
                python,
                str(BENCH / "sql_floor.py"),
                "--json-out",
                str(out / "sql_floor.json"),
            ]
            + (
                ["--sessions", "5", "--appends", "2", "--threads", "2", "--turns", "2"]
                if quick
                else []
            ),
        ),
        (
            "pg_scaling",
            [python, str(BENCH / "pg_scaling.py"), "--json-out", str(out / "pg.json")]
            + (["--quick"] if quick else []),
        ),
    ]


Row = tuple[str, str, str, str]  # workload, target, measured, verdict


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def _at_most(limit: float) -> Callable[[float], bool]:
    """A ratio test bound to this limit (a lambda in a loop would see the last one)."""
    return lambda ratio: ratio <= limit


def targets(out: Path) -> list[Row]:
    """The rows of issue 9's table this run can judge."""
    peers: dict[str, Any] = json.loads((out / "peers.json").read_text())["results"]
    flat = json.loads((out / "flatness.json").read_text())["sqlite"]

    def median(peer: str, workload: str, key: str) -> float | None:
        value = peers.get(peer, {}).get(workload, {}).get(key)
        return None if value is None else float(value)

    rows: list[Row] = []

    def ratio_row(
        name: str,
        target: str,
        ours: float | None,
        theirs: float | None,
        test: Callable[[float], bool],
    ) -> None:
        if ours is None or theirs is None:
            rows.append((name, target, "peer missing", _verdict(None)))
            return
        value = ours / theirs
        rows.append(
            (
                name,
                target,
                f"{ours:.4g} / {theirs:.4g} = {value:.2f}x",
                _verdict(test(value)),
            )
        )

    for peer, mode in (("sessiontrail", "inline"), ("sessiontrail_worker", "worker")):
        appends = median(peer, "w1", "appends_per_s")
        ratio_row(
            f"W1 appends/s vs openai ({mode})",
            ">= 1x",
            appends,
            median("openai", "w1", "appends_per_s"),
            lambda r: r >= 1,
        )
        ratio_row(
            f"W1 appends/s vs raw_wal ({mode})",
            ">= 0.5x",
            appends,
            median("raw_wal", "w1", "appends_per_s"),
            lambda r: r >= 0.5,
        )
    ratio_row(
        "W2 load all vs raw",
        "<= 2x",
        median("sessiontrail", "w2", "load_all_ms"),
        median("raw_wal", "w2", "load_all_ms"),
        lambda r: r <= 2,
    )
    ratio_row(
        "W2 latest 20 vs openai",
        "<= 1.2x",
        median("sessiontrail", "w2", "recent20_ms"),
        median("openai", "w2", "recent20_ms"),
        lambda r: r <= 1.2,
    )
    loads = flat["loads"]
    sizes = f"{loads[-1]['messages']:.0f} vs {loads[0]['messages']:.0f} messages"
    ratio_row(
        f"latest 20: {sizes}",
        "<= 2x",
        loads[-1]["latest_20_ms"],
        loads[0]["latest_20_ms"],
        lambda r: r <= 2,
    )
    ratio_row(
        f"load: {sizes}",
        "<= 2x",
        loads[-1]["load_from_storage_ms"],
        loads[0]["load_from_storage_ms"],
        lambda r: r <= 2,
    )
    lists = flat["lists"]
    first = lists[0]
    ratio_row(
        "list first page vs raw query",
        "<= 3x",
        first["first_page_ms"],
        first["raw_query_ms"],
        lambda r: r <= 3,
    )
    ratio_row(
        f"list: {lists[-1]['sessions']:.0f} vs {lists[0]['sessions']:.0f} sessions",
        "<= 2x",
        lists[-1]["first_page_ms"],
        first["first_page_ms"],
        lambda r: r <= 2,
    )
    pg = json.loads((out / "pg.json").read_text())
    one, most = str(pg["writers"][0]), str(pg["writers"][-1])
    for mode in ("inline", "worker"):
        curve = pg["curves"][f"after-{mode}"]["saves_per_s"]
        ratio_row(
            f"PostgreSQL {most} writers vs {one} ({mode})",
            ">= 1.8x",
            curve[most],
            curve[one],
            lambda r: r >= 1.8,
        )
    langgraph = json.loads((out / "langgraph.json").read_text())["medians"]
    for call, limit in (("get_tuple", 1.5), ("put", 2.0)):
        ratio_row(
            f"LangGraph {call} vs SqliteSaver (CPU)",
            f"<= {limit}x",
            langgraph["ours"][call][1],
            langgraph["theirs"][call][1],
            _at_most(limit),
        )
    rebuild = json.loads((out / "projections.json").read_text())["sqlite"]
    rates = [
        (f"{name}, {keying}", rate)
        for keying in ("no key", "key")
        for name, rate in rebuild[keying]["events_per_s"].items()
        if name != "catch-up"  # the live catch-up, not a rebuild
    ]
    slowest = min(rates, key=lambda item: item[1])
    rows.append(
        (
            f"rebuild, slowest read model ({slowest[0]})",
            ">= 20,000 events/s",
            f"{slowest[1]:,.0f} events/s",
            _verdict(slowest[1] >= 20_000),
        )
    )
    adapters = json.loads((out / "adapters.json").read_text())
    listed = adapters["adk"]["listed_sessions"]
    for framework, theirs_name, key, label in (
        ("openai", "openai_sqlite", "appends_per_s", "appends/s"),
        ("openai", "openai_sqlite", "latest_20_ms", "latest 20"),
        ("adk", "adk_sqlite", "appends_per_s", "appends/s"),
        ("adk", "adk_sqlite", "latest_20_ms", "latest 20"),
        ("adk", "adk_sqlite", "many_list_ms", f"list {listed}"),
    ):
        ours = adapters[framework]["sessiontrail"][key]
        theirs = adapters[framework][theirs_name][key]
        rows.append(
            (
                f"{framework} adapter vs its SQLite store, {label}",
                "(issue 10: reported)",
                f"{ours:.4g} / {theirs:.4g} = {ours / theirs:.2f}x",
                "info",
            )
        )
    http = json.loads((out / "http.json").read_text())
    for kind, by_clients in http.items():
        measured = ", ".join(
            f"{n} clients {rate:,.0f}" for n, rate in by_clients.items()
        )
        rows.append(
            (f"HTTP {kind}, requests/s", "(issue 11: reported)", measured, "info")
        )
    for peer, mode in (("sessiontrail", "inline"), ("sessiontrail_worker", "worker")):
        w4 = peers.get(peer, {}).get("w4")
        if w4 is None:
            continue
        runs = [cell for run in w4["runs"] for cell in run.values()]
        clean = [
            cell["stored"] == cell["expected"]
            and not (cell["failed_calls"] or cell["retries"] or cell["duplicates"])
            for cell in runs
        ]
        rows.append(
            (
                f"W4 writers on one session ({mode})",
                "all stored, no retry",
                f"{sum(clean)}/{len(clean)} runs x modes clean",
                _verdict(all(clean)),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smoke sizes (CI)")
    parser.add_argument("--out", type=Path, help="results directory")
    options = parser.parse_args()
    day = datetime.date.today().isoformat()
    out = options.out or BENCH / "results" / (day + ("-quick" if options.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    for name, command in steps(options.quick, out):
        run(name, command, out)
    rows = targets(out)
    width = max(len(row[0]) for row in rows)
    lines = [f"{'workload':<{width}}  {'target':<20}  {'measured':<34}  verdict"]
    lines += [f"{w:<{width}}  {t:<20}  {m:<34}  {v}" for w, t, m, v in rows]
    (out / "targets.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
