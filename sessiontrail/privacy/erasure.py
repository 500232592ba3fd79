"""`trail.erase_user`: crypto-shred one user's content, everywhere it is stored.

Steps, in order: destroy the user's data key (their sealed fields now read as
"[erased]"), record `UserErased`, drop cached sessions, then bring the read
models up to the erasure: where a generation meets `UserErased` in the log, its
rows of that user's streams are deleted and those streams' events replayed
(they now read erased), in the catch-up's one transaction, so readers see the
whole erasure or none of it. The cost is that user's rows and events, not the
log's size. Rebuilds in progress get the same rewrite up to where they are (and
meet the erasure in the log before they can go live); retired generations are
dropped at once. Then the files are compacted: on SQLite freed pages are zeroed
(`secure_delete`) and the write-ahead log truncated; on PostgreSQL the
read-model tables are vacuumed, so the rewritten rows' old versions are gone.

On SQLite the erased bytes leave the files at the checkpoint that truncates the
write-ahead log: while another connection holds a read transaction begun before
the erasure, SQLite keeps the old pages it may need (in the main file and the
log), so that checkpoint waits for the read to end. `wait` retries it for that
long; `log_compacted` says whether it happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from pydantic import Field

from ..domain.erasure import Erasure
from ..domain.errors import InvalidInput
from ..domain.validation import Actor, UserId, validated
from ..domain.values import Value
from ..infrastructure.event_store import SessionStore, storage_errors
from ..infrastructure.mapper import content_owner
from ..projections.runner import ProjectionRunner

MAX_WAIT = 3600.0
COMPACT_RETRY_SECONDS = 0.1


class ErasureReport(Value):
    """What an erasure did."""

    user_id: str
    had_key: bool  # False: nothing of theirs was ever sealed (or already erased)
    read_models: list[str]
    log_compacted: bool  # no file holds the erased bytes (PostgreSQL: all vacuumed)


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
    def erase_user(
        self,
        user_id: UserId,
        *,
        actor: Actor = "system",
        wait: Annotated[float, Field(ge=0, le=MAX_WAIT)] = 0.0,
    ) -> ErasureReport:
        """Destroy `user_id`'s content key and purge their plaintext from the read
        models; the events stay (and `verify` still passes), their content reads
        as "[erased]". Costs O(that user's data). `wait`: seconds to
        wait for other connections' reads to end so the files can be compacted.

        "default" is refused: it stands for no user (the Q&A store's entries
        stored without one), whose content is never sealed by a key of its own,
        so nothing could be erased."""
        if content_owner(user_id) is None:
            raise InvalidInput(
                f"user_id: {user_id!r} stands for no user (content stored without "
                "one is not sealed by a user's key): it cannot be erased"
            )
        with storage_errors(f"erase {user_id!r}"):
            had_key = self._store.keys.destroy(user_id)
        erased = self._store.record_aggregate(Erasure.record(user_id, actor))
        self._forget_cached()
        rewritten = [status.name for status in self._projections.status()]
        # The live generations meet the erasure; on PostgreSQL a transaction
        # begun before it holds it back: waited for up to the lock wait bound,
        # then StorageUnavailable (done, the read models not yet rewritten).
        self._projections.catch_up(erased)
        self._projections.erase_builds(user_id)
        self._projections.drop_retired_now()
        return ErasureReport(
            user_id=user_id,
            had_key=had_key,
            read_models=rewritten,
            log_compacted=self._compacted_within(wait) and self._store.keys.shredded,
        )

    def _compacted_within(self, wait: float) -> bool:
        """Compact, retrying until it succeeds or `wait` seconds have passed."""
        deadline = time.monotonic() + wait
        while not self._compact():
            if time.monotonic() >= deadline:
                return False
            time.sleep(COMPACT_RETRY_SECONDS)
        return True
