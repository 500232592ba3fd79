"""Stopping `sessiontrail serve` promptly: uvicorn waits for every open response
to finish before it exits, and a live change feed never finishes by itself, so
the server tells the feeds it is stopping (the app's `state.stopping`) and they
end their streams within one poll; clients resume with Last-Event-ID."""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI


class FeedEndingServer(uvicorn.Server):
    """A uvicorn server that, as it begins to stop, ends the app's live feeds."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._app.state.stopping.set()
        await super().shutdown(sockets)
