"""Two checkouts measured in turns: this one ("after") and `--before` (another
checkout with its own .venv), each running a script's child process in turn,
which tree goes first alternating from round to round, so that a change in the
machine's load falls on both alike."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

THIS_TREE = Path(__file__).resolve().parent.parent


def in_turns(before: Path | None, rounds: int) -> Iterator[tuple[int, str, Path]]:
    """(round, "before" or "after", checkout), `rounds` times each, alternating."""
    trees = {"after": THIS_TREE}
    if before:
        trees = {"before": before, **trees}
    order = list(trees.items())
    for turn in range(rounds):
        for name, tree in order if turn % 2 == 0 else reversed(order):
            yield turn, name, tree


def child_output(tree: Path, script: Path, args: Sequence[str]) -> str:
    """What `script --child args` printed, run by `tree`'s Python, outside any
    checkout (a checkout's folders would shadow the tree's install)."""
    return subprocess.run(
        [str(tree / ".venv/bin/python"), str(script), "--child", *args],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    ).stdout
