"""Where `sessiontrail export` writes: a file, replaced only once complete, or
standard output.

An export holds decrypted content, so the file is born private and nothing else
is ever written to. The new content goes to a temporary file created exclusively
(O_EXCL, mode 0600, under a random name, so a symlink planted under a guessable
name is never followed) in the target's own directory, is flushed and fsynced,
then renamed over the target. Renaming replaces whatever sits at the target
rather than writing into it, so a target that exists and is not a regular file
(a symlink, a device such as /dev/null, a FIFO, a directory) is refused. Every
write error (a full disk, a closed pipe) is reported: never a silent success.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ..domain.errors import InvalidInput

STDOUT = "-"
"""The target that means standard output."""

OPTION = "--output"


@contextlib.contextmanager
def export_output(target: str | None) -> Iterator[TextIO]:
    """The stream to write an export to: standard output for None or "-", else
    the file at `target` (see the module docstring); InvalidInput naming
    --output for a target refused or a write that failed."""
    if target is None or target == STDOUT:
        with _stdout() as out:
            yield out
        return
    with _replaced(target) as out:
        yield out


@contextlib.contextmanager
def _stdout() -> Iterator[TextIO]:
    try:
        yield sys.stdout
        sys.stdout.flush()
        _fsync_if_a_file(sys.stdout)
    except OSError as exc:
        _discard_stdout()
        raise InvalidInput(
            f"{OPTION}: cannot write to standard output: {exc.strerror or exc}"
        ) from None


@contextlib.contextmanager
def _replaced(target: str) -> Iterator[TextIO]:
    if not target.strip():
        raise InvalidInput(
            f"{OPTION}: an empty path; give a file, or - for standard output"
        )
    path = Path(target)
    _refuse_what_is_not_a_regular_file(path)
    try:
        descriptor, partial = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    renamed = False
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
        renamed = True
        _fsync_directory(path.parent)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)


def _refuse_what_is_not_a_regular_file(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return  # a new file
    except OSError as exc:
        raise _cannot_write(str(path), exc) from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(
            f"{OPTION}: {str(path)!r} is {_kind(mode)}, not a regular file; an "
            "export replaces the file it writes, so give a regular file, a new "
            "path, or - for standard output"
        )


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _cannot_write(target: str, exc: OSError) -> InvalidInput:
    return InvalidInput(f"{OPTION}: cannot write {target!r}: {exc.strerror or exc}")


def _fsync_if_a_file(stream: TextIO) -> None:
    """fsync standard output when it is a regular file (`> out.jsonl`): a disk
    error then surfaces here; pipes and terminals cannot be fsynced."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return  # not backed by a file descriptor (captured output)
    if stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.fsync(descriptor)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _discard_stdout() -> None:
    """After a failed write, point standard output at /dev/null: the interpreter
    flushes what is left at exit, and that must not fail (and report) twice."""
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)
