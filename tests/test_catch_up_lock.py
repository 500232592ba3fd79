"""The catch-up lock alone: a waiter waits while the holder moves the read
models on, gives up a lock timeout after the last move, and stops waiting
without the lock once what it wanted is done (the database-backed cases are in
test_catch_up_lock_bound.py)."""

from __future__ import annotations

import threading
import time

from support.deadlines import outcomes_within

from sessiontrail import StorageUnavailable
from sessiontrail.projections.catch_up_lock import CatchUpLock

TIMEOUT = 0.5
"""The lock timeout here, seconds."""
MOVES = 5
"""How many times the holder moves the read models on, TIMEOUT / 2 apart."""


def test_a_waiter_gives_up_a_lock_timeout_after_the_holders_last_move() -> None:
    """The holder moves on for twice the lock timeout, then stops (stuck): the
    waiter, waiting all along, fails about a lock timeout after the last move."""
    lock = CatchUpLock(TIMEOUT)
    assert lock.take()
    waiting, stopped = threading.Event(), threading.Event()
    last_move = 0.0

    def asked() -> bool:
        waiting.set()  # the waiter is in its wait loop
        return False

    def hold() -> None:
        nonlocal last_move
        assert waiting.wait(10)
        for _ in range(MOVES):
            stopped.wait(TIMEOUT / 2)  # a batch taking half the lock timeout
            lock.moved()
            last_move = time.monotonic()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    began = time.monotonic()
    [outcome] = outcomes_within(30, lambda: lock.take(asked))
    ended = time.monotonic()
    stopped.set()
    holder.join(10)
    assert isinstance(outcome, StorageUnavailable), outcome
    assert "moved them on in none of the last 0.5 s" in str(outcome)
    assert ended - began > MOVES * TIMEOUT / 2
    assert TIMEOUT * 0.9 <= ended - last_move < TIMEOUT * 1.5


def test_a_waiter_whose_want_is_met_stops_waiting_without_the_lock() -> None:
    """A save waiting for the lock returns (False: not taken) at the holder's
    next move once the holder has applied its write, which `done` says."""
    lock = CatchUpLock(10.0)
    assert lock.take()
    waiting, applied = threading.Event(), threading.Event()
    taken: list[bool] = []

    def done() -> bool:
        waiting.set()  # the waiter is in its wait loop
        return applied.is_set()

    def wait_for_it() -> None:
        taken.append(lock.take(done))

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    waiter.start()
    assert waiting.wait(10)
    applied.set()
    lock.moved()
    waiter.join(5)
    assert taken == [False]
    assert not lock.try_take()  # still the holder's
    lock.release()
    assert lock.try_take()
