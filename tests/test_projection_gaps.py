"""PostgreSQL: followers of the log miss and repeat nothing, though writers take no
table lock and commit out of id order."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import random
import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

import psycopg
from support.deadlines import wait_until
from support.following import following
from support.postgres import PostgresServer
from support.records import payload
from support.workers import append_reading_own_writes, append_without_read_models

import sessiontrail
from sessiontrail.domain.session import stream_id
from sessiontrail.infrastructure.log_position import LOG_START

WRITERS = 8
SAVES = 40


def in_sync(trail: sessiontrail.SessionTrail) -> None:
    wait_until(
        lambda: trail.projections.sync_status().state == "in_sync",
        "the worker fell behind for good",
        timeout=60,
    )


def log_order(trail: sessiontrail.SessionTrail) -> list[tuple[str, int]]:
    """(stream, version) of every stored event, in the order followers apply them."""
    return [
        (str(event.originator_id), event.originator_version)
        for event in trail.store.every_event()
    ]


def audited(trail: sessiontrail.SessionTrail) -> list[tuple[str, int]]:
    entries = trail.audit.entries(limit=1000).items
    assert [e.position for e in entries] == sorted({e.position for e in entries})
    return [(str(stream_id(e.session_id)), e.version) for e in entries]


def test_a_worker_following_eight_writers_misses_and_repeats_nothing(
    postgres_server: PostgresServer,
):
    url = postgres_server.url(postgres_server.new_schema())
    with sessiontrail.connect(url, projections="worker") as worker:
        writers, _, results = writer_processes(append_without_read_models, url)
        with following(worker, poll_interval=0):
            try:
                for writer in writers:
                    writer.start()
                reports = [results.get(timeout=300) for _ in writers]
                in_sync(worker)
            finally:
                for writer in writers:
                    writer.join(timeout=60)
        assert reports == ["ok"] * WRITERS

        assert audited(worker) == log_order(worker)
        assert len(log_order(worker)) == WRITERS * (SAVES + 1)
        summaries = worker.sessions.list(user_id="racer").items
        assert sorted(s.message_count for s in summaries) == [SAVES] * WRITERS
        rebuilds_agree(worker)


def insert_raw(
    raw: psycopg.Connection[tuple[object, ...]],
    stream: uuid.UUID,
    version: int,
    template: tuple[str, dict[str, object]],
    content: str,
) -> int:
    """Insert a copy of a stored message event as `version` of `stream` (its
    transaction left open); returns its notification id."""
    topic, state = template
    message = dict(state["message"])  # type: ignore[arg-type]
    message["id"], message["content"] = f"m{version}-{uuid.uuid4().hex[:6]}", content
    row = raw.execute(
        "INSERT INTO sessiontrail_events (originator_id, originator_version, topic, "
        "state) VALUES (%s, %s, %s, %s) RETURNING notification_id",
        (stream, version, topic, json.dumps({**state, "message": message}).encode()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def message_template(trail: sessiontrail.SessionTrail) -> tuple[str, dict[str, object]]:
    """A stored MessageAppended's topic and payload, to copy."""
    session = trail.sessions.load_or_create("template")
    session.append_message(role="user", content="template", id="m0")
    trail.sessions.save(session)
    found = trail.store.recorder.select_events(session.id, gt=1, limit=1)[0]
    return found.topic, payload(found.state)


