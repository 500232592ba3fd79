"""What a LangGraph saver recorded itself, kept so its next call need not read
it back or compare it again:

- the checkpoints it put, each with the pending writes it then recorded on it:
  LangGraph's writes of a step land on the checkpoint the same process has just
  put, so a batch re-sent there is recognised without reading the read model,
  as long as the session is still where this saver's last write left it (its
  version and time, one indexed read): another process's write since (a
  replaced slot, a deleted thread) sends it to the read model;
- the conversation it last mirrored into each thread's transcript, by identity
  (with the values it left out of it):
  LangGraph passes the same message objects from step to step, so those can be
  recognised without comparing their fields (the pending writes it records
  between two checkpoints leave the transcript, and this, as they were);
- each thread's session as its last write stored it, so the next write appends
  to it without loading it again: the append goes in only if the stream still
  ends there (another writer, a delete or a purge since: it is loaded afresh).

A hint, never the truth: what is not remembered (a checkpoint another process
put, a transcript another writer changed since) is read and compared as before.
Bounded: the least recently used entries are forgotten first. A write that was
under way when an erasure or a purge emptied the memory does not fill it again:
each write takes the memory's `epoch` when it starts and what it would keep is
dropped if the memory was emptied since.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from ..domain.session import Session
from ..domain.threads import TaskWrite
from ..infrastructure.locks import Held, KeyedLocks

Slots = dict[int, tuple[str, str, bytes]]
"""A task's writes on a checkpoint: slot -> (channel, type, data)."""
Mirrored = tuple[tuple[Any, Any, bool], ...]
"""A conversation as mirrored, in order: (each value, its content object if it
is a message, whether the transcript holds it)."""
Stamp = tuple[int, datetime]
"""A session's state at one moment: its version and the time of its last event."""
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CHECKPOINTS_KEPT = 256
"""Checkpoints remembered with their writes: the latest of the threads running."""
TRANSCRIPTS_KEPT = 64
"""Conversations remembered: each keeps its message objects alive, and is of use
only while its run goes on (a new run reads its messages back from the saver)."""
HEADS_KEPT = 64
"""Threads' sessions kept as last stored: those of the runs going on."""


