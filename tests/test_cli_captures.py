"""docs/cli.md shows what the commands print today: regenerated here from the real
commands, it must equal the committed page (re-run scripts/cli_captures.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "cli_captures.py"


def captures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_captures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_captures_are_current() -> None:
    module = captures()
    assert module.PAGE.read_text() == module.generate(), (
        "docs/cli.md is stale: run .venv/bin/python scripts/cli_captures.py"
    )
