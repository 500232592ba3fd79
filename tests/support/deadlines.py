"""Calls that must finish, and conditions that must come true, by a deadline: a
hang fails the test instead of the run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest


def outcomes_within(
    seconds: float, *calls: Callable[[], object]
) -> list[BaseException | None]:
    """Run the calls at once, each in a thread; what each raised (None if it
    returned). Fails the test if any still runs after `seconds` (it is left
    behind, a daemon thread, so that a hang cannot stop the suite)."""
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # reported to the test, never swallowed
            outcomes[index] = exc

    threads = [
        threading.Thread(target=run, args=(index, call), daemon=True)
        for index, call in enumerate(calls)
    ]
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [index for index, thread in enumerate(threads) if thread.is_alive()]
    if stuck:
        pytest.fail(f"call(s) {stuck} still running after {seconds} s")
    return outcomes


POLL = 0.01
"""Seconds between looks at a condition: short next to any wait, long enough not
to hog a core."""


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Return once `condition()` is true; fail the test, naming `what`, if it is
    still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {what}")
        time.sleep(POLL)
