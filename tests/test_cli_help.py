"""Every command's `--help` read at 80 columns: flags show as flags (no `<bool>`),
each command's summary fits one line of the command list, and every command keeps
its example, unbroken."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from sessiontrail.cli import app

WIDTH = 80


def commands() -> Iterator[tuple[list[str], typer.core.TyperCommand]]:
    """Every command and group, as the words that name it and its click object."""
    pending: list[tuple[list[str], typer.core.TyperCommand]] = [
        ([], typer.main.get_command(app))
    ]
    while pending:
        path, command = pending.pop()
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            pending.append(([*path, name], sub))


COMMANDS = sorted(commands(), key=lambda found: found[0])


def help_text(path: list[str]) -> str:
    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": ""}
    )
    assert result.exit_code == 0, result.output
    return result.output


def ids(found: tuple[list[str], object]) -> str:
    return " ".join(found[0]) or "sessiontrail"


@pytest.mark.parametrize("found", COMMANDS, ids=ids)
def test_help_fits_80_columns(found):
    lines = help_text(found[0]).splitlines()
    assert [line for line in lines if len(line) > WIDTH] == []


@pytest.mark.parametrize("found", COMMANDS, ids=ids)
def test_flags_show_no_type(found):
    assert "<bool>" not in help_text(found[0])


@pytest.mark.parametrize("found", COMMANDS, ids=ids)
def test_every_command_keeps_its_example_on_one_line(found):
    path, command = found
    if path and getattr(command, "commands", None):
        pytest.skip("a group's subcommands carry the examples")
    example = re.search(r"Example: (.+)", command.help or "")
    assert example is not None, f"{ids(found)} has no example"
    shown = [line.strip() for line in help_text(path).splitlines()]
    assert f"Example: {example.group(1).strip()}" in shown


def summary_rows(text: str) -> list[str]:
    """The rows of the Commands panel, without its borders."""
    panel = text.split("Commands ")[1].split("╰")[0]
    return [line.strip("│ ") for line in panel.splitlines()[1:]]


@pytest.mark.parametrize(
    "found",
    [found for found in COMMANDS if getattr(found[1], "commands", None)],
    ids=ids,
)
def test_each_command_summary_is_one_line(found):
    path, group = found
    rows = summary_rows(help_text(path))
    assert sorted(row.split()[0] for row in rows) == sorted(group.commands), rows
