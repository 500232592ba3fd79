"""Database URLs and the explicit eventsourcing configuration each one gives.

sessiontrail never reads or writes `os.environ` to configure eventsourcing: every
setting is passed as an explicit mapping, so two trails in one process never leak
into each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from ..domain.errors import InvalidInput

DEFAULT_URL = "sqlite:///sessiontrail.db"
URL_VARIABLE = "SESSIONTRAIL_URL"

Backend = Literal["memory", "sqlite", "postgresql"]

_SQLITE_OPTIONS = {"lock_timeout": "SQLITE_LOCK_TIMEOUT"}
_POSTGRES_OPTIONS = {
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "connect_timeout": "POSTGRES_CONNECT_TIMEOUT",
    "pool_size": "POSTGRES_POOL_SIZE",
    "max_overflow": "POSTGRES_MAX_OVERFLOW",
    "schema": "POSTGRES_SCHEMA",
    "host": "POSTGRES_HOST",
}
_POSTGRES_DEFAULTS = {
    "POSTGRES_LOCK_TIMEOUT": "5",
    "POSTGRES_CONNECT_TIMEOUT": "10",
    "POSTGRES_POOL_SIZE": "5",
    "POSTGRES_MAX_OVERFLOW": "10",
    "POSTGRES_PRE_PING": "y",
}


@dataclass(frozen=True)
class Settings:
    """Where the log lives and how eventsourcing reaches it; `url` is for display
    (a password in it reads ***: it goes to logs and error messages)."""

    url: str
    backend: Backend
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold the key


def resolve_url(url: str | None) -> str:
    """The URL to use: the argument, else $SESSIONTRAIL_URL, else the SQLite default."""
    return url or os.environ.get(URL_VARIABLE) or DEFAULT_URL


def redacted(url: str) -> str:
    """The URL with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':')[0]}:***@{host}"))


def parse_url(url: str) -> Settings:
    """Turn a database URL into settings; an unusable URL is InvalidInput (whose
    message shows the URL without its password)."""
    shown = redacted(url)
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if parts.scheme == "memory":
        _reject_options(url, options, {})
        env = {
            "PERSISTENCE_MODULE": "sessiontrail.infrastructure.memory:MemoryFactory",
            "MEMORY_NAME": parts.netloc + parts.path,
        }
        return Settings(url, "memory", env)
    if parts.scheme == "sqlite":
        return Settings(
            url, "sqlite", _sqlite_env(url, parts.netloc, parts.path, options)
        )
    if parts.scheme in ("postgresql", "postgres"):
        return Settings(shown, "postgresql", _postgres_env(url, options))
    raise InvalidInput(
        f"url: unsupported database URL {shown!r}; use sqlite:///PATH, "
        "postgresql://USER@HOST:PORT/DB or memory://"
    )


def _sqlite_env(
    url: str, netloc: str, path: str, options: dict[str, str]
) -> dict[str, str]:
    if netloc or not path.startswith("/") or path == "/":
        raise InvalidInput(
            f"url: {url!r} names no file; "
            "use sqlite:///relative.db or sqlite:////abs.db"
        )
    _reject_options(url, options, _SQLITE_OPTIONS)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": unquote(path[1:]),
    }
    env["SQLITE_LOCK_TIMEOUT"] = "10"
    env.update({_SQLITE_OPTIONS[key]: value for key, value in options.items()})
    return env


def _postgres_env(url: str, options: dict[str, str]) -> dict[str, str]:
    parts, shown = urlsplit(url), redacted(url)
    try:
        port = parts.port or 5432
    except ValueError:
        raise InvalidInput(f"url: {shown!r} has an invalid port") from None
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise InvalidInput(f"url: {shown!r} names no database; add /DBNAME")
    _reject_options(shown, options, _POSTGRES_OPTIONS)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": unquote(parts.hostname or "localhost"),
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username or os.environ.get("USER", "postgres")),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        **_POSTGRES_DEFAULTS,
    }
    env.update({_POSTGRES_OPTIONS[key]: value for key, value in options.items()})
    return env


def _reject_options(url: str, options: dict[str, str], known: dict[str, str]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"url: unknown option(s) {', '.join(unknown)} in {url!r} "
            f"(allowed: {allowed})"
        )
    for key, value in options.items():
        if key not in ("schema", "host") and not value.isdigit():
            raise InvalidInput(
                f"url: option {key} must be a whole number, got {value!r}"
            )
