"""Running the `sessiontrail` command in process, as typer's CliRunner does."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from sessiontrail.cli import app


def invoke(*args: str, input: str | None = None) -> Result:
    """Run `sessiontrail ARGS...`; exceptions that escape the CLI fail the test."""
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def invoke_json(*args: str) -> Any:
    """Run a command with `--json`; it must succeed and print valid JSON."""
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def failure(*args: str) -> str:
    """Run a command that must fail cleanly: exit 1, one line on stderr, no
    traceback and nothing on stdout. Returns that line."""
    result = invoke(*args)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def executable() -> str:
    """The `sessiontrail` script pip installed beside this interpreter."""
    found = Path(sys.executable).parent / "sessiontrail"
    return str(found) if found.exists() else shutil.which("sessiontrail") or "missing"
