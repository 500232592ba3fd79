"""Which database a URL names: one `Backend` per kind (see `base.py`).

settings = parse_url("sqlite:///trail.db")   # checks the URL, opens nothing
backend = backend_for(settings)              # what to ask about that database
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ...domain.errors import InvalidInput
from ..settings import Settings, redacted
from .base import Backend
from .memory import MemoryBackend
from .postgres import PostgresBackend
from .sqlite import SQLiteBackend

BACKENDS: tuple[type[Backend], ...] = (SQLiteBackend, PostgresBackend, MemoryBackend)


def parse_url(url: str) -> Settings:
    """Turn a database URL into settings; an unusable URL is InvalidInput (whose
    message shows the URL without its password)."""
    scheme = urlsplit(url).scheme
    for backend in BACKENDS:
        if scheme in backend.schemes:
            return backend.parse(url)
    raise InvalidInput(
        f"url: unsupported database URL {redacted(url)!r}; use sqlite:///PATH, "
        "postgresql://USER@HOST:PORT/DB or memory://"
    )


def backend_for(settings: Settings) -> Backend:
    """The backend of the database `settings` name."""
    return next(kind for kind in BACKENDS if kind.name == settings.backend)(settings)


__all__ = ["BACKENDS", "Backend", "backend_for", "parse_url"]
