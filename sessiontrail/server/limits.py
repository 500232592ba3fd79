"""What a client may cost the server: the body limit and the read deadline.

The body limit counts bytes as they arrive, whatever the framing: a body sent
with `Transfer-Encoding: chunked` has no Content-Length to check up front, so the
count is the only thing that stops it. Past the limit the request gets 413, the
connection is closed (nothing more is read) and no route has run.

The read deadline bounds how long a request may take to arrive, headers and
body: uvicorn closes idle keep-alive connections, but one that sends half a
header line and then nothing would otherwise hold its socket forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """The body went past the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body over {limit} bytes", headers=CLOSE)


class BodyLimit:
    """ASGI middleware: 413 once a request body passes `limit` bytes.

    A Content-Length over the limit is refused before a byte of the body is read;
    any other body is counted as it arrives and reading stops at the limit (the
    route that was reading it sees BodyTooLarge, an HTTPException, so FastAPI
    answers 413 before the route runs).
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (
            not declared.isdigit() or int(declared) > self.limit
        ):
            refusal = JSONResponse(
                {"detail": f"body over {self.limit} bytes"}, 413, headers=CLOSE
            )
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a read deadline: a request (headers and body)
    must arrive within `read_timeout` seconds of its first byte, and a new
    connection must send one within that time, else the connection is closed."""

    read_timeout: float  # set by timed_protocol
    _read_clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_clock()

    def data_received(self, data: bytes) -> None:
        if self._read_clock is None and self._reading():
            self._start_clock()
        super().data_received(data)
        if not self._reading():
            self._stop_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def _reading(self) -> bool:
        """Whether a request is on its way in (not yet whole)."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _start_clock(self) -> None:
        self._read_clock = self.loop.call_later(self.read_timeout, self._too_slow)

    def _stop_clock(self) -> None:
        if self._read_clock is not None:
            self._read_clock.cancel()
            self._read_clock = None

    def _too_slow(self) -> None:
        self._read_clock = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection that was too slow to send a request")
            self.transport.close()


def timed_protocol(read_timeout: float) -> type[TimedH11Protocol]:
    """The protocol class to give uvicorn (`http=`) for this read deadline."""
    attributes: dict[str, Any] = {"read_timeout": read_timeout}
    return type("TimedH11Protocol", (TimedH11Protocol,), attributes)
