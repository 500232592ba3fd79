"""Database URLs and the explicit eventsourcing configuration each one gives.

sessiontrail never reads or writes `os.environ` to configure eventsourcing: every
setting is passed as an explicit mapping, so two trails in one process never leak
into each other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from ..domain.errors import InvalidInput

DEFAULT_URL = "sqlite:///sessiontrail.db"
URL_VARIABLE = "SESSIONTRAIL_URL"

Backend = Literal["memory", "sqlite", "postgresql"]
POSTGRES_FACTORY = "sessiontrail.infrastructure.backends.postgres_store:Factory"
MEMORY_FACTORY = "sessiontrail.infrastructure.backends.memory:MemoryFactory"

OptionKind = Literal["text", "count", "whole seconds", "seconds"]

_SQLITE_OPTIONS: dict[str, tuple[str, OptionKind]] = {
    # eventsourcing reads SQLite's busy timeout as whole seconds.
    "lock_timeout": ("SQLITE_LOCK_TIMEOUT", "whole seconds"),
}
_POSTGRES_OPTIONS: dict[str, tuple[str, OptionKind]] = {
    "lock_timeout": ("POSTGRES_LOCK_TIMEOUT", "seconds"),
    "statement_timeout": ("POSTGRES_STATEMENT_TIMEOUT", "seconds"),
    "idle_in_transaction_timeout": (
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
        "seconds",
    ),
    "connect_timeout": ("POSTGRES_CONNECT_TIMEOUT", "whole seconds"),
    "pool_size": ("POSTGRES_POOL_SIZE", "count"),
    "max_overflow": ("POSTGRES_MAX_OVERFLOW", "count"),
    "schema": ("POSTGRES_SCHEMA", "text"),
    "host": ("POSTGRES_HOST", "text"),
}
_POSTGRES_DEFAULTS = {
    "POSTGRES_LOCK_TIMEOUT": "5",
    "POSTGRES_STATEMENT_TIMEOUT": "30",
    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
    "POSTGRES_CONNECT_TIMEOUT": "10",
    "POSTGRES_POOL_SIZE": "5",
    "POSTGRES_MAX_OVERFLOW": "10",
    "POSTGRES_PRE_PING": "y",
}
POSTGRES_BOUNDS = {
    "statement_timeout": "POSTGRES_STATEMENT_TIMEOUT",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "idle_in_transaction_session_timeout": (
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"
    ),
}
"""Each PostgreSQL server setting that bounds a wait, and the key holding its
seconds in a Settings' env."""

_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
SHORTEST_BOUND = 0.001  # PostgreSQL counts these in milliseconds; 0 means "none"
LONGEST_BOUND = 86_400.0  # a day: anything longer is no bound in practice


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
            "PERSISTENCE_MODULE": MEMORY_FACTORY,
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
    env.update({_SQLITE_OPTIONS[key][0]: value for key, value in options.items()})
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
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": unquote(parts.hostname or "localhost"),
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username or os.environ.get("USER", "postgres")),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        **_POSTGRES_DEFAULTS,
    }
    env.update({_POSTGRES_OPTIONS[key][0]: value for key, value in options.items()})
    return env


def postgres_bounds(env: dict[str, str]) -> dict[str, int]:
    """The server settings every PostgreSQL connection gets, in milliseconds:
    statement, lock and idle-in-transaction timeouts (never 0, which is none)."""
    return {
        name: round(float(env[key]) * 1000) for name, key in POSTGRES_BOUNDS.items()
    }


def _reject_options(
    url: str, options: dict[str, str], known: dict[str, tuple[str, OptionKind]]
) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"url: unknown option(s) {', '.join(unknown)} in {url!r} "
            f"(allowed: {allowed})"
        )
    for key, value in options.items():
        _check_option(key, value, known[key][1])


def _check_option(key: str, value: str, kind: OptionKind) -> None:
    """InvalidInput naming the option unless its value fits its kind; a timeout of
    0 is refused because PostgreSQL and SQLite read 0 as "wait forever"."""
    whole = _WHOLE.fullmatch(value) is not None
    if kind == "count" and not whole:
        raise InvalidInput(f"url: option {key} must be a whole number, got {value!r}")
    if kind == "whole seconds" and not (whole and int(value) >= 1):
        raise InvalidInput(
            f"url: option {key} must be a whole number of seconds, at least 1, "
            f"got {value!r}"
        )
    if kind == "seconds" and not (
        _DECIMAL.fullmatch(value) and SHORTEST_BOUND <= float(value) <= LONGEST_BOUND
    ):
        raise InvalidInput(
            f"url: option {key} must be a number of seconds from {SHORTEST_BOUND} "
            f"to {LONGEST_BOUND:,.0f}, got {value!r}"
        )
