"""What every `sessiontrail` command shares: help with an example, clean failures,
and the installed executable working against real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.cli import executable, failure, invoke
from support.postgres import PostgresServer

import sessiontrail
from sessiontrail.cli.demo import DEMO_ID

COMMANDS = [
    ["demo"],
    ["ls"],
    ["show", "x"],
    ["history", "x"],
    ["replay", "x", "--no-pause"],
    ["diff", "x", "1", "2"],
    ["stats"],
    ["export", "--all"],
    ["import", "FILE"],
    ["checkpoint"],
    ["verify"],
    ["erase-user", "someone", "--yes"],
    ["projections", "status"],
    ["projections", "rebuild", "sessions"],
    ["projections", "run"],
]
DOWN = "postgresql://nobody@127.0.0.1:9/trail?connect_timeout=2"


@pytest.mark.parametrize("command", [*COMMANDS, ["serve"], ["token"]], ids=" ".join)
def test_every_command_explains_itself_with_an_example(command: list[str]) -> None:
    words = command[:2] if command[0] == "projections" else command[:1]
    result = invoke(*words, "--help")
    assert result.exit_code == 0
    assert "Example: sessiontrail" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_that_is_down_is_one_red_line(
    command: list[str], tmp_path: Path
) -> None:
    args = [str(tmp_path / "f.jsonl") if word == "FILE" else word for word in command]
    (tmp_path / "f.jsonl").write_text('{"role": "user", "content": "hi"}\n')
    line = failure("--db", DOWN, *args)
    assert "Connection refused" in line or "connection failed" in line


@pytest.mark.parametrize("command", [c for c in COMMANDS if "x" in c], ids=" ".join)
def test_an_unknown_session_is_one_red_line(command: list[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    sessiontrail.connect(url).close()
    assert failure("--db", url, *command) == "error: no session 'x'"


READERS = [c for c in COMMANDS if c[0] not in ("demo", "import")]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_reading_a_sqlite_file_that_is_not_there_creates_nothing(
    command: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    line = failure("--db", f"sqlite:///{missing}", *command)
    assert line.startswith(f"error: db: no SQLite database at {missing}")
    assert not missing.exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from sessiontrail import SessionNotFound

    url = f"sqlite:///{tmp_path / 'a.db'}"
    sessiontrail.connect(url).close()
    with pytest.raises(SessionNotFound):
        invoke("--db", url, "--debug", "show", "x")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [executable(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HOME": str(cwd)},
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_installed_executable_on_real_databases(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url, copy = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url, copy = server.url(server.new_schema()), server.url(server.new_schema())
    demo = run("--db", url, "demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "recorded demo-trip" in demo.stdout
    assert max(len(line) for line in demo.stdout.splitlines()) <= 80
    listed = json.loads(run("--db", url, "ls", "--json", cwd=tmp_path).stdout)
    assert [s["session_id"] for s in listed["items"]] == [DEMO_ID]

    dump = tmp_path / "dump.jsonl"
    assert (
        run("--db", url, "export", "--all", "-o", str(dump), cwd=tmp_path).returncode
        == 0
    )
    assert run("--db", copy, "import", str(dump), cwd=tmp_path).returncode == 0
    for command in (["show", DEMO_ID], ["history", DEMO_ID], ["stats", "--json"]):
        original = run("--db", url, *command, cwd=tmp_path)
        imported = run("--db", copy, *command, cwd=tmp_path)
        assert original.returncode == 0, original.stderr
        assert imported.stdout == original.stdout

    missing = run("--db", url, "show", "nope", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == "error: no session 'nope'\n"
    assert missing.stdout == ""
