"""What an import file holds, and a way to read its records (more than once).

A file of JSON lines (an export) or one JSON document: a list, or an object with
an "events" or "messages" list. Its first record says whether it holds events
(they name an "event") or chat messages (they name a "role").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from ..domain.errors import InvalidInput

ImportKind = Literal["events", "messages"]
Records = Callable[[], Iterator[tuple[str, Any]]]
"""Reads a file's records from the start: (where, as "line 3", and the value)."""


def detect(path: Path) -> tuple[ImportKind, Records]:
    """What the file holds, and a way to read its records (more than once)."""
    try:
        with path.open(encoding="utf-8") as file:
            start = file.read(4096).lstrip()
            file.seek(0)
            first_line = file.readline().strip()
    except OSError as exc:
        raise InvalidInput(f"file: cannot read {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"file: {str(path)!r} is not UTF-8 text") from None
    except ValueError as exc:  # a NUL or a lone surrogate: no file has that name
        raise InvalidInput(f"path: not a file name: {exc}") from None
    if not start:
        raise InvalidInput(f"file: {str(path)!r} is empty")
    if start[0] == "{" and first_line[:1] == "{" and first_line[-1:] == "}":
        records = _lines(path)
    elif start[0] in "[{":
        records = _document(path)
    else:
        raise InvalidInput(f"file: {str(path)!r} is neither JSON nor JSON lines")
    first = next(records(), None)
    if first is None:
        raise InvalidInput(f"file: {str(path)!r} holds no messages or events")
    if isinstance(first[1], Mapping) and "event" in first[1]:
        return "events", records
    if isinstance(first[1], Mapping) and "role" in first[1]:
        return "messages", records
    raise InvalidInput(
        f"{first[0]}: neither an event (no 'event') nor a message (no 'role')"
    )


def _json_problem(exc: ValueError) -> str:
    """Why text is not JSON this reads, in words users know."""
    if "integer string conversion" in str(exc):
        return f"a number longer than {sys.get_int_max_str_digits():,} digits"
    return str(exc)


def _lines(path: Path) -> Records:
    def read() -> Iterator[tuple[str, Any]]:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"line {number}", json.loads(line)
                except ValueError as exc:
                    raise InvalidInput(
                        f"line {number}: not JSON: {_json_problem(exc)}"
                    ) from None

    return read


def _document(path: Path) -> Records:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput(
            f"file: {str(path)!r} is not valid JSON: {_json_problem(exc)}"
        ) from None
    if isinstance(document, Mapping):
        for key in ("events", "messages"):
            if isinstance(document.get(key), list):
                name, items = key, document[key]
                break
        else:
            raise InvalidInput(
                "file: a JSON object needs an 'events' or 'messages' list"
            )
    elif isinstance(document, list):
        name, items = "items", document
    else:
        raise InvalidInput("file: expected a JSON list or object")

    def read() -> Iterator[tuple[str, Any]]:
        for index, item in enumerate(items):
            yield f"{name}[{index}]", item

    return read
