"""Counts what reads had to skip: rows that no longer decode never crash a list."""

from __future__ import annotations

import logging
import threading
from collections import Counter

logger = logging.getLogger(__name__)


class Skips:
    """Per projection, the unreadable rows this process's reads skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: Counter[str] = Counter()

    def row(self, projection: str, what: str) -> None:
        """Note one skipped row (logged, so it can be found and repaired)."""
        logger.warning("%s read model: skipped an unreadable %s", projection, what)
        with self._lock:
            self._rows[projection] += 1

    def rows(self, projection: str) -> int:
        return self._rows[projection]
