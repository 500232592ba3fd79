"""The lock one runner's catch-ups take in turn within a process, and how long a
caller waits for it.

A wait for another thread's catch-up is bounded by how that catch-up goes, not
by the clock alone: while it moves the read models on (a backlog after downtime,
applied batch by batch, each committed) the waiter keeps waiting, as the read
models will soon hold what it needs; once none moved them on for the lock
timeout (a catch-up stuck on a read-model lock, say) it gives up, as it did
before. A catch-up that keeps moving for ever (a log growing as fast as it is
applied) is waited for at most PROGRESSING_WAIT lock timeouts in all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..domain.errors import StorageUnavailable

PROGRESSING_WAIT = 12
"""How many lock timeouts at most a caller waits in all for another thread's
catch-up that keeps moving the read models on (60 s on PostgreSQL's default)."""


class CatchUpLock:
    """A lock whose holder tells its waiters each time the read models move on
    (`moved`), so that they wait while it makes progress and no longer."""

    def __init__(self, lock_timeout: float) -> None:
        """`lock_timeout`: the longest a waiter waits without seeing the read
        models move on (the URL's lock timeout)."""
        self._lock_timeout = lock_timeout
        self._changed = threading.Condition()
        self._held = False
        self._moved_at = float("-inf")  # time.monotonic() of the last move on

    def try_take(self) -> bool:
        """Take the lock if it is free; whether it was taken."""
        with self._changed:
            if self._held:
                return False
            self._held = True
            return True

    def take(self, done: Callable[[], bool] | None = None) -> bool:
        """Wait for the lock while its holder moves the read models on; True once
        taken. False, without it, if `done()` (asked as the holder moves them)
        comes true first: what the caller wanted is done. StorageUnavailable
        once they did not move for the lock timeout, or after PROGRESSING_WAIT
        lock timeouts in all."""
        began = time.monotonic()
        overall = began + PROGRESSING_WAIT * self._lock_timeout
        with self._changed:
            while self._held:
                if done is not None and done():
                    return False
                now = time.monotonic()
                quiet_until = max(began, self._moved_at) + self._lock_timeout
                if now >= overall:
                    raise StorageUnavailable(
                        f"read models: timed out after {now - began:.3g} s waiting "
                        "for another thread's catch-up, still moving them on"
                    )
                if now >= quiet_until:
                    raise StorageUnavailable(
                        f"read models: timed out after {now - began:.3g} s waiting "
                        "for another thread's catch-up, which moved them on in "
                        f"none of the last {self._lock_timeout:g} s"
                    )
                self._changed.wait(min(quiet_until, overall) - now)
            self._held = True
            return True

    def release(self) -> None:
        """Free the lock for the next waiter."""
        with self._changed:
            self._held = False
            self._changed.notify_all()

    def moved(self) -> None:
        """The read models moved on: waiters wait another lock timeout from now."""
        with self._changed:
            self._moved_at = time.monotonic()
            self._changed.notify_all()
