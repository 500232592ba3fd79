"""The in-memory backend: private per trail, or shared in-process by name (memory://NAME)."""

from __future__ import annotations

import threading

from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder
from eventsourcing.popo import (
    POPOAggregateRecorder,
    POPOApplicationRecorder,
    POPOFactory,
)

MEMORY_NAME = "MEMORY_NAME"

_shared_lock = threading.Lock()
_shared: dict[str, dict[str, AggregateRecorder]] = {}


class MemoryFactory(POPOFactory):
    """eventsourcing's in-memory recorders; trails opened on one name share them."""

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return self._recorder(purpose, POPOAggregateRecorder)

    def application_recorder(self) -> ApplicationRecorder:
        recorder = self._recorder("application", POPOApplicationRecorder)
        assert isinstance(recorder, ApplicationRecorder)
        return recorder

    def _recorder(
        self, purpose: str, recorder_class: type[POPOAggregateRecorder]
    ) -> AggregateRecorder:
        name = self.env.get(MEMORY_NAME, "")
        if not name:
            return recorder_class()
        with _shared_lock:
            recorders = _shared.setdefault(name, {})
            return recorders.setdefault(purpose, recorder_class())
