"""Read-model speed: rebuild rate of every read model from the log, without and
with a master key, and list latency against raw SQL.

    .venv/bin/python bench/projections.py [--sessions 10000] [--messages 3]
                                          [--backend sqlite|postgres|both]

Writes `--sessions` sessions of `--messages` messages, a title edit and one usage
record each (worker mode, so the read models start empty), once without a key and
once with one (a second database: a keyed log needs its own), then measures, in
the same run:
- catch-up of all read models, and the rebuild of each one, in events/s of wall
  time and of the benchmark process's CPU time (with a key, titles, previews,
  messages, usage records and audit summaries are sealed on the way in: that is
  the cost the second figure adds);
- `sessions.list(limit=50)`, first page and a cursor page, against a raw indexed
  `SELECT ... ORDER BY updated_at DESC LIMIT 50` on the same table (the ratio is
  what matters on a shared machine; absolute times are noise).
"""

from __future__ import annotations

import time

from harness import Figures, main, median_ms, raw_first_page, sibling, write_chats

import sessiontrail


def write(trail: sessiontrail.SessionTrail, sessions: int, messages: int) -> None:
    write_chats(trail, sessions, messages, "")
    for number in range(sessions):
        trail.sessions.append_token_usage(
            f"chat-{number:06d}", {"prompt_tokens": 10, "completion_tokens": 5}
        )


def rebuild_rates(
    trail: sessiontrail.SessionTrail, events: int, label: str
) -> tuple[list[str], dict[str, float], dict[str, float]]:
    """Catch-up of all read models, then a rebuild of each, in events/s of wall
    time and of this process's CPU time (steadier on a loaded machine; on
    PostgreSQL it leaves out the server's share)."""
    started, cpu = time.perf_counter(), time.process_time()
    trail.projections.catch_up()
    elapsed = time.perf_counter() - started
    rates = {"catch-up": events / elapsed}
    cpu_rates = {"catch-up": events / (time.process_time() - cpu)}
    lines = [
        f"  {label}: catch-up, all read models: {events} events in {elapsed:.2f} s "
        f"= {events / elapsed:,.0f} events/s ({cpu_rates['catch-up']:,.0f} of CPU)"
    ]
    for status in trail.projections.status():
        started, cpu = time.perf_counter(), time.process_time()
        trail.projections.rebuild(status.name)
        elapsed = time.perf_counter() - started
        rates[status.name] = events / elapsed
        cpu_rates[status.name] = events / (time.process_time() - cpu)
        lines.append(
            f"  {label}: rebuild {status.name:<12}: {events / elapsed:>9,.0f} "
            f"events/s ({elapsed:.2f} s; {cpu_rates[status.name]:>9,.0f} of CPU)"
        )
    return lines, rates, cpu_rates


def list_latency(trail: sessiontrail.SessionTrail) -> tuple[list[str], Figures]:
    """The first list page and a cursor page against the raw indexed query."""
    raw = median_ms(raw_first_page(trail))
    first = median_ms(lambda: trail.sessions.list(limit=50))
    cursor = trail.sessions.list(limit=50).next_cursor
    later = median_ms(lambda: trail.sessions.list(limit=50, cursor=cursor))
    user = median_ms(lambda: trail.sessions.list(limit=50, user_id="user3"))
    lines = [
        f"  list first page: {first:.2f} ms, raw indexed query {raw:.2f} ms "
        f"-> ratio {first / raw:.2f}",
        f"  list cursor page: {later:.2f} ms ({later / raw:.2f}x raw); "
        f"one user's first page: {user:.2f} ms",
    ]
    figures = {"list_first_page_ms": first, "raw_query_ms": raw}
    return lines, figures | {"list_cursor_page_ms": later}


def measure(url: str, sessions: int, messages: int) -> tuple[list[str], Figures]:
    lines: list[str] = []
    figures: Figures = {}
    for label, key in (("no key", None), ("key", sessiontrail.new_key())):
        at = url if key is None else sibling(url, "keyed")
        started = time.perf_counter()
        with sessiontrail.connect(at, projections="worker", key=key) as trail:
            write(trail, sessions, messages)
        lines.append(
            f"  {label}: wrote {sessions} sessions in "
            f"{time.perf_counter() - started:.1f} s"
        )
        with sessiontrail.connect(at, projections="worker", key=key) as trail:
            events = trail.store.head()
            rates_lines, rates, cpu_rates = rebuild_rates(trail, events, label)
            lines += rates_lines
            figures[label] = {
                "events": events,
                "events_per_s": rates,
                "events_per_cpu_s": cpu_rates,
            }
            if key is None:
                latency_lines, latency = list_latency(trail)
                lines += latency_lines
                figures |= latency
            assert all(status.lag == 0 for status in trail.projections.status())
    return lines, figures


if __name__ == "__main__":
    main(measure, sessions=10_000, messages=3)
