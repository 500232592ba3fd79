"""`trail.erase_user`: crypto-shred one user's content, everywhere it is stored.

Steps, in order: destroy the user's data key (their sealed fields now read as
"[erased]"), record `UserErased`, drop cached sessions, rebuild every read model
from the log (so no row keeps their plaintext), drop the old read-model tables at
once, and on SQLite truncate the write-ahead log. Freed SQLite pages are zeroed
(`secure_delete`); on PostgreSQL the old tables' files are removed by DROP TABLE.
"""

from __future__ import annotations

from collections.abc import Callable

from .domain.erasure import Erasure
from .domain.validation import Actor, UserId, validated
from .domain.values import Value
from .infrastructure.event_store import SessionStore
from .projections.runner import ProjectionRunner


class ErasureReport(Value):
    """What an erasure did."""

    user_id: str
    had_key: bool  # False: nothing of theirs was ever sealed (or already erased)
    read_models: list[str]
    log_compacted: bool  # SQLite: the write-ahead log was truncated


class Eraser:
    """Carries out erasures for one trail."""

    def __init__(
        self,
        store: SessionStore,
        projections: ProjectionRunner,
        forget_cached: Callable[[], None],
        compact: Callable[[], bool],
    ) -> None:
        self._store = store
        self._projections = projections
        self._forget_cached = forget_cached
        self._compact = compact

    @validated
    def erase_user(self, user_id: UserId, *, actor: Actor = "system") -> ErasureReport:
        """Destroy `user_id`'s content key and purge their plaintext from the read
        models; the events stay (and `verify` still passes), their content reads
        as "[erased]". Costs a rebuild of every read model."""
        had_key = self._store.keys.destroy(user_id)
        self._store.record_aggregate(Erasure.record(user_id, actor))
        self._forget_cached()
        rebuilt = [status.name for status in self._projections.status()]
        for name in rebuilt:
            self._projections.rebuild(name)
        self._projections.drop_retired_now()
        return ErasureReport(
            user_id=user_id,
            had_key=had_key,
            read_models=rebuilt,
            log_compacted=self._compact(),
        )
