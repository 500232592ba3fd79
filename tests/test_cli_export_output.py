"""`sessiontrail export -o FILE`: the file is replaced only once complete, born
private, never written through a symlink, device or FIFO; every write error is
reported. Run as a user runs it (the tests run as root here, so nothing stops a
wrong rename but the code under test)."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from support.cli import executable, failure, invoke
from support.postgres import PostgresServer

import sessiontrail

SECRET = "the launch code is 0000"


def recorded(url: str) -> str:
    with sessiontrail.connect(url) as trail:
        session = trail.sessions.load_or_create("s1", user_id="ann")
        for number in range(3):
            session.append_message(role="user", content=f"{SECRET} #{number}")
        trail.sessions.save(session)
    return url


@pytest.fixture
def db(tmp_path: Path) -> str:
    return recorded(f"sqlite:///{tmp_path / 'trail.db'}")


@pytest.fixture
def server_db(postgres_server: PostgresServer) -> str:
    """A log whose reads write no local file (SQLite's would)."""
    return recorded(postgres_server.url(postgres_server.new_schema()))


def export_lines(db: str) -> str:
    result = invoke("--db", db, "export", "--all")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def refused(db: str, target: Path | str) -> str:
    return failure("--db", db, "export", "--all", "-o", str(target))


def char_device_like_dev_null(tmp_path: Path) -> Path:
    """A device node equal to /dev/null in a temporary directory (root may make
    one): a wrong rename over it harms nothing outside the test."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.stat("/dev/null").st_rdev)
    except PermissionError:
        pytest.skip("making a device node needs root")
    return node


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full", "in a temp dir"])
def test_a_device_is_refused_and_stays_a_device(
    db: str, tmp_path: Path, device: str
) -> None:
    target = (
        char_device_like_dev_null(tmp_path)
        if device == "in a temp dir"
        else Path(device)
    )
    before = os.lstat(target)
    line = refused(db, target)
    assert line == (
        f"error: --output: {str(target)!r} is a device, not a regular file; an "
        "export replaces the file it writes, so give a regular file, a new path, "
        "or - for standard output"
    )
    after = os.lstat(target)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not list(target.parent.glob(f".{target.name}.*.partial"))


def test_a_symlink_is_refused_and_its_target_kept(db: str, tmp_path: Path) -> None:
    kept = tmp_path / "notes.txt"
    kept.write_text("mine")
    link = tmp_path / "out.jsonl"
    link.symlink_to(kept)
    assert "is a symlink, not a regular file" in refused(db, link)
    assert link.is_symlink() and os.readlink(link) == str(kept)
    assert kept.read_text() == "mine"


def test_a_fifo_is_refused_and_stays_a_fifo(db: str, tmp_path: Path) -> None:
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    assert "is a FIFO, not a regular file" in refused(db, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_directory_is_refused(db: str, tmp_path: Path) -> None:
    assert "is a directory, not a regular file" in refused(db, tmp_path)


def test_a_planted_partial_symlink_is_never_followed(db: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    planted = tmp_path / "out.jsonl.partial"
    planted.symlink_to(victim)
    out = tmp_path / "out.jsonl"
    result = invoke("--db", db, "export", "--all", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text() == export_lines(db)
    assert victim.read_text() == "untouched"
    assert planted.is_symlink() and os.readlink(planted) == str(victim)


def test_the_file_is_readable_by_its_owner_alone(db: str, tmp_path: Path) -> None:
    new = tmp_path / "new.jsonl"
    existing = tmp_path / "existing.jsonl"
    existing.write_text("old")
    existing.chmod(0o644)
    for target in (new, existing):
        result = invoke("--db", db, "export", "--all", "-o", str(target))
        assert result.exit_code == 0, result.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert SECRET in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_an_empty_path_is_a_clear_error(db: str) -> None:
    assert refused(db, "") == (
        "error: --output: an empty path; give a file, or - for standard output"
    )


def test_dash_is_standard_output(db: str, tmp_path: Path) -> None:
    result = invoke("--db", db, "export", "--all", "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == export_lines(db)
    assert not (Path.cwd() / "-").exists()


def test_a_failing_standard_output_is_reported(db: str) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [executable(), "--db", db, "export", "--all"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --output: cannot write to standard output: No space left on device"
    ]


def test_a_failing_file_write_is_reported_and_keeps_the_old_file(
    server_db: str, tmp_path: Path
) -> None:
    """Files may not grow past 1 KiB in this process, so the export cannot be
    written: reported, the old file kept, no temporary file left."""
    db = server_db
    out = tmp_path / "out.jsonl"
    out.write_text("previous export")
    limit = 1024
    assert len(export_lines(db)) > limit

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [executable(), "--db", db, "export", "--all", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=small_files,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --output: cannot write {str(out)!r}: File too large"
    ]
    assert out.read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []
