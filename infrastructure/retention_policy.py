"""The retention policy's stream: read it, change it, list its changes.

A change loads the policy, applies the command and appends; if another writer
appended first (StreamMoved), it reloads and applies the command again, so two
operators setting rules for different scopes at once both keep theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from eventsourcing.application import AggregateNotFoundError

from ..domain.retention import POLICY_STREAM, RetentionPolicy
from ..domain.values import HistoryEntry
from .appends import attempts, gave_up
from .event_store import SessionStore, StreamMoved, storage_errors


class PolicyStore:
    """Loads and appends the one retention policy stream."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def load(self) -> RetentionPolicy | None:
        """The stored policy; None if no rule was ever set."""
        with storage_errors("load the retention policy"):
            try:
                return cast(RetentionPolicy, self._store.repository.get(POLICY_STREAM))
            except AggregateNotFoundError:
                return None

    def change(self, command: Callable[[RetentionPolicy], None], actor: str) -> None:
        """Run `command` on the newest policy and append what it did."""
        for _ in attempts():
            policy = self.load() or RetentionPolicy.start(actor)
            command(policy)
            try:
                self._store.record_aggregate(policy)
            except StreamMoved:
                continue
            return
        raise gave_up("set the retention policy")

    def history(self) -> list[HistoryEntry]:
        """Every change of the policy, oldest first, with who made it and when."""
        with storage_errors("read the retention policy"):
            events = list(self._store.events.get(POLICY_STREAM))
        return [
            HistoryEntry.of(event)
            for event in events
            if isinstance(event, RetentionPolicy.RulesSet)
        ]
