"""scripts/setup.sh prints one line per step, however noisy the tools it runs, and
a failing step's own output in full: run on a scratch copy with a stand-in Python
that prints warnings (so nothing is downloaded or installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = [
    "setup: creating .venv",
    "setup: upgrading pip",
    "setup: installing sessiontrail (editable) with its extras",
]
NOISY_PYTHON = """#!/bin/sh
echo "WARNING: this option is deprecated"
echo "  a warning on stderr" >&2
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
  exit 0
fi
case "$*" in *" -e "*) exit "${INSTALL_STATUS:-0}";; esac
"""


def checkout(tmp_path: Path) -> Path:
    """A scratch copy of the script beside a pyproject.toml, and the noisy Python."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    (tmp_path / "pyproject.toml").write_text("")
    python = tmp_path / "noisy-python"
    python.write_text(NOISY_PYTHON)
    python.chmod(0o755)
    return tmp_path


def run_setup(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(folder / "scripts" / "setup.sh")],
        env={**os.environ, "PYTHON": str(folder / "noisy-python"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_setup_prints_one_line_per_step(tmp_path: Path) -> None:
    result = run_setup(checkout(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (result.stdout.splitlines(), result.stderr) == (STEPS, "")


def test_setup_again_prints_nothing(tmp_path: Path) -> None:
    folder = checkout(tmp_path)
    assert run_setup(folder).returncode == 0
    again = run_setup(folder)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_a_failing_step_shows_its_output_and_names_the_step(tmp_path: Path) -> None:
    result = run_setup(checkout(tmp_path), INSTALL_STATUS="3")
    assert result.returncode == 1
    assert result.stdout.splitlines() == STEPS
    assert result.stderr.splitlines() == [
        "WARNING: this option is deprecated",
        "  a warning on stderr",
        f"setup: failed: {STEPS[-1].removeprefix('setup: ')}",
    ]