class _Recent(Generic[K, V]):
    """A dict forgetting its least recently used entries beyond `kept`."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._kept:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        """Take an entry out."""
        return self._entries.pop(key, None)

    def forget(self, wanted: Any) -> None:
        """Drop the entries whose key `wanted(key)` accepts."""
        for key in [key for key in self._entries if wanted(key)]:
            del self._entries[key]


class Recorded:
    """One saver's memory of its own writes; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checkpoints: _Recent[
            tuple[str, str], tuple[Stamp | None, dict[str, Slots]]
        ] = _Recent(CHECKPOINTS_KEPT)
        self._transcripts: _Recent[str, tuple[Stamp, Mirrored]] = _Recent(
            TRANSCRIPTS_KEPT
        )
        self._heads: _Recent[str, Session] = _Recent(HEADS_KEPT)
        self._epoch = 0
        self._writes = KeyedLocks()

    def writing(self, session_id: str) -> Held:
        """Hold the thread's session for one write by this saver (a `with`).
        LangGraph puts a checkpoint in the background while the next step
        records its pending writes on the same thread: one after the other,
        each finds the session the other stored held here and appends to it;
        racing, one finds its stream moved and loads the session and redoes
        its work. A wait lasts one write, itself bounded by the store's."""
        return self._writes.hold(session_id)

    def epoch(self) -> int:
        """How many times an erasure or a purge emptied this memory: a write
        takes it when it starts and hands it back with what it would keep."""
        with self._lock:
            return self._epoch

    def hold(self, session: Session, epoch: int) -> None:
        """The session as this saver's write (begun at `epoch`) just stored it
        (the object is the memory's now: the caller no longer changes it)."""
        with self._lock:
            if epoch == self._epoch:
                self._heads.put(session.session_id, session)

    def take(self, session_id: str) -> Session | None:
        """The session as this saver last stored it, taken out of the memory
        (one writer at a time changes it; `hold` puts it back); None if not
        held."""
        with self._lock:
            return self._heads.pop(session_id)

    def put(
        self, session_id: str, checkpoint_id: str, stamp: Stamp | None, epoch: int
    ) -> None:
        """This saver stored the checkpoint, leaving the session at `stamp`
        (None: another writer's events were merged in). Writes it holds are
        kept."""
        with self._lock:
            if epoch != self._epoch:
                return
            found = self._checkpoints.get((session_id, checkpoint_id))
            tasks = {} if found is None else found[1]
            self._checkpoints.put((session_id, checkpoint_id), (stamp, tasks))

    def writes(
        self, session_id: str, checkpoint_id: str, task_id: str, stamp: Stamp
    ) -> Slots | None:
        """A task's writes on a checkpoint this saver put, while the session is
        still at the `stamp` this saver's last write left it at; None if it did
        not put it, or another writer has moved the session since (its writes
        may have replaced these, or deleted the thread)."""
        with self._lock:
            found = self._checkpoints.get((session_id, checkpoint_id))
            if found is None or found[0] is None or found[0] != stamp:
                return None
            return dict(found[1].get(task_id, {}))

    def wrote(
        self,
        session_id: str,
        checkpoint_id: str,
        task_id: str,
        items: Sequence[TaskWrite],
        *,
        replace: bool,
        stamp: Stamp | None,
        epoch: int,
    ) -> None:
        """This saver recorded a batch, leaving the session at `stamp`: as the
        read model does, it replaces what its slots held if `replace`, else
        fills only empty slots."""
        with self._lock:
            found = self._checkpoints.get((session_id, checkpoint_id))
            if found is None or epoch != self._epoch:
                return
            tasks = found[1]
            slots = tasks.setdefault(task_id, {})
            for item in items:
                if replace or item.idx not in slots:
                    slots[item.idx] = (item.channel, *item.unpack())
            self._checkpoints.put((session_id, checkpoint_id), (stamp, tasks))

    def mirrored(self, session_id: str, stamp: Stamp) -> Mirrored:
        """The messages mirrored into the session's transcript when it was at
        `stamp`; none if it has changed since (or was never mirrored here)."""
        with self._lock:
            found = self._transcripts.get(session_id)
        return found[1] if found is not None and found[0] == stamp else ()

    def mirror(
        self, session_id: str, stamp: Stamp, mirrored: Mirrored, epoch: int
    ) -> None:
        """The session's transcript at `stamp` is exactly the values `mirrored`
        says it holds."""
        entry = (stamp, mirrored)
        with self._lock:
            if epoch == self._epoch:
                self._transcripts.put(session_id, entry)

    def moved(self, session_id: str, before: Stamp, after: Stamp) -> None:
        """This saver moved the session from `before` to `after` with events that
        leave its transcript alone (pending writes): what was mirrored into it
        at `before` still holds."""
        with self._lock:
            found = self._transcripts.get(session_id)
            if found is not None and found[0] == before:
                self._transcripts.put(session_id, (after, found[1]))

    def clear(self) -> None:
        """After an erasure: nothing this memory keeps holds (it kept users'
        words: held sessions, pending writes, mirrored messages)."""
        with self._lock:
            self._epoch += 1
            for recent in (self._checkpoints, self._transcripts, self._heads):
                recent.forget(lambda key: True)

    def forget(self, session_ids: Sequence[str]) -> None:
        """Sessions purged: nothing about them holds, nor what a write under
        way would keep."""
        with self._lock:
            self._epoch += 1
        self.started_afresh(session_ids)

    def started_afresh(self, session_ids: Sequence[str]) -> None:
        """Sessions this saver starts afresh or deletes: nothing about them
        holds."""
        gone = set(session_ids)
        with self._lock:
            self._checkpoints.forget(lambda key: key[0] in gone)
            self._transcripts.forget(lambda key: key in gone)
            self._heads.forget(lambda key: key in gone)
