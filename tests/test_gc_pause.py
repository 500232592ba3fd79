"""Loads pause the cyclic collector; pauses nest across threads and respect an
application that turned the collector off itself."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from sessiontrail.infrastructure.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_a_pause_turns_collection_off_and_back_on() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still runs
    assert gc.isenabled()


def test_overlapping_pauses_in_threads_resume_after_the_last() -> None:
    gc.enable()
    entered, release_first, first_done = (threading.Event() for _ in range(3))

    def first() -> None:
        with gc_paused():
            entered.set()
            released = release_first.wait(10)
        if released:  # else the main thread fails the test
            first_done.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10), "the first pause never began"
    with gc_paused():
        release_first.set()
        assert first_done.wait(10), "the first pause did not end while this one ran"
        assert not gc.isenabled()  # the first ended; this one still runs
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert gc.isenabled()


def test_a_collector_the_application_turned_off_stays_off() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_the_collector_resumes_when_the_body_raises() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("load failed")
    assert gc.isenabled()
