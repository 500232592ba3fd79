"""Waiting for new events: PostgreSQL's LISTEN where there is one, else a timer.

Writers NOTIFY the log's channel after each insert commits (postgres_store.py).
A process that follows the log (the projection worker, the change feed's
streams) shares one listening connection, in a thread of its own, instead of
holding one per follower. A notification can be missed (a pooler in transaction
mode drops LISTEN, the connection breaks, a NOTIFY is lost in a crash): every
wait is bounded, so followers then fall back to polling at their interval, and
the listener reconnects.

Take a `ticket()` before reading the log and pass it to `wait`: a notification
that arrives between the read and the wait then ends the wait at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

logger = logging.getLogger(__name__)

RECONNECT_AFTER = 1.0
"""Seconds between attempts to listen again after the connection failed."""
LISTEN_SLICE = 0.2
"""Seconds the listener waits on its socket before checking whether to stop."""


class Wakeups:
    """Notifications of a channel, shared by every waiter in the process."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection[Any]] | None, channel: str
    ) -> None:
        """`connect` opens an autocommit connection (None: no notifications, every
        wait runs its whole timeout)."""
        self._connect = connect
        self._channel = channel
        self._changed = threading.Condition()
        self._count = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()

    def ticket(self) -> int:
        """A mark to wait from; starts listening on first use."""
        with self._changed:
            if self._connect is not None and self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._listen, name="sessiontrail-wakeups", daemon=True
                )
                self._thread.start()
                start = True
            else:
                start = False
            count = self._count
        if start:
            self._listening.wait(RECONNECT_AFTER)  # best effort: polling covers
        return count

    def wait(self, ticket: int, timeout: float) -> bool:
        """Until a notification after `ticket`, `timeout` seconds, or close();
        True if notified."""
        with self._changed:
            return (
                self._changed.wait_for(
                    lambda: self._count != ticket or self._closed, timeout
                )
                and not self._closed
            )

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2 * LISTEN_SLICE + 1)

    def _listen(self) -> None:
        assert self._connect is not None
        while not self._closed:
            try:
                with self._connect() as connection:
                    connection.execute(
                        SQL("LISTEN {}").format(Identifier(self._channel))
                    )
                    self._listening.set()
                    self._wake()  # anything committed while not listening
                    while not self._closed:
                        notified = False
                        for _ in connection.notifies(
                            timeout=LISTEN_SLICE, stop_after=1
                        ):
                            notified = True
                        if notified:
                            self._wake()
            except psycopg.Error:
                logger.warning(
                    "not listening for new events; polling until it works again",
                    exc_info=True,
                )
                self._listening.set()
                with self._changed:
                    self._changed.wait_for(lambda: self._closed, RECONNECT_AFTER)

    def _wake(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()
