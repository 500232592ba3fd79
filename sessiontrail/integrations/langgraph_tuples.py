"""LangGraph's CheckpointTuples from the rows the "langgraph" read model keeps:
each value given back to the saver's serializer exactly as it wrote it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..infrastructure.gc_pause import gc_paused
from ..projections.langgraph_reads import StoredCheckpoint
from .langgraph_input import Target

CHECKPOINT_FORMAT = 4
"""The checkpoint format langgraph 1.x writes, given to an erased checkpoint."""


def checkpoint_tuples(
    serde: SerializerProtocol, found: Sequence[StoredCheckpoint]
) -> list[CheckpointTuple]:
    """The tuples of stored checkpoints (decoding builds many objects and no
    cycles: the collector waits, as for session loads)."""
    with gc_paused():
        return [_tuple(serde, stored) for stored in found]


def _tuple(serde: SerializerProtocol, stored: StoredCheckpoint) -> CheckpointTuple:
    thread = Target(stored.thread_id, stored.checkpoint_ns, None, None)
    return CheckpointTuple(
        config=thread.config(stored.checkpoint_id),
        checkpoint=_checkpoint(serde, stored),
        metadata=cast(CheckpointMetadata, stored.metadata),
        parent_config=thread.config(stored.parent_checkpoint_id)
        if stored.parent_checkpoint_id
        else None,
        pending_writes=[
            (task_id, channel, _value(serde, kind, data))
            for task_id, channel, kind, data in stored.writes
        ],
    )


def _checkpoint(serde: SerializerProtocol, stored: StoredCheckpoint) -> Checkpoint:
    """The stored checkpoint with its values; an erased one as an empty
    checkpoint of the same id and time."""
    if stored.checkpoint is None:
        return {
            "v": CHECKPOINT_FORMAT,
            "id": stored.checkpoint_id,
            "ts": datetime.fromtimestamp(stored.saved_at, UTC).isoformat(),
            "channel_values": {},
            "channel_versions": {},
            "versions_seen": {},
            "updated_channels": None,
        }
    checkpoint: Checkpoint = _value(serde, *stored.checkpoint)
    values = dict(checkpoint.get("channel_values") or {})
    for channel, kind, data in stored.values:
        if kind != "empty":
            values[channel] = _value(serde, kind, data)
    return {**checkpoint, "channel_values": values}


def _value(serde: SerializerProtocol, kind: str, data: bytes) -> Any:
    return serde.loads_typed((kind, bytes(data)))