def test_an_event_that_commits_late_is_not_skipped(postgres_server: PostgresServer):
    """A writer holds id N open while a later writer takes N+1 and commits first:
    a follower applies neither until N commits, then both, N first."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with sessiontrail.connect(url, projections="worker") as trail:
        template = message_template(trail)
        slow = trail.sessions.load_or_create("slow")
        slow.append_message(role="user", content="first", id="m1")
        trail.sessions.save(slow)
        other = trail.sessions.load_or_create("other")
        trail.sessions.save(other)
        trail.projections.catch_up()

        with psycopg.connect(postgres_server.dsn(), autocommit=False) as raw:
            raw.execute(f"SET search_path TO {schema}")
            late_id = insert_raw(raw, slow.id, 3, template, "late")
            other.append_message(role="user", content="later")
            trail.sessions.save(other)  # no table lock: it commits while N is open
            later = trail.audit.entries
            trail.projections.catch_up()
            assert "later" not in [
                m.content for m in trail.sessions.messages("other").items
            ]
            assert [e.event for e in later(session_id="other").items] == ["Started"]
            raw.commit()

        trail.projections.catch_up()
        positions = {
            (e.session_id, e.version): e.position for e in trail.audit.entries().items
        }
        assert positions[("slow", 3)] < positions[("other", 2)]
        ids = {
            (n.originator_id, n.originator_version): n.id
            for _, n in trail.store.notifications(LOG_START, 100)
        }
        assert late_id < ids[(other.id, 2)]  # it took its id first, committed last
        assert [m.content for m in trail.sessions.messages("slow").items] == [
            "first",
            "late",
        ]
        assert [m.content for m in trail.sessions.messages("other").items] == ["later"]


CHAOS_STREAMS = 4
CHAOS_ROUNDS = 60


def chaos(
    postgres_server: PostgresServer,
    schema: str,
    streams: list[uuid.UUID],
    template: tuple[str, dict[str, object]],
    seed: int,
    report: dict[str, int],
    commits: list[int],
) -> None:
    """Interleaved raw transactions on several streams: each inserts one or two
    events (their inserts interleaved with the others'), holds its transaction
    open a while, then commits or rolls back, in shuffled order: ids commit out
    of order (`commits`: each committed transaction's first id, in commit order)
    and rolled-back ids leave gaps."""
    rng = random.Random(seed)
    connections = [
        psycopg.connect(postgres_server.dsn(), options=f"-c search_path={schema}")
        for _ in streams
    ]
    versions = dict.fromkeys(streams, 1)  # each stream was started by the trail
    try:
        for _ in range(CHAOS_ROUNDS):
            counts = {stream: rng.choice((1, 1, 2)) for stream in streams}
            first: dict[uuid.UUID, int] = {}
            for step in range(2):
                for conn, stream in zip(connections, streams, strict=True):
                    if step < counts[stream]:
                        ident = insert_raw(
                            conn, stream, versions[stream] + 1 + step, template, "c"
                        )
                        first.setdefault(stream, ident)
            opened = list(zip(connections, streams, strict=True))
            rng.shuffle(opened)  # commit in an order unlike the ids'
            for conn, stream in opened:
                time.sleep(rng.uniform(0, 0.01))
                if rng.random() < 0.2:
                    conn.rollback()
                    report["aborted"] += counts[stream]
                else:
                    conn.commit()
                    commits.append(first[stream])
                    versions[stream] += counts[stream]
                    report["committed"] += counts[stream]
    finally:
        for conn in connections:
            conn.close()


def chaos_streams(trail: sessiontrail.SessionTrail) -> list[uuid.UUID]:
    """The streams `chaos` writes to, each started by `trail`."""
    streams = []
    for n in range(CHAOS_STREAMS):
        started = trail.sessions.load_or_create(f"chaos{n}", user_id="racer")
        trail.sessions.save(started)
        streams.append(started.id)
    return streams


class Writers(NamedTuple):
    """Writer processes (not started), the barrier that releases them together
    (kept here: a started process drops its arguments, and a barrier no one
    holds is gone before the children open it) and the queue they report on."""

    processes: list[multiprocessing.Process]
    start: multiprocessing.synchronize.Barrier
    results: multiprocessing.queues.Queue[str]


def writer_processes(target: Callable[..., None], url: str) -> Writers:
    """WRITERS processes each running `target(url, "s<n>", SAVES, start,
    results)`."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    results: multiprocessing.queues.Queue[str] = context.Queue()
    processes = [
        context.Process(target=target, args=(url, f"s{n}", SAVES, start, results))
        for n in range(WRITERS)
    ]
    return Writers(processes, start, results)  # type: ignore[arg-type]


def rebuilds_agree(trail: sessiontrail.SessionTrail) -> None:
    """The sessions and audit read models equal what a rebuild of each gives."""
    followed = {n: trail.projections.rows(n) for n in ("sessions", "audit")}
    for name in followed:
        trail.projections.rebuild(name)
    assert {n: trail.projections.rows(n) for n in followed} == followed


def test_writers_committing_out_of_id_order_with_aborts_reach_a_worker_once_each(
    postgres_server: PostgresServer,
):
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with sessiontrail.connect(url, projections="worker") as worker:
        template = message_template(worker)
        streams = chaos_streams(worker)
        writers, _, results = writer_processes(append_without_read_models, url)
        report = {"committed": 0, "aborted": 0}
        commits: list[int] = []
        with following(worker, poll_interval=0.5):
            for writer in writers:
                writer.start()
            chaos(postgres_server, schema, streams, template, 23, report, commits)
            reports = [results.get(timeout=300) for _ in writers]
            for writer in writers:
                writer.join(timeout=60)
            in_sync(worker)
        assert reports == ["ok"] * WRITERS
        assert report["aborted"] > 0
        assert commits != sorted(commits), "the schedule committed in id order"

        with psycopg.connect(postgres_server.dsn()) as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT notification_id FROM {schema}.sessiontrail_events "
                    "ORDER BY transaction_id, notification_id"
                )
            ]
        assert ids != sorted(ids), "no transaction took its id before another's xid"
        assert audited(worker) == log_order(worker)
        assert len(log_order(worker)) == len(ids)
        counts = {
            s.session_id: s.message_count
            for s in worker.sessions.list(user_id="racer").items
        }
        assert (
            sum(counts[f"chaos{n}"] for n in range(CHAOS_STREAMS))
            == report["committed"]
        )
        assert [counts[f"s{n}"] for n in range(WRITERS)] == [SAVES] * WRITERS
        rebuilds_agree(worker)


def test_inline_writers_committing_out_of_id_order_each_read_their_own_writes(
    postgres_server: PostgresServer,
):
    """Inline writers in processes of their own, among transactions that commit
    out of id order or abort: each save returns with its events in every read
    model, and the read models hold each event once, in log order."""
    schema = postgres_server.new_schema()
    url = postgres_server.url(schema)
    with sessiontrail.connect(url) as trail:
        template = message_template(trail)
        streams = chaos_streams(trail)
        writers, _, results = writer_processes(append_reading_own_writes, url)
        report = {"committed": 0, "aborted": 0}
        for writer in writers:
            writer.start()
        chaos(postgres_server, schema, streams, template, 29, report, [])
        reports = [results.get(timeout=300) for _ in writers]
        for writer in writers:
            writer.join(timeout=60)
        assert reports == ["ok"] * WRITERS

        trail.projections.catch_up()  # the raw transactions' events
        assert audited(trail) == log_order(trail)
        counts = {
            s.session_id: s.message_count
            for s in trail.sessions.list(user_id="racer").items
        }
        assert [counts[f"s{n}"] for n in range(WRITERS)] == [SAVES] * WRITERS
        assert (
            sum(counts[f"chaos{n}"] for n in range(CHAOS_STREAMS))
            == report["committed"]
        )
        rebuilds_agree(trail)
