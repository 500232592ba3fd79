"""The HTTP API's routes, one router per part: sessions, messages, what hangs off
one session, the change feed, and the admin and service routes."""

from .. import session_path  # registers `{session_id:id}` before the routes

__all__ = ["session_path"]
