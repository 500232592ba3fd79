"""A session id as one segment of a route's path, whatever it holds.

Session ids may hold `/` (every LangGraph thread's session is
`langgraph/<thread>`) and `%`. A client sends such an id percent-encoded, as the
viewer does (`encodeURIComponent`), but the server decodes the path before
routing, so `langgraph%2Ft1` would become two segments and match no route.
`SessionIdPath` routes `/v1/sessions/<id>...` on the id's segment as the client
sent it, re-encoded in one canonical form, and the `id` path convertor
decodes it again: the route gets the id exactly as stored. Under a prefix (the
app mounted in another ASGI app, or served with a root path), the prefix is set
aside first, as the router does.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, unquote_to_bytes

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/v1/sessions/"
"""The path every route naming a session starts with, the id its next segment."""


class SessionIdConvertor(Convertor[str]):
    """`{session_id:id}`: one segment, percent-decoded into the id."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("id", SessionIdConvertor())


class SessionIdPath:
    """ASGI middleware: the id's segment of `/v1/sessions/<id>...` routed as one
    segment, its `/` and `%` encoded, so `SessionIdConvertor` decodes it exactly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = str(scope.get("root_path", ""))
            if _beyond(str(scope["path"]), root).startswith(PREFIX):
                # in place, as the router's own additions (the matched route)
                # are: the access log, outside this middleware, reads them
                scope["path"] = root + _routed(scope, root)
        await self.app(scope, receive, send)


def _beyond(path: str, root: str) -> str:
    """`path` without the prefix `root` the app is served under (the router's
    rule: a path that does not start with it is routed as it is)."""
    return path[len(root) :] if root and path.startswith(root) else path


def _routed(scope: Scope, root: str) -> str:
    """The path to route below `root`: the id's segment taken from the path as
    sent (the raw bytes, before any `%2F` became `/`), decoded once and encoded
    canonically."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and root and raw.startswith(root.encode()):
        raw = raw[len(root) :]  # a proxy may have taken the prefix off already
    path = _beyond(str(scope["path"]), root)
    if isinstance(raw, bytes) and raw.startswith(PREFIX.encode()):
        segment, slash, rest = raw[len(PREFIX) :].partition(b"/")
        session_id = _text(segment)
        tail = slash.decode() + _text(rest)
    else:  # no raw path (some ASGI servers): the decoded path is all there is
        segment_text, slash_text, tail_text = path[len(PREFIX) :].partition("/")
        session_id, tail = segment_text, slash_text + tail_text
    if not session_id:  # `/v1/sessions/` itself, or an empty segment: as sent
        return path
    return PREFIX + quote(session_id, safe="") + tail


def _text(raw: bytes) -> str:
    """Percent-encoded bytes of a path as text (UTF-8, as the server decodes it)."""
    return unquote_to_bytes(raw).decode("utf-8", errors="replace")
