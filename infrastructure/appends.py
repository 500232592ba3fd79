"""What every writer of the log shares around an append: retrying one that another
writer beat, and bringing the inline read models up to it afterwards.

Retries are bounded, with a random, growing pause between attempts so racing
writers stop colliding in lockstep. The chat writer (`session_writer.py`) and
the Q&A writer (`qa_repository.py`) both append this way.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator

from ..domain.errors import ConcurrencyConflict, SessiontrailError
from .log_position import LogPosition

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 64
AfterWrite = Callable[[LogPosition], object]
"""Called with the log position a write reached (inline mode's catch-up)."""


def attempts(limit: int = MAX_ATTEMPTS) -> Iterator[int]:
    """0, 1, ... limit - 1, pausing before each attempt after the first."""
    for attempt in range(limit):
        if attempt:
            time.sleep(random.uniform(0, min(0.05, 0.0005 * 2 ** (attempt - 1))))
        yield attempt


def gave_up(what: str, limit: int = MAX_ATTEMPTS) -> ConcurrencyConflict:
    """The error once every attempt met another writer first."""
    return ConcurrencyConflict(f"{what}: still conflicting after {limit} attempts")


def caught_up(
    after_write: AfterWrite | None, position: LogPosition | None, what: str
) -> None:
    """Bring inline read models up to a write that reached `position`; a failure
    is logged: the write is stored, and the read models catch up later."""
    if position is None or after_write is None:
        return
    try:
        after_write(position)
    except SessiontrailError:
        logger.warning(
            "%s is stored; its read models lag until the next catch-up",
            what,
            exc_info=True,
        )
