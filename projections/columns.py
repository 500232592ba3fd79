"""How values are stored in read-model columns, the same on SQLite and PostgreSQL.

Times are whole microseconds since the epoch (exact, and ordered as numbers);
flags are 0/1 integers; structured values are JSON text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..domain.session_ids import spellings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A moment as whole microseconds since the epoch (exact integer arithmetic)."""
    return (moment - EPOCH) // MICROSECOND


def moment(value: int) -> datetime:
    """The UTC moment a `micros` column holds."""
    return EPOCH + value * MICROSECOND


def any_spelling(column: str, name: str) -> tuple[str, tuple[str, ...]]:
    """A condition (and its parameters) matching `column` to `name` in any of its
    Unicode spellings (as given, NFC, NFD): an ADK app is found whichever form
    its name was stored or is asked in."""
    names = spellings(name)
    return f"{column} IN ({', '.join('?' * len(names))})", names
