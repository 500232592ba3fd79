"""LangGraph's `copy_thread` on the log: the target thread becomes a copy of the
source as it is now, every namespace, or nothing of it is written.

Each namespace's session is forked into the target thread's (its checkpoints and
pending writes, same ids, see `SessionRepository.fork`), and every fork's events
are appended in one transaction: a writer that starts the target thread while
the copy is made (after its check that the target is unused) makes that
transaction fail whole, so the copy never leaves some namespaces behind.
"""

from __future__ import annotations

from typing import cast

from ..domain.errors import ConcurrencyConflict
from ..domain.event_model import EventModel
from ..domain.thread_ids import thread_session_id
from ..infrastructure.appends import caught_up
from ..infrastructure.event_store import StreamMoved
from ..infrastructure.mapper import content_owner
from ..trail import SessionTrail
from .langgraph_input import session_of, thread_id_of


def copy_thread(
    trail: SessionTrail, source_thread_id: str, target_thread_id: str, actor: str
) -> None:
    """Fork the session of each namespace of the source thread, as it is now,
    into the target thread's, in one transaction. ConcurrencyConflict, nothing
    written, if the target's id was ever used (by a writer racing the copy too)."""
    source = thread_id_of(source_thread_id, "source_thread_id")
    target = thread_id_of(target_thread_id, "target_thread_id")
    session_of(target, "", "target_thread_id")
    namespaces = trail.langgraph.namespaces(source)
    targets = [session_of(target, ns, "target_thread_id") for ns in namespaces]
    in_use = ConcurrencyConflict(
        f"target_thread_id: thread {target!r} is already in use"
    )
    if any(trail.store.stream_version(trail.store.ids.stream(t)) for t in targets):
        raise in_use
    forks = [
        trail.sessions.forked(
            thread_session_id(source, checkpoint_ns), new_id=session_id, actor=actor
        )
        for checkpoint_ns, session_id in zip(namespaces, targets, strict=True)
    ]
    try:
        position = trail.store.append_imported(
            [cast(EventModel, e) for fork in forks for e in fork.pending_events],
            {fork.id: content_owner(fork.user_id) for fork in forks},
        )
    except StreamMoved:
        raise in_use from None
    inline = trail.projections.mode == "inline"
    after_write = trail.projections.after_write if inline else None
    caught_up(after_write, position, f"copy thread {source!r} to {target!r}")
