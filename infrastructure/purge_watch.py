"""How a running process learns of purges made by others: its cached copies of a
purged session must stop being served.

On a cache hit, at most every PURGE_CHECK_SECONDS, the watch asks the log for
the purge records written since it last looked (the database filters by their
type, so this reads only those) and evicts the sessions they name. A process
then serves a purged session for at most that long, as it serves an erased
user's for at most the key cache's time. If the log cannot be read, the copy is
served (the cache answers through an outage) and the next hit asks again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import cast

from eventsourcing.utils import get_topic

from ..domain.errors import StorageUnavailable
from ..domain.purge import Purge
from .event_store import SessionStore
from .log_position import LogPosition

logger = logging.getLogger(__name__)

PURGE_CHECK_SECONDS = 5.0
BATCH = 100
TOPICS = [get_topic(Purge.SessionPurged)]


class PurgeWatch:
    """Evicts the sessions other processes purged, checked now and then."""

    def __init__(self, store: SessionStore, evict: Callable[[str], None]) -> None:
        self._store = store
        self._evict = evict
        self._lock = threading.Lock()
        self._after: LogPosition | None = None
        self._next = 0.0
        with contextlib.suppress(StorageUnavailable):  # else the first check does
            self._after = store.head_position()

    def check(self) -> None:
        """Evict what was purged since the last check, if that is due."""
        if time.monotonic() < self._next:
            return
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return
            self._next = now + PURGE_CHECK_SECONDS
            try:
                self._catch_up()
            except StorageUnavailable:
                logger.warning("could not read the log's purges", exc_info=True)

    def _catch_up(self) -> None:
        if self._after is None:
            self._after = self._store.head_position()
            return
        while True:
            found = self._store.notifications(self._after, BATCH, TOPICS)
            for position, notification in found:
                record = cast(
                    Purge.SessionPurged,
                    self._store.mapper.to_domain_event(notification),
                )
                self._evict(record.session_id)
                self._after = position
            if len(found) < BATCH:
                return
