"""Read-model speed: rebuild rate from the log, and list latency against raw SQL.

    .venv/bin/python bench/projections.py [--sessions 10000] [--messages 3]
                                          [--backend sqlite|postgres|both]

Writes `--sessions` sessions of `--messages` messages and one usage record each
(worker mode, so the read models start empty), then measures, in the same run:
- catch-up and rebuild of every read model, in events/s;
- `sessions.list(limit=50)`, first page and a cursor page, against a raw indexed
  `SELECT ... ORDER BY updated_at DESC LIMIT 50` on the same table (the ratio is
  what matters on a shared machine; absolute times are noise).
"""

from __future__ import annotations

import time

from harness import Figures, main, median_ms, raw_first_page

import sessiontrail

READ_MODELS = ("sessions", "usage", "audit")


def write(url: str, sessions: int, messages: int) -> None:
    with sessiontrail.connect(url, projections="worker") as trail:
        for number in range(sessions):
            session = trail.sessions.load_or_create(
                f"chat-{number:06d}", model="gpt-4o", user_id=f"user{number % 10}"
            )
            for turn in range(messages):
                role = "user" if turn % 2 == 0 else "assistant"
                session.append_message(role=role, content=f"turn {turn} of {number}")
            trail.sessions.save(session)
            trail.sessions.append_token_usage(
                session.session_id, {"prompt_tokens": 10, "completion_tokens": 5}
            )


def measure(url: str, sessions: int, messages: int) -> tuple[list[str], Figures]:
    lines = []
    started = time.perf_counter()
    write(url, sessions, messages)
    lines.append(
        f"  wrote {sessions} sessions in {time.perf_counter() - started:.1f} s"
    )
    with sessiontrail.connect(url, projections="worker") as trail:
        events = trail.store.head()
        started = time.perf_counter()
        trail.projections.catch_up()
        elapsed = time.perf_counter() - started
        catch_up_rate = events / elapsed
        lines.append(
            f"  catch-up, all read models: {events} events in {elapsed:.2f} s "
            f"= {events / elapsed:,.0f} events/s"
        )
        rebuilds = {}
        for name in READ_MODELS:
            started = time.perf_counter()
            trail.projections.rebuild(name)
            elapsed = time.perf_counter() - started
            rebuilds[name] = events / elapsed
            lines.append(
                f"  rebuild {name:<8}: {events / elapsed:>9,.0f} events/s "
                f"({elapsed:.2f} s)"
            )
        raw = median_ms(raw_first_page(trail))
        first = median_ms(lambda: trail.sessions.list(limit=50))
        cursor = trail.sessions.list(limit=50).next_cursor
        later = median_ms(lambda: trail.sessions.list(limit=50, cursor=cursor))
        user = median_ms(lambda: trail.sessions.list(limit=50, user_id="user3"))
        lines.append(
            f"  list first page: {first:.2f} ms, raw indexed query {raw:.2f} ms "
            f"-> ratio {first / raw:.2f}"
        )
        lines.append(
            f"  list cursor page: {later:.2f} ms ({later / raw:.2f}x raw); "
            f"one user's first page: {user:.2f} ms"
        )
        assert all(s.lag == 0 for s in trail.projections.status())
    figures = {
        "events": events,
        "catch_up_events_per_s": catch_up_rate,
        "rebuild_events_per_s": rebuilds,
        "list_first_page_ms": first,
        "raw_query_ms": raw,
        "list_cursor_page_ms": later,
    }
    return lines, figures


if __name__ == "__main__":
    main(measure, sessions=10_000, messages=3)
