"""The flatness curves of a bench/flatness.py run as one PNG.

    .venv/bin/python bench/plot.py RESULTS/flatness.json OUT.png

Needs matplotlib (`pip install -e ".[bench]"`). Left: read times against the
session's length; right: the list's first page against the number of sessions,
beside the raw indexed query. Both axes logarithmic: a flat line is O(page).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: files only, no display
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

LOADS = {
    "latest_20_ms": "latest 20 messages",
    "all_messages_ms": "all messages (read model)",
    "load_from_storage_ms": "load from storage (snapshot + tail)",
}
LISTS = {"first_page_ms": "first page of 50", "raw_query_ms": "raw indexed query"}


def plot(flatness: Path, out: Path) -> None:
    """Draw both panels from the SQLite results of one flatness run."""
    results = json.loads(flatness.read_text())["sqlite"]
    figure = Figure(figsize=(11, 4.2), layout="tight")
    loads, lists = figure.subplots(1, 2)
    sizes = [row["messages"] for row in results["loads"]]
    for key, label in LOADS.items():
        loads.plot(sizes, [row[key] for row in results["loads"]], "o-", label=label)
    loads.set(xlabel="messages in the session", ylabel="ms (median)")
    loads.set_title("Reading one session")
    counts = [row["sessions"] for row in results["lists"]]
    for key, label in LISTS.items():
        lists.plot(counts, [row[key] for row in results["lists"]], "o-", label=label)
    lists.set(xlabel="sessions in the index", ylabel="ms (median)")
    lists.set_title("Listing sessions")
    for axes in (loads, lists):
        axes.set_xscale("log")
        axes.set_yscale("log")
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: plot.py FLATNESS_JSON OUT_PNG")
    plot(Path(sys.argv[1]), Path(sys.argv[2]))
