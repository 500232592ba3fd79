"""A key read from the key table just before an erasure destroyed it is not
remembered: a thread of the process that fetched the user's key (its row in
hand) while another thread forgot or destroyed it would otherwise put the
destroyed key back in the process's key cache, and an erasure's replay would
open the user's events with it, writing their plaintext back into read models.

The interleaving is forced: a thread is held between reading the key row and
remembering the key. On a loaded machine the window is one thread switch."""

from __future__ import annotations

import threading
from typing import Any

from test_erasure import check_erased, erase_applied_by_another, write_everything

import sessiontrail
from sessiontrail import SessionTrail


class HeldFetch:
    """A thread fetching `user_id`'s key, held after it read the key row and
    before it remembers what it read, until `release`."""

    def __init__(self, keys: Any, user_id: str) -> None:
        keys.forget(user_id)  # so the thread reads the key table
        read_row = keys._table.get
        self._row_read, self._go_on = threading.Event(), threading.Event()

        def get(wanted: str) -> Any:
            row = read_row(wanted)
            if threading.current_thread() is self._thread:
                self._row_read.set()
                assert self._go_on.wait(10)
            return row

        keys._table.get = get
        self._thread = threading.Thread(target=keys.key_id, args=(user_id,))
        self._thread.start()
        assert self._row_read.wait(10)

    def release(self) -> None:
        self._go_on.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


def test_a_key_read_before_it_was_destroyed_is_not_remembered(
    trail: SessionTrail,
) -> None:
    session = trail.sessions.load_or_create("chat-alice", user_id="alice")
    session.append_message(role="user", content="before")
    trail.sessions.save(session)
    keys = trail.store.keys
    held = HeldFetch(keys, "alice")
    trail.erase_user("alice")
    held.release()
    assert keys.key_id("alice") is None
    assert keys.token_key("alice") is None


def test_a_key_read_before_a_replay_forgot_it_does_not_open_the_replayed_events(
    url: str,
) -> None:
    """As tests/test_erasure.py's replay by another process, with a thread of
    that process holding alice's key row read before the erasure and
    remembering it after the replay forgot the key."""
    with sessiontrail.connect(url) as worker, sessiontrail.connect(url) as admin:
        write_everything(worker, "alice")
        write_everything(worker, "bob")
        keys = worker.store.keys
        held = HeldFetch(keys, "alice")
        forget = keys.forget

        def forget_then_release(user_id: str) -> None:
            forget(user_id)
            held.release()  # the held thread remembers what it read, if allowed

        keys.forget = forget_then_release  # type: ignore[method-assign]
        erase_applied_by_another(admin, worker, "alice")
        with sessiontrail.connect(url) as later:
            check_erased(later)
