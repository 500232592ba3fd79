"""A process killed during `transcripts.save` leaves the old or the new transcript."""

from __future__ import annotations

import multiprocessing
import random
import signal
import time

import pytest
from support.deadlines import wait_until
from support.workers import TRANSCRIPTS, overwrite_transcripts_forever

from sessiontrail import SessionTrail
from sessiontrail.domain.session import stream_id

KILLS = 8
MAX_KILLS = 40
"""Kills go on past KILLS until both transcripts have been left behind by one."""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_during_an_overwrite_leaves_old_or_new(trail: SessionTrail):
    trail.transcripts.save("flip", TRANSCRIPTS[0])
    expected = [[m["content"] for m in transcript] for transcript in TRANSCRIPTS]
    context = multiprocessing.get_context("spawn")
    rng = random.Random(KILLS)
    seen: set[str] = set()
    kills = 0
    while kills < KILLS or (len(seen) < len(TRANSCRIPTS) and kills < MAX_KILLS):
        before = trail.sessions.load_merged("flip").version
        writer = context.Process(
            target=overwrite_transcripts_forever, args=(trail.url,)
        )
        writer.start()
        wait_until(
            lambda before=before: trail.store.load(stream_id("flip")).version > before,
            "the writer's first save",
        )
        time.sleep(rng.uniform(0, 0.2))  # land anywhere in the save loop
        writer.kill()
        writer.join(timeout=30)
        assert writer.exitcode == -signal.SIGKILL, "the writer stopped by itself"
        kills += 1
        stored = trail.sessions.load_merged("flip")
        contents = [m.content for m in stored.messages]
        assert contents in expected, f"a half-written transcript: {contents[:3]}..."
        assert [m.content for m in trail.transcripts.load("flip")] == contents
        seen.add(contents[0])
    # Kills left each transcript behind: both directions of the overwrite were cut.
    assert seen == {contents[0] for contents in expected}, f"after {kills} kills"
    page = trail.sessions.messages("flip")
    assert [m.content for m in page.items] == contents
    assert trail.sessions.list().items[0].message_count == len(contents)
