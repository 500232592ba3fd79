"""Waiting for a condition another thread or process brings about, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL = 0.01
"""Seconds between looks: short next to any wait, long enough not to hog a core."""


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Return once `condition()` is true; fail the test, naming `what`, if it is
    still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout} s: {what}"
        time.sleep(POLL)
