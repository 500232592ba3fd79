"""SessionTrail: one open session log, and `connect`, the way to open one."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from .domain.errors import InvalidInput
from .infrastructure.cache import SessionCache
from .infrastructure.event_store import SessionStore, storage_errors
from .infrastructure.first_open import opening
from .infrastructure.repository import SessionRepository
from .infrastructure.settings import Backend, Settings, parse_url, resolve_url

DEFAULT_CACHE_SIZE = 1000


class SessionTrail:
    """An open session log: `sessions` is the repository; close it when done."""

    def __init__(
        self, settings: Settings, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self.settings = settings
        with storage_errors(f"open {settings.url}"), opening(settings.env):
            self.store = SessionStore(env=settings.env)
        self.sessions = SessionRepository(self.store, SessionCache(cache_size))
        self._closed = False

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def backend(self) -> Backend:
        return self.settings.backend

    def close(self) -> None:
        """Release the connections; idempotent."""
        if not self._closed:
            self._closed = True
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SessionTrail({self.url!r})"


def connect(
    url: str | None = None, *, cache_size: int = DEFAULT_CACHE_SIZE
) -> SessionTrail:
    """Open the log at `url` (sqlite:///PATH, postgresql://..., memory://[NAME]).

    Without a URL: $SESSIONTRAIL_URL, else sqlite:///sessiontrail.db.
    """
    if cache_size < 0:
        raise InvalidInput("cache_size: must be >= 0")
    return SessionTrail(parse_url(resolve_url(url)), cache_size=cache_size)
