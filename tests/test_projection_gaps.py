"""PostgreSQL: a worker following many concurrent writers never skips a late commit."""

from __future__ import annotations

import json
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from support.deadlines import wait_until
from support.postgres import PostgresServer
from support.records import payload
from support.workers import append_without_read_models

import sessiontrail

WRITERS = 8
SAVES = 40


def test_a_worker_following_eight_writers_misses_and_repeats_nothing(
    postgres_server: PostgresServer,
):
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as worker:
        stop = threading.Event()
        follower = threading.Thread(
            target=worker.projections.run, args=(stop,), kwargs={"poll_interval": 0}
        )
        follower.start()
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(WRITERS)
        results: multiprocessing.queues.Queue[str] = context.Queue()
        writers = [
            context.Process(
                target=append_without_read_models,
                args=(url, f"s{n}", SAVES, start, results),
            )
            for n in range(WRITERS)
        ]
        try:
            for writer in writers:
                writer.start()
            reports = [results.get(timeout=300) for _ in writers]
            wait_until(
                lambda: worker.projections.sync_status().state == "in_sync",
                "the worker catching up with the writers",
            )
        finally:
            stop.set()
            follower.join(timeout=60)
            for writer in writers:
                writer.join(timeout=60)
        assert not follower.is_alive()
        assert reports == ["ok"] * WRITERS

        log = worker.store.recorder.select_notifications(start=1, limit=10**6)
        audit = worker.audit.entries(limit=1000).items
        assert [entry.position for entry in audit] == [n.id for n in log]
        assert len(log) == WRITERS * (SAVES + 1)
        summaries = worker.sessions.list(user_id="racer").items
        assert sorted(s.message_count for s in summaries) == [SAVES] * WRITERS
        followed = {n: worker.projections.rows(n) for n in ("sessions", "audit")}
        for name in followed:
            worker.projections.rebuild(name)
        assert {n: worker.projections.rows(n) for n in followed} == followed


def test_an_event_that_commits_late_is_not_skipped(postgres_server: PostgresServer):
    """A writer holding id N open while a later writer waits: N is applied, not lost.

    The test's own transaction inserts id N and stays open. eventsourcing's recorder
    locks the events table for each insert, so the later writer waits behind it
    rather than taking id N+1 and committing first; without that, a reader at N+1
    would pass over N for good (the "high water mark" bug of other stores).
    """
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with sessiontrail.connect(url, projections="worker") as trail:
        slow = trail.sessions.load_or_create("slow")
        slow.append_message(role="user", content="first", id="m1")
        trail.sessions.save(slow)
        other = trail.sessions.load_or_create("other")
        trail.sessions.save(other)
        trail.projections.catch_up()
        template = trail.store.recorder.select_notifications(start=2, limit=1)[0]
        state = payload(template.state)
        state["message"]["id"], state["message"]["content"] = "m2", "late"

        with (
            psycopg.connect(postgres_server.dsn(), autocommit=False) as raw,
            psycopg.connect(postgres_server.dsn(), autocommit=True) as watcher,
        ):
            raw.execute(f"SET search_path TO {schema}")
            late_id = raw.execute(
                "INSERT INTO sessiontrail_events "
                "(originator_id, originator_version, topic, state) "
                "VALUES (%s, 3, %s, %s) RETURNING notification_id",
                (slow.id, template.topic, json.dumps(state).encode()),
            ).fetchone()[0]
            with ThreadPoolExecutor(1) as pool:
                later = pool.submit(append_one, trail, "other")
                wait_until(
                    lambda: later.done() or lock_waiters(watcher, schema) > 0,
                    "the later writer waiting behind id N (or done)",
                )
                trail.projections.catch_up()
                assert trail.projections.status()[0].position < late_id
                raw.commit()
                later.result(timeout=30)

        trail.projections.catch_up()
        positions = [e.position for e in trail.audit.entries().items]
        assert late_id in positions and late_id + 1 in positions
        assert [m.content for m in trail.sessions.messages("slow").items] == [
            "first",
            "late",
        ]


def lock_waiters(db: psycopg.Connection[Any], schema: str) -> int:
    """How many transactions wait for a lock on the schema's events table."""
    [(waiting,)] = db.execute(
        "SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
        (f"{schema}.sessiontrail_events",),
    ).fetchall()
    return int(waiting)


def append_one(trail: sessiontrail.SessionTrail, session_id: str) -> None:
    session = trail.sessions.load(session_id)
    assert session is not None
    session.append_message(role="user", content="later")
    trail.sessions.save(session)
