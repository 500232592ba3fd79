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
            root = _root_of(str(scope["path"]), str(scope.get("root_path", "")))
            if str(scope["path"])[len(root) :].startswith(PREFIX):
                # in place, as the router's own additions (the matched route)
                # are: the access log, outside this middleware, reads them
                scope["path"] = root + _routed(scope, root)
        await self.app(scope, receive, send)


def _root_of(path: str, root: str) -> str:
    """The prefix of `path` the router sets aside: `root` (the root path the app
    is served under) if the path starts with it and a `/` follows it, else
    nothing (the router then routes the whole path: a proxy took the prefix
    off already, or a root path of "/")."""
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return root
    return ""


def _raw_beyond(raw: bytes, root: str) -> bytes | None:
    """`raw` (the path as sent) without the part that decodes to `root`, in one
    pass however `root` was percent-encoded (`/%C3%BCber` for `/über`); None if
    `raw` does not start with it."""
    wanted, at = root.encode(), 0
    for found in wanted:
        escape = raw[at + 1 : at + 3]
        if raw[at : at + 1] == b"%" and len(escape) == 2 and _hex(escape):
            got, at = int(escape, 16), at + 3
        elif at < len(raw):
            got, at = raw[at], at + 1
        else:
            return None
        if got != found:
            return None
    return raw[at:]


def _hex(pair: bytes) -> bool:
    """Whether two bytes are hexadecimal digits (a percent escape's)."""
    return all(chr(byte) in "0123456789abcdefABCDEF" for byte in pair)


def _routed(scope: Scope, root: str) -> str:
    """The path to route below `root`: the id's segment taken from the path as
    sent (the raw bytes, before any `%2F` became `/`), decoded once and encoded
    canonically."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and root:
        beyond = _raw_beyond(raw, root)
        raw = raw if beyond is None else beyond  # as is: a proxy took it off
    path = str(scope["path"])[len(root) :]
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
