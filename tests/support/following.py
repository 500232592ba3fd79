"""A trail's projection worker run in a thread for the length of a block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sessiontrail


@contextmanager
def following(trail: sessiontrail.SessionTrail, poll_interval: float) -> Iterator[None]:
    """The trail's projection worker in a thread until the block ends (then
    stopped, and joined with a deadline)."""
    stop = threading.Event()
    follower = threading.Thread(
        target=trail.projections.run,
        args=(stop,),
        kwargs={"poll_interval": poll_interval},
    )
    follower.start()
    try:
        yield
    finally:
        stop.set()
        follower.join(timeout=60)
    assert not follower.is_alive(), "the worker did not stop"
