"""A real `sessiontrail serve` process stops promptly on SIGTERM while clients
follow the live change feed, and after one of them has left: the feed notices a
gone client and a stopping server within its poll, not at its 15 s keep-alive."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from support.http import Served, bearer, serve

STOP_BOUND_SECONDS = 2.0


def follow_feed(served: Served) -> httpx.Response:
    """A client following /v1/events/stream (the response headers have come)."""
    request = served.client.build_request(
        "GET", "/v1/events/stream", headers=bearer("ann")
    )
    response = served.client.send(request, stream=True)
    assert response.status_code == 200
    return response


def seconds_to_stop(served: Served) -> float:
    """SIGTERM the server; how long until its process has exited."""
    started = time.monotonic()
    served.process.terminate()
    served.process.wait(timeout=60)
    return time.monotonic() - started


def test_serve_stops_within_two_seconds_with_feed_clients_connected(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path / 'trail.db'}", tmp_path) as served:
        followers = [follow_feed(served) for _ in range(3)]
        elapsed = seconds_to_stop(served)
        for follower in followers:
            follower.close()
    assert elapsed < STOP_BOUND_SECONDS, f"{elapsed:.1f} s\n{served.log.read_text()}"


def test_serve_stops_within_two_seconds_after_a_feed_client_left(
    tmp_path: Path,
) -> None:
    with serve(f"sqlite:///{tmp_path / 'trail.db'}", tmp_path) as served:
        follow_feed(served).close()
        elapsed = seconds_to_stop(served)
    assert elapsed < STOP_BOUND_SECONDS, f"{elapsed:.1f} s\n{served.log.read_text()}"
