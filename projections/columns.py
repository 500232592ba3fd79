"""How values are stored in read-model columns, the same on SQLite and PostgreSQL.

Times are whole microseconds since the epoch (exact, and ordered as numbers);
flags are 0/1 integers; structured values are JSON text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A moment as whole microseconds since the epoch (exact integer arithmetic)."""
    return (moment - EPOCH) // MICROSECOND


def moment(value: int) -> datetime:
    """The UTC moment a `micros` column holds."""
    return EPOCH + value * MICROSECOND
