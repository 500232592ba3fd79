"""Database URLs: the settings one names, and the checks every URL's options pass.

sessiontrail never reads or writes `os.environ` to configure eventsourcing: every
setting is passed as an explicit mapping, so two trails in one process never leak
into each other. What each kind of URL means is its backend's business
(`backends/`); this module holds what they share.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..domain.errors import InvalidInput

DEFAULT_URL = "sqlite:///sessiontrail.db"
URL_VARIABLE = "SESSIONTRAIL_URL"

BackendName = Literal["memory", "sqlite", "postgresql"]
OptionKind = Literal["text", "count", "whole seconds", "seconds", "on or off"]
Options = dict[str, tuple[str, OptionKind]]
"""A URL's options: each query parameter, the env key it sets and its kind."""

_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
SHORTEST_BOUND = 0.001  # PostgreSQL counts these in milliseconds; 0 means "none"
LONGEST_BOUND = 86_400.0  # a day: anything longer is no bound in practice


@dataclass(frozen=True)
class Settings:
    """Where the log lives and how eventsourcing reaches it; `url` is for display
    (a password in it reads ***: it goes to logs and error messages)."""

    url: str
    backend: BackendName
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


def query_options(url: str) -> dict[str, str]:
    """The URL's query parameters (the last value of each)."""
    parts = urlsplit(url)
    return {key: values[-1] for key, values in parse_qs(parts.query).items()}


def checked_options(url: str, known: Options) -> dict[str, str]:
    """The env settings the URL's options give; InvalidInput naming an unknown
    option or a value that does not fit its kind (`url` as shown in messages)."""
    options = query_options(url)
    unknown = sorted(set(options) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"url: unknown option(s) {', '.join(unknown)} in {redacted(url)!r} "
            f"(allowed: {allowed})"
        )
    for key, value in options.items():
        _check_option(key, value, known[key][1])
    return {known[key][0]: value for key, value in options.items()}


def _check_option(key: str, value: str, kind: OptionKind) -> None:
    """InvalidInput naming the option unless its value fits its kind; a timeout of
    0 is refused because PostgreSQL and SQLite read 0 as "wait forever"."""
    whole = _WHOLE.fullmatch(value) is not None
    if kind == "on or off" and value not in ("on", "off"):
        raise InvalidInput(f"url: option {key} must be on or off, got {value!r}")
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
