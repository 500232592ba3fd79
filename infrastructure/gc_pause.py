"""Pause the cyclic garbage collector while a load builds many objects at once.

Decoding a long session creates tens of thousands of objects; each allocation
burst triggers collections that rescan everything alive, which made loading a
10,000-message session cost twice its linear share. Nothing a load creates is a
cycle to reclaim, so collecting can wait until it ends. Pauses nest and overlap
across threads: the collector runs again when the last one ends, and stays off if
the application had turned it off itself.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the body with automatic collection off (see the module docstring)."""
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
