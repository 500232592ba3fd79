"""docs/cli.md shows what the commands print today: regenerated here from the real
commands, it must equal the committed page (re-run scripts/cli_captures.py)."""

from __future__ import annotations

from support.scripts import load_script


def test_the_committed_captures_are_current() -> None:
    captures = load_script("cli_captures")
    assert captures.PAGE.read_text() == captures.generate(), (
        "docs/cli.md is stale: run .venv/bin/python scripts/cli_captures.py"
    )
