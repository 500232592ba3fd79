"""The one error tree of sessiontrail; library errors are mapped onto it at the edge.

SessiontrailError
├── SessionNotFound        the session is unknown, deleted, or another user's
├── ConcurrencyConflict    a write could not be merged (id taken, retries exhausted)
├── StorageUnavailable     the database failed or could not be reached
├── VersionIncompatible    the log holds an event this code cannot read
├── ChecksumMismatch       a stored record is not what was written (tampered, corrupt)
├── KeyRequired            the log is encrypted and no key, or the wrong key, was given
└── InvalidInput (ValueError)  bad input; names the field; nothing was written
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError


class SessiontrailError(Exception):
    """Base class of every error sessiontrail raises on purpose."""


class SessionNotFound(SessiontrailError, LookupError):
    """The session does not exist, was deleted, or belongs to another user."""


class ConcurrencyConflict(SessiontrailError):
    """A write could not be merged with what other writers stored meanwhile."""


class StorageUnavailable(SessiontrailError):
    """The database failed; what the call wrote, if anything, is unknown or none."""


class VersionIncompatible(SessiontrailError):
    """A stored event is of a type, or a version, this code does not know: upgrade."""


class ChecksumMismatch(SessiontrailError):
    """A stored record fails its check: edited, missing, reordered, inserted or
    undecodable. Names the stream and the version of the first bad record."""

    def __init__(self, stream: str, version: int, problem: str) -> None:
        super().__init__(f"stream {stream} version {version}: {problem}")
        self.stream = stream
        self.version = version
        self.problem = problem

    def __reduce__(self) -> tuple[type[ChecksumMismatch], tuple[str, int, str]]:
        return type(self), (self.stream, self.version, self.problem)


class KeyRequired(SessiontrailError):
    """The log holds encrypted records and no key, or a key that does not open
    them, was configured."""


class InvalidInput(SessiontrailError, ValueError):
    """Input failed validation; the message names the field and nothing was written."""

    @classmethod
    def from_validation(
        cls, exc: ValidationError, parameters: Sequence[str] = ()
    ) -> InvalidInput:
        """One message naming each bad field; `parameters` names positional args."""
        problems = []
        for error in exc.errors(include_url=False):
            parts = _without_json_tags(list(error["loc"]), error.get("input"))
            if parts and isinstance(parts[0], int) and parts[0] < len(parameters):
                parts[0] = parameters[parts[0]]
            location = ".".join(shown(part) for part in parts) or exc.title.lower()
            problems.append(f"{location}: {error['msg']}")
        return cls("; ".join(problems))


def _without_json_tags(parts: list[Any], refused: object) -> list[Any]:
    """An error's location without the type tags pydantic's JsonValue puts after
    each value's place (`record.a.dict.b.float` is `record.a.b`): the last part
    names the refused value's type, and each object or array holding it is
    tagged `dict` or `list` before the key or index inside it."""
    if len(parts) < 3 or parts[-1] != type(refused).__name__:
        return parts
    kept = parts[:-1]
    place = len(kept) - 1
    while place >= 2 and (kept[place - 1], type(kept[place])) in _CONTAINER_TAGS:
        del kept[place - 1]
        place -= 2
    return kept


_CONTAINER_TAGS = (("dict", str), ("list", int))


SHOWN_CHARS = 64


def shown(name: object) -> str:
    """A field name or key as a message may quote it: on one line, with control
    and other unprintable characters escaped, at most SHOWN_CHARS characters."""
    text = str(name)
    if not text.isprintable():
        text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
